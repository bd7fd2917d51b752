"""Read-side helpers of invoices: the invoices section of company and deal pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .models import OPEN_STATUSES, Invoice

SECTION_SIZE = 10


def invoices_for(user: Any, *, company_id: int | None = None, deal_id: int | None = None) -> dict[str, Any]:
    """The visible invoices of a company or deal (newest first, one page), with the outstanding total per
    currency of the open ones; two queries."""
    qs = Invoice.objects.visible_to(user)
    qs = qs.filter(company_id=company_id) if company_id is not None else qs.filter(deal_id=deal_id)
    rows = list(qs.order_by("-issue_date", "-id")[: SECTION_SIZE + 1])
    outstanding: dict[str, Decimal] = {}
    for invoice in qs.filter(status__in=OPEN_STATUSES).only("amount", "amount_paid", "currency"):
        outstanding[invoice.currency] = outstanding.get(invoice.currency, Decimal("0")) + invoice.outstanding
    return {
        "invoices": rows[:SECTION_SIZE],
        "more": len(rows) > SECTION_SIZE,
        "outstanding": sorted(outstanding.items()),
    }
