"""Background jobs of the list pages: a bulk action over every record matching a list."""

from __future__ import annotations

from typing import Any

from rapport.core import bulkedit
from rapport.jobs import job

MAX_ATTEMPTS = 3


@job(max_attempts=MAX_ATTEMPTS, takes_context=True)
def run_bulk_change(context: Any, change_id: int) -> int:
    """Work through a BulkChange (core.bulkedit.run_bulk_change: batches that commit with their
    progress, permission and visibility checked again); returns how many records changed."""
    final = context.task_result.attempts >= MAX_ATTEMPTS
    return bulkedit.run_bulk_change(change_id, final_attempt=final).changed
