"""Jobs of invoices: the daily overdue marking, the task for the account owner when an invoice becomes
overdue, and invoices following their company's owner (both event consumers, idempotent by event id).

Automation (workflow rules) was not on main when this was written, so "overdue invoice → task for the
account owner" is this consumer rather than a shipped rule."""

from __future__ import annotations

from datetime import timedelta

from rapport.core.models import Event
from rapport.jobs import job, once, periodic
from rapport.jobs.events import register_consumer

from . import services
from .models import Invoice


@job(max_attempts=3, backoff=60)
def mark_overdue_invoices() -> int:
    """Mark open invoices past their due date overdue (daily)."""
    return len(services.mark_overdue())


@register_consumer
def overdue_invoice_task(event: Event) -> None:
    """An invoice that became overdue (by the daily job, the API or the invoicing tool): a task for the
    company's owner, once per event."""
    if not services.became_overdue(event):
        return
    invoice = Invoice.objects.live().select_related("company__owner", "owner").filter(pk=event.record_id).first()
    if invoice is None or invoice.status != "overdue":
        return
    with once(f"invoice-overdue-task:{event.pk}") as first:
        if first:
            services.create_overdue_task(invoice)


@register_consumer
def invoices_follow_company(event: Event) -> None:
    services.follow_company_owner(event)


# 06:00 UTC: before the working day in Europe, the night before in the Americas.
periodic("mark_overdue_invoices", mark_overdue_invoices, every=timedelta(days=1), offset=timedelta(hours=6))
