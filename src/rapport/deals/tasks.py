"""Background jobs of deals: the nightly reconcile of the board's kept column figures (quote expiry is in
quotes/tasks.py). Jobs and periodic schedules of deals go here, registered when the app is ready."""

from __future__ import annotations

import datetime as dt
import logging

from rapport.jobs import job, periodic

from . import totals

log = logging.getLogger(__name__)


@job(max_attempts=3)
def reconcile_stage_totals() -> int:
    """Compare the board's kept figures (deals/totals.py) with the deals and rebuild them if they drifted
    (a write that bypassed the services, a restore of an old backup); returns the rows that differed."""
    drift = totals.differences()
    if drift:
        log.warning("board totals drifted on %d rows; rebuilt", len(drift))
        totals.rebuild()
    return len(drift)


periodic("reconcile_stage_totals", reconcile_stage_totals, every=dt.timedelta(days=1), offset=dt.timedelta(hours=3))
