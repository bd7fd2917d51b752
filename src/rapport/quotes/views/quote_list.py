"""The Quotes list page: every quote the user may see (a quote is visible exactly when its deal is),
filtered by status, deal, the deal's owner, who created it, currency, creation date and expiry,
sorted and read in keyset pages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from rapport.core import listing
from rapport.core.inputs import is_id
from rapport.deals.models import Deal
from rapport.web.common import page, query_string, record_type, signed_in
from rapport.web.forms import user_choices

from .. import queries
from ..models import QUOTE_STATUSES, Quote

PAGE_SIZE = 50
SORTS = {
    # param: (label, model path, descending)
    "-created": ("Newest first", "created_at", True),
    "created": ("Oldest first", "created_at", False),
    "-total": ("Highest total", "total", True),
    "total": ("Lowest total", "total", False),
    "number": ("Number", "number", False),
}
EXPIRING = {
    "7": "Expiring within 7 days",
    "30": "Expiring within 30 days",
    "past": "Past validity, still open",
}
OPEN = ("draft", "sent")  # not yet accepted or declined
CURRENCY = re.compile(r"^[A-Za-z]{3}$")
FILTER_KEYS = ("q", "status", "deal", "owner", "created_by", "currency", "created_after", "created_before", "expiring")


@dataclass
class Filters:
    q: Q
    params: dict[str, str]
    deal: Deal | None


def _date(params: Any, key: str) -> dt.date | None:
    raw = params.get(key, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise listing.QueryError(key, f"{raw!r} is not a date (use YYYY-MM-DD).")


def _user_id(params: Any, key: str) -> int | None:
    raw = params.get(key, "").strip()
    if not raw:
        return None
    if not is_id(raw):
        raise listing.QueryError(key, "choose one of the listed users.")
    return int(raw)


def parse_filters(params: Any, user: Any) -> Filters:
    """The list's filters as one Q over quotes; a bad value raises listing.QueryError naming the field."""
    for key in FILTER_KEYS:
        if len(params.get(key, "")) > 200:
            raise listing.QueryError(key, "at most 200 characters.")
    q = Q()
    clean: dict[str, str] = {}
    text = params.get("q", "").strip()
    if text:
        q &= Q(number__icontains=text) | Q(deal__title__icontains=text) | Q(customer_name__icontains=text)
        clean["q"] = text
    status = params.get("status", "").strip()
    if status:
        if status not in dict(QUOTE_STATUSES):
            raise listing.QueryError("status", f"one of {', '.join(k for k, _ in QUOTE_STATUSES)}.")
        q &= Q(status=status)
        clean["status"] = status
    deal = None
    raw_deal = params.get("deal", "").strip()
    if raw_deal:
        # A deal the user may not see is answered like one that does not exist.
        deal = Deal.objects.visible_to(user).filter(pk=int(raw_deal)).first() if is_id(raw_deal) else None
        if deal is None:
            raise listing.QueryError("deal", "there is no such deal.")
        q &= Q(deal_id=deal.pk)
        clean["deal"] = str(deal.pk)
    for key, path in (("owner", "deal__owner_id"), ("created_by", "created_by_id")):
        uid = _user_id(params, key)
        if uid is not None:
            q &= Q(**{path: uid})
            clean[key] = str(uid)
    currency = params.get("currency", "").strip()
    if currency:
        if not CURRENCY.match(currency):
            raise listing.QueryError("currency", "a three-letter ISO 4217 code, such as EUR.")
        q &= Q(currency=currency.upper())
        clean["currency"] = currency.upper()
    after, before = _date(params, "created_after"), _date(params, "created_before")
    if after and before and after > before:
        raise listing.QueryError("created_before", "must not be before the “from” date.")
    if after:
        q &= Q(created_at__date__gte=after)
        clean["created_after"] = after.isoformat()
    if before:
        q &= Q(created_at__date__lte=before)
        clean["created_before"] = before.isoformat()
    expiring = params.get("expiring", "").strip()
    if expiring:
        if expiring not in EXPIRING:
            raise listing.QueryError("expiring", f"one of {', '.join(EXPIRING)}.")
        today = timezone.localdate()
        if expiring == "past":
            q &= Q(status__in=OPEN, valid_until__lt=today)
        else:
            q &= Q(status__in=OPEN, valid_until__gte=today, valid_until__lte=today + dt.timedelta(days=int(expiring)))
        clean["expiring"] = expiring
    return Filters(q=q, params=clean, deal=deal)


def _rows(quotes: list[Quote]) -> list[dict[str, Any]]:
    today = timezone.localdate()
    rows = []
    for quote in quotes:
        days = (quote.valid_until - today).days if quote.valid_until else None
        hint = ""
        if days is not None and quote.status in OPEN:
            hint = "expired" if days < 0 else ("expires today" if days == 0 else f"{days} days left")
        rows.append({"quote": quote, "validity_hint": hint, "expired": days is not None and days < 0})
    return rows


def _page(qs: QuerySet[Quote], sort: str, cursor: str | None) -> tuple[list[Quote], str | None, str | None]:
    _, path, descending = SORTS[sort]
    result = listing.paginate(
        qs, listing.Ordering(key=path, path=path, descending=descending), cursor, PAGE_SIZE, fields=["id", path]
    )
    ids = [row["id"] for row in result.rows]
    by_id = (
        Quote.objects.filter(pk__in=ids).select_related("deal", "deal__owner", "created_by").in_bulk() if ids else {}
    )
    return [by_id[pk] for pk in ids], result.next_cursor, result.previous_cursor


@page
def quote_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    record_type("deals", user)  # quotes are seen through their deals
    params = request.GET
    errors: dict[str, str] = {}
    sort = params.get("sort", "") or "-created"
    if sort not in SORTS:
        errors["sort"] = f"one of {', '.join(SORTS)}."
        sort = "-created"
    try:
        filters = parse_filters(params, user)
    except listing.QueryError as exc:
        errors[exc.param] = exc.message
        filters = Filters(q=Q(pk__in=[]), params={}, deal=None)
    quotes: list[Quote] = []
    next_cursor = previous_cursor = None
    if not errors:
        qs = queries.visible_quotes(user).filter(filters.q)
        try:
            quotes, next_cursor, previous_cursor = _page(qs, sort, params.get("cursor") or None)
        except listing.QueryError as exc:
            errors[exc.param] = exc.message
    kept = {**filters.params, **({"sort": sort} if sort != "-created" else {})}
    users = user_choices()
    context = {
        "rows": _rows(quotes),
        "errors": errors,
        "values": {k: params.get(k, "") for k in FILTER_KEYS},
        "filter_deal": filters.deal,
        "active": len(filters.params),
        "statuses": QUOTE_STATUSES,
        "expiring": list(EXPIRING.items()),
        "users": users,
        "sorts": [(k, label) for k, (label, _, _) in SORTS.items()],
        "sort": sort,
        "hidden_sort": kept.get("sort", ""),
        "next_url": query_string(kept, cursor=next_cursor) if next_cursor else "",
        "previous_url": query_string(kept, cursor=previous_cursor) if previous_cursor else "",
        "first_page": not params.get("cursor"),
    }
    return render(request, "quotes/quotes.html", context, status=400 if errors else 200)
