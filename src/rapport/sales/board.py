"""The deals board: per-stage counts and totals in the base currency, aggregated in SQL over the
deals the user may see, and keyset pages of cards per stage column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Case, Count, DateField, DecimalField, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from rapport.core import registry
from rapport.core.listing import QueryError, build_filter, decode_cursor, encode_cursor, keyset_condition

from .models import Deal, ExchangeRate, Pipeline, Stage, money
from .money import Rates

CARDS_PER_COLUMN = 50
# Currencies with at most this many dated rates are summed per rate era (a CASE over the rate
# days); a currency with a longer rate table is summed per expected close date instead.
MAX_ERAS = 40
# The query parameters the board understands besides the deal list's filters.
BOARD_PARAMS = ("pipeline", "cursor", "stage")
CARD_FIELDS = (
    "id",
    "version",
    "title",
    "stage_id",
    "status",
    "amount",
    "currency",
    "probability",
    "expected_close_date",
    "stage_entered_at",
    "company_id",
    "company__name",
    "owner_id",
    "team_id",
    "owner__first_name",
    "owner__last_name",
    "owner__username",
)


@dataclass
class Totals:
    count: int = 0
    total: Decimal = Decimal("0")
    weighted: Decimal = Decimal("0")
    without_rate: int = 0

    @property
    def total_text(self) -> str:
        return format_amount(self.total)

    @property
    def weighted_text(self) -> str:
        return format_amount(self.weighted)


def format_amount(value: Decimal | None) -> str:
    """``12,345.60``; empty for no amount."""
    return "" if value is None else f"{value:,.2f}"


@dataclass
class Card:
    id: int
    version: int
    title: str
    stage_id: int
    status: str
    amount: Decimal | None
    currency: str
    expected_close_date: dt.date | None
    company_id: int | None
    company_name: str
    owner_name: str
    owner_initials: str
    rotting: bool
    days_in_stage: int
    owner_id: int | None = None
    team_id: int | None = None
    can_change: bool = False

    @property
    def amount_text(self) -> str:
        return format_amount(self.amount)


@dataclass
class Column:
    stage: Stage
    totals: Totals
    cards: list[Card] = field(default_factory=list)
    next_cursor: str | None = None

    @property
    def collapsed(self) -> bool:
        return self.stage.kind != "open"


def pipelines() -> list[Pipeline]:
    return list(Pipeline.objects.filter(archived=False).order_by("position", "id"))


def board_stages(pipeline: Pipeline) -> list[Stage]:
    """Non-archived stages: open ones in their order, then won, then lost."""
    order = {"open": 0, "won": 1, "lost": 2}
    stages = list(pipeline.stages.filter(archived=False).order_by("position", "id"))
    return sorted(stages, key=lambda s: (order.get(s.kind, 3), s.position, s.id))


def deal_filter(params: Mapping[str, Any], user: Any) -> Q:
    """The deal list's filters (owner, team, tag, close_date__after/before, …) from the query
    string; unknown parameters raise QueryError naming them."""
    return build_filter(registry.get("deals"), params, user, extra=BOARD_PARAMS)


def visible_deals(user: Any, pipeline: Pipeline, q: Q) -> QuerySet[Deal]:
    return Deal.objects.visible_to(user).filter(q, pipeline_id=pipeline.pk)


# --- totals -----------------------------------------------------------------------------------
def _rate_days() -> dict[str, list[dt.date]]:
    days: dict[str, list[dt.date]] = {}
    for currency, valid_from in ExchangeRate.objects.order_by("currency", "valid_from").values_list(
        "currency", "valid_from"
    ):
        days.setdefault(currency, []).append(valid_from)
    return days


def _era_expression(rate_days: dict[str, list[dt.date]], today: dt.date) -> Case | Value:
    """An integer per deal: which of its currency's rates is in force on its expected close date
    (today when it has none). Era 0 is "before the first rate"; era k uses the k-th rate."""
    whens: list[When] = []
    for currency, days in rate_days.items():
        if len(days) > MAX_ERAS:
            continue
        today_era = sum(1 for d in days if d <= today)
        whens.append(When(currency=currency, expected_close_date__isnull=True, then=Value(today_era)))
        for era, day in enumerate(days):
            whens.append(When(currency=currency, expected_close_date__lt=day, then=Value(era)))
        whens.append(When(currency=currency, then=Value(len(days))))
    if not whens:
        return Value(0, output_field=IntegerField())
    return Case(*whens, default=Value(0), output_field=IntegerField())


def column_totals(qs: QuerySet[Deal], stages: Iterable[Stage], rates: Rates | None = None) -> dict[int, Totals]:
    """Count, total and weighted total per stage in the base currency, from one aggregate query
    grouped by (stage, currency, rate era) — or by close date for currencies with long rate
    tables — so the rate in force on each deal's close date applies without reading each deal."""
    rates = rates or Rates()
    today = timezone.localdate()
    rate_days = _rate_days()
    long_tables = [c for c, days in rate_days.items() if len(days) > MAX_ERAS]
    day_expr = (
        Case(
            When(currency__in=long_tables, then=F("expected_close_date")), default=Value(None), output_field=DateField()
        )
        if long_tables
        else Value(None, output_field=DateField())
    )
    money_field = DecimalField(max_digits=30, decimal_places=4)
    rows = (
        qs.filter(stage__in=[s.pk for s in stages])
        .annotate(era=_era_expression(rate_days, today), day=day_expr)
        .values("stage_id", "currency", "era", "day")
        .annotate(
            n=Count("id"),
            total=Coalesce(Sum("amount"), Value(Decimal("0")), output_field=money_field),
            weighted=Coalesce(
                Sum(F("amount") * F("probability"), output_field=money_field),
                Value(Decimal("0")),
                output_field=money_field,
            ),
            priced=Count("amount"),
        )
        .order_by()
    )
    out: dict[int, Totals] = {s.pk: Totals() for s in stages}
    raw_total: dict[int, Decimal] = {s.pk: Decimal("0") for s in stages}
    raw_weighted: dict[int, Decimal] = {s.pk: Decimal("0") for s in stages}
    for row in rows:
        totals = out[row["stage_id"]]
        totals.count += row["n"]
        currency = row["currency"]
        if currency == rates.base:
            rate: Decimal | None = Decimal(1)
        elif currency in long_tables:
            rate = rates.rate(currency, row["day"] or today)
        else:
            days = rate_days.get(currency, [])
            era = int(row["era"] or 0)
            rate = rates.rate(currency, days[era - 1]) if era >= 1 and days else None
        if rate is None:
            totals.without_rate += row["priced"]
            continue
        raw_total[row["stage_id"]] += Decimal(row["total"]) * rate
        raw_weighted[row["stage_id"]] += Decimal(row["weighted"]) * rate / Decimal(100)
    for pk, totals in out.items():
        totals.total = money(raw_total[pk])
        totals.weighted = money(raw_weighted[pk])
    return out


