"""Job-system settings, read from Django settings (filled from RAPPORT_* variables in settings/base.py)."""

from __future__ import annotations

from django.conf import settings


def heartbeat_seconds() -> float:
    return float(getattr(settings, "RAPPORT_JOBS_HEARTBEAT", 5))


def stale_after_seconds() -> float:
    """A database-queue worker silent this long is taken for dead and its running job is queued again."""
    return float(getattr(settings, "RAPPORT_JOBS_STALE_AFTER", 60))


def uses_rq(alias: str = "default") -> bool:
    from django_tasks import task_backends

    return task_backends[alias].__class__.__module__.startswith("rapport.jobs.backends")
