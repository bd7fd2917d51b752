"""Mail jobs: every minute the scheduler enqueues one sync job per mailbox that is due."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rapport.jobs.base import job
from rapport.jobs.scheduler import periodic


@job(max_attempts=3, backoff=30)
def sync_mailbox_job(mailbox_id: int) -> dict[str, Any]:
    """Sync one mailbox (a no-op when another worker holds its lease or it was deleted)."""
    from .models import Mailbox
    from .sync import sync_mailbox

    mailbox = Mailbox.objects.filter(pk=mailbox_id, active=True).first()
    if mailbox is None:
        return {"status": "gone"}
    result = sync_mailbox(mailbox)
    return {"status": result.status, "stored": result.stored, "error": result.error}


@job(max_attempts=1)
def sync_due_mailboxes() -> int:
    """Enqueue a sync of every mailbox whose next run has come (or that asked for a re-sync)."""
    from .sync import due_mailboxes

    due = due_mailboxes()
    for mailbox_id in due:
        sync_mailbox_job.enqueue(mailbox_id)
    return len(due)


periodic("sync_mailboxes", sync_due_mailboxes, every=dt.timedelta(minutes=1))
