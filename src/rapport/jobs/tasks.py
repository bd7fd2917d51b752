"""Rapport's built-in jobs and their schedule."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .base import job
from .scheduler import periodic, prune_runs


@job(max_attempts=5)
def dispatch_events(older_than_seconds: float = 0) -> int:
    """Deliver undispatched events to their consumers (see rapport.jobs.events), at most ``DISPATCH_LIMIT``
    per job: when it took that many, more may be waiting (a burst, an import), so it queues the next dispatch
    before it ends rather than leaving them to the sweep a minute later; other jobs get a turn in between."""
    from . import events

    done = events.dispatch_pending(older_than_seconds=older_than_seconds, limit=events.DISPATCH_LIMIT)
    if done >= events.DISPATCH_LIMIT:
        dispatch_events.enqueue(older_than_seconds)
    return done


@job(max_attempts=3)
def sweep_events() -> int:
    """Redeliver events that the on-commit dispatch missed."""
    from .events import dispatch_pending

    return dispatch_pending(older_than_seconds=getattr(settings, "RAPPORT_EVENT_SWEEP_GRACE", 60))


@job(max_attempts=3)
def prune_jobs() -> dict[str, int]:
    """Retention: finished jobs of the database queue and finished bulk changes after RAPPORT_JOBS_KEEP_DAYS
    days, old scheduler slots, settings audit entries after RAPPORT_AUDIT_KEEP_DAYS."""
    from django_tasks_db.models import DBTaskResult

    keep = timedelta(days=getattr(settings, "RAPPORT_JOBS_KEEP_DAYS", 14))
    cutoff = timezone.now() - keep
    jobs = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()[0]
    return {
        "jobs": jobs,
        "periodic_runs": prune_runs(),
        "audit_entries": prune_audit(),
        "bulk_changes": prune_bulk_changes(cutoff),
        "logins": prune_logins(),
    }


def prune_bulk_changes(cutoff: datetime) -> int:
    """Finished "select all N matching" changes (their progress pages) finished before ``cutoff``; the
    records' own history keeps what they changed. Waiting and running ones are kept."""
    from rapport.core.models import BulkChange

    finished = BulkChange.objects.filter(status__in=[BulkChange.DONE, BulkChange.FAILED], finished_at__lt=cutoff)
    return finished.delete()[0]


def prune_audit() -> int:
    """Retention of the settings audit trail: entries older than RAPPORT_AUDIT_KEEP_DAYS (0 keeps all).
    Records' own history (events) is kept for as long as the record."""
    from rapport.core.models import AuditEntry

    days = settings.RAPPORT_AUDIT_KEEP_DAYS
    if days <= 0:
        return 0
    return AuditEntry.objects.filter(occurred_at__lt=timezone.now() - timedelta(days=days)).delete()[0]


def prune_logins() -> int:
    """Retention of the sign-in log (the adoption report's logins): rows older than
    RAPPORT_LOGIN_KEEP_DAYS (0 keeps all)."""
    from rapport.accounts.models import LoginRecord

    days = settings.RAPPORT_LOGIN_KEEP_DAYS
    if days <= 0:
        return 0
    return LoginRecord.objects.filter(at__lt=timezone.now() - timedelta(days=days)).delete()[0]


@job(max_attempts=3)
def backup_installation() -> str:
    """The scheduled backup: one archive in RAPPORT_BACKUP_DIR, keeping the RAPPORT_BACKUP_KEEP newest."""
    from rapport.core import backup

    keep = settings.RAPPORT_BACKUP_KEEP
    if keep <= 0:
        return "off"
    path = backup.make_backup(settings.RAPPORT_BACKUP_DIR)
    backup.prune_backups(settings.RAPPORT_BACKUP_DIR, keep)
    return path.name


periodic("sweep_events", sweep_events, every=timedelta(minutes=1))
periodic("prune_jobs", prune_jobs, every=timedelta(days=1), offset=timedelta(hours=3))
periodic("backup_installation", backup_installation, every=timedelta(days=1), offset=timedelta(hours=2, minutes=30))
