"""Readiness checks of the job system (``/readyz``, rapport.core.health): the queue answers, a worker is alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from . import conf


def queue() -> dict[str, Any]:
    """The queue can be read: the database queue's table, or Redis."""
    if conf.uses_rq():
        import django_rq

        django_rq.get_connection("default").ping()
        return {"backend": "redis"}
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(status="READY").only("id").first()
    return {"backend": "database"}


def workers() -> dict[str, Any]:
    """At least one worker's heartbeat is younger than RAPPORT_JOBS_STALE_AFTER."""
    stale_after = conf.stale_after_seconds()
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    latest: datetime | None
    if conf.uses_rq():
        import django_rq
        from rq import Worker

        beats = [w.last_heartbeat for w in Worker.all(connection=django_rq.get_connection("default"))]
        beats = [b if b is None or b.tzinfo else b.replace(tzinfo=UTC) for b in beats]
        latest = max((b for b in beats if b is not None), default=None)
        alive = sum(1 for b in beats if b is not None and b >= cutoff)
    else:
        from .models import WorkerHeartbeat

        found = WorkerHeartbeat.objects.aggregate(
            latest=Max("beat_at"), alive=Count("pk", filter=Q(beat_at__gte=cutoff))
        )
        latest, alive = found["latest"], found["alive"]
    if latest is None:
        return {"ok": False, "alive": 0, "error": "no worker is running: start `rapport worker`"}
    age = round((now - latest).total_seconds(), 1)
    if not alive:
        return {
            "ok": False,
            "alive": 0,
            "last_heartbeat_seconds_ago": age,
            "error": f"no worker heartbeat in the last {stale_after:g} s: is `rapport worker` running?",
        }
    return {"ok": True, "alive": alive, "last_heartbeat_seconds_ago": age}
