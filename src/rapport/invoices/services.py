"""The writes of invoices beyond core's write path: the amount paid following the payments, overdue marking
with its task for the account owner, and invoices following their company's owner."""

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
    ``invoice overdue`` task follows from the event (``tasks.overdue_invoice_task``)."""
    day = on or today()
    marked: list[Invoice] = []
    for invoice in list(due_for_overdue(day)[:limit]):
        with transaction.atomic():
            updated = cast(Invoice, services.update_record(invoice, {"status": OVERDUE}, actor=None, source="system"))
        if updated.status == OVERDUE:
            marked.append(updated)
    return marked


def became_overdue(event: Event) -> bool:
    changes = event.changes or {}
    status = changes.get("status")
    return (
        event.type_key == "invoices"
        and event.kind in ("created", "updated")
        and isinstance(status, list)
        and len(status) == 2
        and status[1] == OVERDUE
    )


def create_overdue_task(invoice: Invoice) -> Any | None:
    """A task for the account owner (the company's owner) to chase ``invoice``, linked to the invoice and
    its company; None when the company has no owner. Written with the activities' serializer and
    ``create_record`` (source ``system``)."""
    from rapport.activities.models import Activity
    from rapport.activities.serializers import ActivityWriteSerializer
    from rapport.core.visibility import SYSTEM

    company = invoice.company
    owner = company.owner if company is not None else invoice.owner
    if owner is None or not owner.is_active:
        return None
    outstanding = invoice.outstanding
    links = [{"type": "invoices", "id": invoice.pk}]
    if company is not None:
        links.append({"type": "companies", "id": company.pk})
    data = {
        "kind": "task",
        "subject": f"Chase overdue invoice {invoice.number}"[:200],
        "body": (
            f"Invoice {invoice.number}{f' for {company.name}' if company else ''} was due on "
            f"{invoice.due_date:%Y-%m-%d}; "
            f"{outstanding} {invoice.currency} is outstanding."
        ),
        "due_at": dt.datetime.combine(today(), dt.time(9), tzinfo=dt.UTC).isoformat(),
        "assignee": owner.pk,
        "owner": owner.pk,
        "priority": "high",
        "links": links,
    }
    serializer = ActivityWriteSerializer(data=data, context={"actor": SYSTEM})
    serializer.is_valid(raise_exception=True)
    return services.create_record(Activity, serializer.validated_data, actor=None, source="system")


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
