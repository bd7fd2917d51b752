"""Background jobs of sales: quotes past their valid-until date expire once a day."""

from __future__ import annotations

import datetime as dt

from rapport.jobs import job, periodic

from . import services as quotes


@job(max_attempts=5)
def expire_quotes() -> int:
    """Expire draft and sent quotes past their valid-until date (idempotent, see quotes.expire_quotes)."""
    return quotes.expire_quotes()


# Hourly rather than daily: a quote expires on the first run after its date ends in the
# installation's time zone, and a scheduler that was down at one slot catches up at the next.
periodic("expire_quotes", expire_quotes, every=dt.timedelta(hours=1))
