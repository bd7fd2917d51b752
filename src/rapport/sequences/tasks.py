"""The periodic job that runs due sequence steps (every minute; any number of workers at once)."""

from __future__ import annotations

import datetime as dt

from rapport.jobs import job, periodic

from . import services


@job(max_attempts=5)
def advance_sequences() -> dict[str, int]:
    """Run every due step: each enrolment is claimed with SELECT … FOR UPDATE SKIP LOCKED and its step is one
    transaction, so a retried or parallel run neither repeats nor skips a step (services.run_due_steps)."""
    return services.run_due_steps()


periodic("advance_sequences", advance_sequences, every=dt.timedelta(minutes=1))