# --- cards ------------------------------------------------------------------------------------
def _initials(first: str, last: str, username: str) -> str:
    parts = [p for p in (first, last) if p]
    return "".join(p[0] for p in parts).upper() or (username or "")[:2].upper()


def to_card(row: dict[str, Any], stage: Stage, now: dt.datetime | None = None) -> Card:
    now = now or timezone.now()
    days = max(0, (now - row["stage_entered_at"]).days)
    owner = f"{row['owner__first_name'] or ''} {row['owner__last_name'] or ''}".strip() or (
        row["owner__username"] or ""
    )
    return Card(
        id=row["id"],
        version=row["version"],
        title=row["title"],
        stage_id=row["stage_id"],
        status=row["status"],
        amount=row["amount"],
        currency=row["currency"],
        expected_close_date=row["expected_close_date"],
        company_id=row["company_id"],
        company_name=row["company__name"] or "",
        owner_name=owner if row["owner_id"] else "",
        owner_initials=(
            _initials(row["owner__first_name"], row["owner__last_name"], row["owner__username"])
            if row["owner_id"]
            else ""
        ),
        rotting=bool(stage.kind == "open" and stage.rotting_days and days >= stage.rotting_days),
        days_in_stage=days,
        owner_id=row["owner_id"],
        team_id=row["team_id"],
    )


def column_cards(
    qs: QuerySet[Deal], stage: Stage, cursor: str | None = None, size: int | None = None
) -> tuple[list[Card], str | None]:
    """One keyset page of a column's cards: in open stages the oldest in the stage first (what
    rots is on top), in won and lost stages the latest first."""
    size = size or CARDS_PER_COLUMN
    descending = stage.kind != "open"  # won and lost columns show the latest first
    page = qs.filter(stage_id=stage.pk)
    if cursor:
        value, pk, _ = decode_cursor(cursor)
        where, params = keyset_condition(Deal, "stage_entered_at", descending, value, pk, connections[qs.db])
        page = page.extra(where=[where], params=params)
    prefix = "-" if descending else ""
    rows = list(page.order_by(f"{prefix}stage_entered_at", f"{prefix}id").values(*CARD_FIELDS)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    now = timezone.now()
    cards = [to_card(r, stage, now) for r in rows]
    next_cursor = encode_cursor(rows[-1]["stage_entered_at"], rows[-1]["id"]) if more and rows else None
    return cards, next_cursor


def card_for(deal_id: int, user: Any) -> tuple[Card, Stage] | None:
    row = Deal.objects.visible_to(user).filter(pk=deal_id).values(*CARD_FIELDS).first()
    if row is None:
        return None
    stage = Stage.objects.select_related("pipeline").get(pk=row["stage_id"])
    return to_card(row, stage), stage


def build_board(user: Any, pipeline: Pipeline, q: Q, *, size: int | None = None) -> list[Column]:
    stages = board_stages(pipeline)
    qs = visible_deals(user, pipeline, q)
    totals = column_totals(qs, stages)
    columns = []
    for stage in stages:
        cards, next_cursor = column_cards(qs, stage, size=size)
        columns.append(Column(stage=stage, totals=totals[stage.pk], cards=cards, next_cursor=next_cursor))
    return columns


__all__ = [
    "CARDS_PER_COLUMN",
    "Card",
    "Column",
    "QueryError",
    "Totals",
    "board_stages",
    "build_board",
    "card_for",
    "column_cards",
    "column_totals",
    "deal_filter",
    "format_amount",
    "pipelines",
    "visible_deals",
]
