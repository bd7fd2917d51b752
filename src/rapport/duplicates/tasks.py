"""Background jobs and periodic schedules of duplicates: the scan (queued by "Scan now") and the
nightly incremental scan."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from rapport.core import visibility
from rapport.jobs import job, periodic

from . import services

MAX_ATTEMPTS = 3


@job(max_attempts=MAX_ATTEMPTS, takes_context=True)
def run_duplicate_scan(context: Any, scan_id: int) -> int:
    """Work a queued DuplicateScan (services.run_scan); returns how many likely pairs it found."""
    final = context.task_result.attempts >= MAX_ATTEMPTS
    return services.run_scan(scan_id, final_attempt=final).found


@job(max_attempts=1)
def nightly_duplicate_scan() -> int:
    """Every night: compare what changed since the last scan with everything (incremental)."""
    scan, created = services.start_scan(actor=visibility.SYSTEM, full=False)
    if not created:  # one is queued or running already
        return 0
    return services.run_scan(scan.pk).found


def enqueue_scan(scan_id: int) -> None:
    transaction.on_commit(lambda: run_duplicate_scan.enqueue(scan_id))


periodic("duplicate_scan", nightly_duplicate_scan, every=dt.timedelta(days=1), offset=dt.timedelta(hours=1))
