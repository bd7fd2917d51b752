"""Jobs of invoices: the daily overdue marking, and invoices following their company's owner (an event
consumer, idempotent by event id). The task for the account owner when an invoice becomes overdue is the
shipped workflow rule "Overdue invoice: a task for the account owner" (``automation.shipped``)."""

from __future__ import annotations

from datetime import timedelta

from rapport.core.models import Event
from rapport.jobs import job, periodic
from rapport.jobs.events import register_consumer

from . import services


@job(max_attempts=3, backoff=60)
def mark_overdue_invoices() -> int:
    """Mark open invoices past their due date overdue (daily)."""
    return len(services.mark_overdue())


@register_consumer
def invoices_follow_company(event: Event) -> None:
    services.follow_company_owner(event)


# 06:00 UTC: before the working day in Europe, the night before in the Americas.
periodic("mark_overdue_invoices", mark_overdue_invoices, every=timedelta(days=1), offset=timedelta(hours=6))
