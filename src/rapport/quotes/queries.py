"""Read-side helpers of quotes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from rapport.core import formatting
from rapport.core.money import quantum
from rapport.deals.models import Deal

from .models import Product, Quote


def _price_note(unit_price: Any, currency: str) -> str:
    if unit_price is not None:
        return formatting.money(unit_price, currency)
    return f"no {currency} price" if currency else ""


def _in_units(value: Decimal, currency: str) -> str:
    """A stored price with the currency's own decimals when it fits them (1234 for JPY, 9000.00 for EUR)."""
    fitted = value.quantize(quantum(currency))
    return str(fitted if fitted == value else value)


def product_picker_data(user: Any, ids: list[int], params: Any) -> dict[int, dict[str, str]]:
    """For the line editor's product picker: each active product's name, price in ``?currency=``
    (empty when it has none) and tax rate, which the editor copies into the line."""
    currency = str(params.get("currency", "")).upper()[:3]
    out: dict[int, dict[str, str]] = {}
    for p in Product.objects.filter(pk__in=ids, active=True).prefetch_related("prices"):
        unit_price = p.price_in(currency) if currency else None
        out[p.pk] = {
            "name": p.name,
            "price": "" if unit_price is None else _in_units(unit_price, currency),
            "tax": "" if p.tax_rate is None else str(p.tax_rate),
            "note": _price_note(unit_price, currency),
        }
    return out


def visible_quotes(user: Any) -> QuerySet[Quote]:
    """Quotes whose deal ``user`` may see: the deal's visibility is the quote's."""
    return Quote.objects.filter(deal__in=Deal.objects.visible_to(user).values("pk"))


def search_documents(deal_ids: list[int]) -> list[tuple[int, int, str, str, str]]:
    """The search documents of the deals' quotes (registry.AttachedSearch of deals): the number as
    title, the customer as body, and the number as typed in other ways (Q20260012, 20260012)."""
    rows = Quote.objects.filter(deal_id__in=deal_ids).values_list("deal_id", "id", "number", "customer_name")
    out = []
    for deal_id, pk, number, customer in rows:
        compact = number.replace("-", "")
        digits = "".join(c for c in number if c in "0123456789")
        out.append((deal_id, pk, number, customer, f"{number} {compact} {digits}"))
    return out
