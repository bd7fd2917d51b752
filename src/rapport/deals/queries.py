"""Read-side helpers of deals (the board's own reads are in board.py)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .board import format_amount
from .models import Deal, DealContact


def deals_of_person(user: Any, person: Any) -> QuerySet[Deal]:
    """The deals ``user`` may see that have ``person`` among their contacts."""
    return Deal.objects.visible_to(user).filter(
        pk__in=DealContact.objects.filter(person_id=person.pk).values("deal_id")
    )


def deals_of_company(user: Any, company: Any) -> QuerySet[Deal]:
    """The deals ``user`` may see of ``company``."""
    return Deal.objects.visible_to(user).filter(company_id=company.pk)


def section_rows(deals: QuerySet[Deal], limit: int) -> list[dict[str, Any]]:
    """The latest-changed ``limit`` deals as rows for the deals section of a person or company page."""
    rows: list[dict[str, Any]] = list(
        deals.order_by("-updated_at", "-id").values(  # type: ignore[arg-type]
            "id", "title", "status", "amount", "currency", "stage__name", "expected_close_date"
        )[:limit]
    )
    for row in rows:
        row["amount_text"] = format_amount(row["amount"])
    return rows
