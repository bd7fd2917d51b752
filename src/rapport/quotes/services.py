"""Quotes: numbered per year, made from a deal's line items, edited while draft, then sent,
accepted, declined or expired. Every change is atomic and written to the deal's history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError as InvalidInput

from rapport.core import search
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.services import record_event
from rapport.core.visibility import can, sees
from rapport.deals import services as sales
from rapport.deals.models import Deal
from rapport.forecasting.money import money

from .models import Quote, QuoteCounter, QuoteLine, price, price_all
from .serializers import LineItemSerializer, price_line

TRANSITIONS: dict[str, set[str]] = {
    "draft": {"sent", "expired"},
    "sent": {"accepted", "declined", "expired"},
}
DEFAULT_TERMS = "Prices are valid until the date above. Payment within 30 days of invoice."


def quote_etag(quote: Quote) -> str:
    return f'"{quote.pk}-{quote.version}"'


def _check_deal(actor: Any, deal: Deal) -> None:
    if deal.deleted_at is not None:
        raise RecordGone("This deal is in the recycle bin.")
    if actor is not None and not can(actor, deal, "change"):
        raise PermissionDenied("You may not change this deal or its quotes.")


def next_number(year: int) -> str:
    """The next free number of ``year``; call inside a transaction (the counter row stays locked)."""
    QuoteCounter.objects.get_or_create(year=year)
    counter = QuoteCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"Q-{year}-{counter.last:04d}"


def _customer(deal: Deal, actor: Any) -> tuple[str, str]:
    """The quote's customer: the deal's company, else its first contact — of those the actor may
    see (a quote does not copy the name of another team's record)."""
    company = deal.company if deal.company_id else None
    if (
        company is not None
        and company.deleted_at is None
        and sees(actor, "companies", company.owner_id, company.team_id)
    ):
        street_city = " ".join(x for x in (company.postal_code, company.city) if x)
        lines = [company.street, street_city, company.region, company.country]
        return company.name, "\n".join(x for x in lines if x)
    for contact in deal.deal_contacts.select_related("person"):
        if sees(actor, "people", contact.person.owner_id, contact.person.team_id):
            return str(contact.person), ""
    return "", ""


def _line_values(item: dict[str, Any], currency: str) -> dict[str, Any]:
    priced = price(item, currency)
    return {
        "product": item.get("product"),
        "name": item["name"],
        "quantity": Decimal(item["quantity"]),
        "unit_price": money(Decimal(item["unit_price"])),
        "discount_percent": Decimal(item.get("discount_percent") or 0),
        "tax_percent": Decimal(item.get("tax_percent") or 0),
        "net": priced.net,
        "tax": priced.tax,
    }


def _write_lines(quote: Quote, items: list[dict[str, Any]]) -> None:
    quote.lines.all().delete()
    rows = [QuoteLine(quote=quote, position=n, **_line_values(item, quote.currency)) for n, item in enumerate(items)]
    QuoteLine.objects.bulk_create(rows)
    totals = price_all(rows, quote.currency)
    quote.subtotal, quote.tax_total, quote.total = totals.net, totals.tax, totals.total


def create_quote_from_deal(
    deal: Deal, *, actor: Any, valid_days: int = 30, source: str = "ui", today: dt.date | None = None
) -> Quote:
    """A draft quote with the deal's line items, customer and currency, numbered Q-<year>-NNNN."""
    if valid_days < 0 or valid_days > 3650:
        raise ValidationError({"valid_days": "Give a validity between 0 and 3650 days."})
    today = today or timezone.localdate()
    with transaction.atomic():
        deal = Deal.objects.select_for_update().get(pk=deal.pk)
        _check_deal(actor, deal)
        items = [
            {
                "product": i.product,
                "name": i.name,
                "quantity": i.quantity,
                "unit_price": i.unit_price,
                "discount_percent": i.discount_percent,
                "tax_percent": i.tax_percent,
            }
            for i in deal.line_items.select_related("product")
        ]
        if not items:
            raise ValidationError({"line_items": "Add line items to the deal before creating a quote."})
        name, address = _customer(deal, actor)
        quote = Quote.objects.create(
            number=next_number(today.year),
            deal=deal,
            currency=deal.currency,
            valid_until=today + dt.timedelta(days=valid_days),
            customer_name=name,
            customer_address=address,
            terms=DEFAULT_TERMS,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        _write_lines(quote, items)
        quote.save(update_fields=["subtotal", "tax_total", "total"])
        record_event(deal, "quote_created", actor=actor, source=source, changes={"quote": [None, quote.number]})
        search.index_attached([deal])  # found by its number from now on
    return quote


def clean_lines(data: Any, currency: str, *, actor: Any) -> list[dict[str, Any]]:
    """Validate quote lines as the deal's line items are validated: a product gives the name, the
    price in ``currency`` and the tax rate unless the line gives them. Raises DRF's ValidationError
    naming the line and field (``lines[1].quantity``)."""
    serializer = LineItemSerializer(data=data, many=True, context={"actor": actor})
    if not serializer.is_valid():
        raise InvalidInput({"lines": serializer.errors})
    items: list[dict[str, Any]] = [dict(i) for i in serializer.validated_data]
    problems = [price_line(item, currency) for item in items]
    if any(problems):
        raise InvalidInput({"lines": problems})
    return items


def _locked(quote: Quote) -> Quote:
    return Quote.objects.select_for_update().select_related("deal").get(pk=quote.pk)


def update_quote_lines(
    quote: Quote,
    lines: list[dict[str, Any]],
    *,
    actor: Any,
    expected_version: int | None,
    source: str = "ui",
) -> Quote:
    """Replace a draft quote's lines (validated with :func:`clean_lines`) and recompute its totals."""
    with transaction.atomic():
        current = _locked(quote)
        _check_deal(actor, current.deal)
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(quote_etag(current))
        if current.status != "draft":
            raise ValidationError(
                {"status": f"Quote {current.number} is {current.get_status_display().lower()}; only drafts change."}
            )
        if not lines:
            raise ValidationError({"lines": "A quote needs at least one line."})
        before = str(current.total)
        _write_lines(current, lines)
        current.version += 1
        current.save(update_fields=["subtotal", "tax_total", "total", "version"])
        record_event(
            current.deal,
            "quote_updated",
            actor=actor,
            source=source,
            changes={"quote": [None, current.number], "quote_total": [before, str(current.total)]},
        )
    return current


DETAIL_FIELDS = ("valid_until", "terms", "customer_name", "customer_address")


def update_quote_details(
    quote: Quote,
    details: dict[str, Any],
    *,
    actor: Any,
    expected_version: int | None,
    source: str = "ui",
) -> Quote:
    """Change a draft quote's validity, terms or customer block (``details`` holds some of
    DETAIL_FIELDS, already validated); a sent quote is what the customer saw and stays."""
    with transaction.atomic():
        current = _locked(quote)
        _check_deal(actor, current.deal)
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(quote_etag(current))
        if current.status != "draft":
            raise ValidationError(
                {"status": f"Quote {current.number} is {current.get_status_display().lower()}; only drafts change."}
            )
        changed = {}
        for name in DETAIL_FIELDS:
            if name in details and getattr(current, name) != details[name]:
                changed[name] = [str(getattr(current, name) or ""), str(details[name] or "")]
                setattr(current, name, details[name])
        if changed:
            current.version += 1
            current.save(update_fields=[*changed, "version"])
            record_event(
                current.deal,
                "quote_updated",
                actor=actor,
                source=source,
                changes={"quote": [None, current.number], **{f"quote_{k}": v for k, v in changed.items()}},
            )
            if "customer_name" in changed:
                search.index_attached([current.deal])
    return current


def _transition(
    quote: Quote, to: str, *, actor: Any, source: str, expected_version: int | None = None
) -> tuple[Quote, str]:
    current = _locked(quote)
    _check_deal(actor, current.deal)
    if expected_version is not None and current.version != expected_version:
        raise VersionConflict(quote_etag(current))
    was = current.status
    if to not in TRANSITIONS.get(was, set()):
        raise ValidationError({"status": f"A {was} quote cannot become {to}."})
    now = timezone.now()
    current.status = to
    if to == "sent":
        current.sent_at = now
    elif to in ("accepted", "declined"):
        current.decided_at = now
    current.version += 1
    current.save(update_fields=["status", "sent_at", "decided_at", "version"])
    record_event(
        current.deal,
        f"quote_{to}",
        actor=actor,
        source=source,
        changes={"quote": [None, current.number], "quote_status": [was, to]},
    )
    return current, was


def send_quote(quote: Quote, *, actor: Any, source: str = "ui", expected_version: int | None = None) -> Quote:
    with transaction.atomic():
        return _transition(quote, "sent", actor=actor, source=source, expected_version=expected_version)[0]


def decline_quote(quote: Quote, *, actor: Any, source: str = "ui", expected_version: int | None = None) -> Quote:
    with transaction.atomic():
        return _transition(quote, "declined", actor=actor, source=source, expected_version=expected_version)[0]


def accept_quote(
    quote: Quote,
    *,
    actor: Any,
    mark_deal_won: bool,
    source: str = "ui",
    expected_version: int | None = None,
) -> Quote:
    """Accept a sent quote; with ``mark_deal_won`` the deal moves to its pipeline's won stage too."""
    with transaction.atomic():
        current, _ = _transition(quote, "accepted", actor=actor, source=source, expected_version=expected_version)
        if mark_deal_won and current.deal.status != "won":
            current.deal = sales.mark_won(current.deal, actor=actor, source=source)
    return current


def expire_quotes(today: dt.date | None = None) -> int:
    """Expire draft and sent quotes past their valid-until date (run daily by the scheduler);
    returns how many expired. Idempotent: an expired quote is not touched again."""
    today = today or timezone.localdate()
    expired = 0
    with transaction.atomic():
        due = (
            Quote.objects.select_for_update()
            .select_related("deal")
            .filter(status__in=("draft", "sent"), valid_until__lt=today)
            .order_by("id")
        )
        for quote in due:
            was = quote.status
            quote.status = "expired"
            quote.version += 1
            quote.save(update_fields=["status", "version"])
            record_event(
                quote.deal,
                "quote_expired",
                actor=None,
                source="system",
                changes={"quote": [None, quote.number], "quote_status": [was, "expired"]},
            )
            expired += 1
    return expired
