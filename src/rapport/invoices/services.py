"""The writes of invoices beyond core's write path: the amount paid following the payments, overdue marking
(the shipped workflow rule makes the account owner's task from its event), and invoices following their
company's owner."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from django.db import transaction
from django.db.models import Q, Sum

from rapport.core import services
from rapport.core.models import Event

from .models import OPEN_STATUSES, OVERDUE, PARTLY_PAID, SENT, Invoice, Payment, today


def refresh_paid(invoice: Invoice, *, actor: Any, source: str) -> Invoice:
    """Set the invoice's amount paid to the sum of its live payments (its status follows, see
    ``models.status_for``), through the write path: an event, a version bump, a search entry."""
    with transaction.atomic():
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        total = Payment.objects.live().filter(invoice=current).aggregate(s=Sum("amount"))["s"] or Decimal("0")
        if current.deleted_at is not None or total == current.amount_paid:
            return current
        # The payment's writer may record it on an invoice they could not change otherwise (checked).
        updated = services.update_record(current, {"amount_paid": total}, actor=actor, source=source, checked=True)
        return cast(Invoice, updated)


def due_for_overdue(on: dt.date) -> Any:
    """Open invoices past their due date that are not marked overdue yet."""
    return Invoice.objects.live().filter(status__in=(SENT, PARTLY_PAID), due_date__lt=on).order_by("due_date", "id")


def mark_overdue(*, on: dt.date | None = None, limit: int = 1000) -> list[Invoice]:
    """Mark open invoices past their due date overdue (source ``system``), each through the write path; the
    task for the account owner follows from the event (the shipped rule, ``automation.shipped``)."""
    day = on or today()
    marked: list[Invoice] = []
    for invoice in list(due_for_overdue(day)[:limit]):
        with transaction.atomic():
            updated = cast(Invoice, services.update_record(invoice, {"status": OVERDUE}, actor=None, source="system"))
        if updated.status == OVERDUE:
            marked.append(updated)
    return marked


def follow_company_owner(event: Event) -> int:
    """When a company changes owner, its invoices and payments that were the old owner's follow (who sees them
    is who sees the company), each with an event (source ``system``); ones given to someone else stay."""
    change = (event.changes or {}).get("owner")
    if event.type_key != "companies" or event.kind != "updated" or not isinstance(change, list) or len(change) != 2:
        return 0
    from rapport.contacts.models import Company

    company = Company.objects.filter(pk=event.record_id).select_related("owner").first()
    if company is None or company.owner_id != change[1]:
        return 0  # changed again since: the later event moves them
    owner = company.owner
    old = Q(owner_id=change[0]) if change[0] is not None else Q(owner_id__isnull=True)
    values = {"owner": owner, "team": owner.team_id if owner else None}
    changed = services.update_records_in_bulk(
        Invoice, Q(company_id=company.pk) & old, values, actor=None, source="system"
    )
    changed += services.update_records_in_bulk(
        Payment, Q(invoice__company_id=company.pk) & old, values, actor=None, source="system"
    )
    return len(changed)


def is_open(invoice: Invoice) -> bool:
    return invoice.status in OPEN_STATUSES
