"""The deals board: per-stage counts and totals in the base currency, aggregated in SQL over the
deals the user may see, and keyset pages of cards per stage column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from rapport.core import registry
from rapport.core.listing import QueryError, build_filter, decode_cursor, encode_cursor, keyset_condition
from rapport.core.visibility import link_label
from rapport.forecasting.money import RatePeriods, Rates, money

from .models import Deal, Pipeline, Stage

CARDS_PER_COLUMN = 25
# Won and lost columns show the deals closed in this many last days.
CLOSED_WINDOW_DAYS = 30
FIRST_PAGE = "first"  # the "cursor" of a collapsed column's first page, loaded when opened
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
    "company__owner_id",
    "company__team_id",
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
    no_next_activity: bool = False

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
def column_totals(
    qs: QuerySet[Deal], stages: Iterable[Stage], rates: Rates | None = None, *, today: dt.date | None = None
) -> dict[int, Totals]:
    """Count, total and weighted total per stage in the base currency.

    Open stages count their open deals; won and lost stages the deals closed in the last
    CLOSED_WINDOW_DAYS days (a board is about what is moving, and a pipeline's whole history would
    make every page read every deal ever closed). Grouped in SQL by (stage, currency, rate period)
    — the stretch of days between two exchange-rate changes holding the deal's expected close date
    (today when it has none), or its closed date for won and lost — then each group is converted
    in Python with the rate of its period (``RatePeriods``): the rows to convert are a few per stage
    and currency, however many deals or distinct days there are."""
    rates = rates or Rates()
    today = today or timezone.localdate()
    stages = list(stages)
    out: dict[int, Totals] = {s.pk: Totals() for s in stages}
    raw_total: dict[int, Decimal] = {s.pk: Decimal("0") for s in stages}
    raw_weighted: dict[int, Decimal] = {s.pk: Decimal("0") for s in stages}
    money_field = DecimalField(max_digits=30, decimal_places=4)
    aggregates = {
        "n": Count("id"),
        "total": Coalesce(Sum("amount"), Value(Decimal("0")), output_field=money_field),
        "weighted": Coalesce(
            Sum(F("amount") * F("probability"), output_field=money_field), Value(Decimal("0")), output_field=money_field
        ),
        "priced": Count("amount"),
    }
    open_ids = [s.pk for s in stages if s.kind == "open"]
    closed_ids = [s.pk for s in stages if s.kind != "open"]
    groups: list[tuple[RatePeriods, Any]] = []
    if open_ids:
        periods = RatePeriods(rates, no_day=today)
        groups.append(
            (
                periods,
                qs.filter(status="open", stage_id__in=open_ids)
                .annotate(period=periods.expression("expected_close_date"))
                .values("stage_id", "currency", "period")
                .annotate(**aggregates)
                .order_by(),
            )
        )
    if closed_ids:
        since = today - dt.timedelta(days=CLOSED_WINDOW_DAYS)
        periods = RatePeriods(rates, start=since, no_day=today)
        groups.append(
            (
                periods,
                qs.filter(status__in=("won", "lost"), stage_id__in=closed_ids, closed_on__gte=since)
                .annotate(period=periods.expression("closed_on"))
                .values("stage_id", "currency", "period")
                .annotate(**aggregates)
                .order_by(),
            )
        )
    for periods, rows in groups:
        for row in rows:
            totals = out[row["stage_id"]]
            totals.count += row["n"]
            rate = periods.rate(row["currency"], row["period"])
            if rate is None:
                totals.without_rate += row["priced"]
                continue
            raw_total[row["stage_id"]] += Decimal(row["total"]) * rate
            raw_weighted[row["stage_id"]] += Decimal(row["weighted"]) * rate / Decimal(100)
    for pk, totals in out.items():
        totals.total = money(raw_total[pk])
        totals.weighted = money(raw_weighted[pk])
    return out


def deal_contribution(deal: Deal, rates: Rates, *, today: dt.date | None = None) -> tuple[int, Totals] | None:
    """What one deal adds to its column's figures (None when its column does not count it: a won
    or lost deal closed before the window), converted exactly as :func:`column_totals` converts it."""
    today = today or timezone.localdate()
    if deal.status == "open":
        day = deal.expected_close_date or today
    elif deal.closed_on is not None and deal.closed_on >= today - dt.timedelta(days=CLOSED_WINDOW_DAYS):
        day = deal.closed_on
    else:
        return None
    totals = Totals(count=1)
    if deal.amount is not None:
        rate = rates.rate(deal.currency, day)
        if rate is None:
            totals.without_rate = 1
        else:
            totals.total = money(deal.amount * rate)
            totals.weighted = money(deal.amount * deal.probability * rate / Decimal(100))
    return deal.stage_id, totals


def move_deltas(before: Totals | None, before_stage: int, after: tuple[int, Totals] | None) -> dict[str, Any]:
    """How a moved deal changes the figures of the columns involved, by stage id: the board's
    drag-and-drop answer carries these instead of re-aggregating both columns."""
    out: dict[int, Totals] = {}

    def add(stage_id: int, t: Totals, sign: int) -> None:
        d = out.setdefault(stage_id, Totals())
        d.count += sign * t.count
        d.total += sign * t.total
        d.weighted += sign * t.weighted
        d.without_rate += sign * t.without_rate

    if before is not None:
        add(before_stage, before, -1)
    if after is not None:
        add(after[0], after[1], 1)
    return {
        str(pk): {"count": t.count, "total": str(t.total), "weighted": str(t.weighted), "without_rate": t.without_rate}
        for pk, t in out.items()
    }


# --- cards ------------------------------------------------------------------------------------
def _initials(first: str, last: str, username: str) -> str:
    parts = [p for p in (first, last) if p]
    return "".join(p[0] for p in parts).upper() or (username or "")[:2].upper()


def to_card(row: dict[str, Any], stage: Stage, now: dt.datetime | None = None, *, user: Any) -> Card:
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
        # The company's name only for whoever may see the company (core.visibility.link_label).
        company_name=link_label(
            user, "companies", row["company__name"], owner_id=row["company__owner_id"], team_id=row["company__team_id"]
        )
        or "",
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
    qs: QuerySet[Deal], stage: Stage, cursor: str | None = None, size: int | None = None, *, user: Any
) -> tuple[list[Card], str | None]:
    """One keyset page of a column's cards: in open stages the oldest in the stage first (what
    rots is on top), in won and lost stages the latest first."""
    size = size or CARDS_PER_COLUMN
    descending = stage.kind != "open"  # won and lost columns show the latest first
    page = qs.filter(stage_id=stage.pk)
    if stage.kind != "open":
        since = timezone.localdate() - dt.timedelta(days=CLOSED_WINDOW_DAYS)
        page = page.filter(closed_on__gte=since)
    if cursor and cursor != FIRST_PAGE:
        value, pk, _ = decode_cursor(cursor)
        where, params = keyset_condition(Deal, "stage_entered_at", descending, value, pk, connections[qs.db])
        page = page.extra(where=[where], params=params)
    prefix = "-" if descending else ""
    rows = list(page.order_by(f"{prefix}stage_entered_at", f"{prefix}id").values(*CARD_FIELDS)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    now = timezone.now()
    cards = [to_card(r, stage, now, user=user) for r in rows]
    if cursor:  # a "show more" page; the board's first page is flagged in one go by build_board
        mark_next_activities(cards)
    next_cursor = encode_cursor(rows[-1]["stage_entered_at"], rows[-1]["id"]) if more and rows else None
    return cards, next_cursor


def card_for(deal_id: int, user: Any) -> tuple[Card, Stage] | None:
    row = Deal.objects.visible_to(user).filter(pk=deal_id).values(*CARD_FIELDS).first()
    if row is None:
        return None
    stage = Stage.objects.select_related("pipeline").get(pk=row["stage_id"])
    card = to_card(row, stage, user=user)
    mark_next_activities([card])
    return card, stage


def mark_next_activities(cards: list[Card]) -> None:
    """Flag open deals with no next step: no open task, call or meeting linked to them (one query
    for all the cards given). Any planned activity counts, whoever it belongs to: the flag says the
    deal has a next step, not what it is."""
    from django.apps import apps

    open_ids = [c.id for c in cards if c.status == "open"]
    if not open_ids or not apps.is_installed("rapport.activities"):
        return
    from rapport.activities.models import ActivityLink

    planned = set(
        ActivityLink.objects.filter(
            type_key="deals",
            record_id__in=open_ids,
            activity__done=False,
            activity__deleted_at__isnull=True,
            activity__kind__in=("task", "call", "meeting"),
        ).values_list("record_id", flat=True)
    )
    for card in cards:
        card.no_next_activity = card.status == "open" and card.id not in planned


def build_board(user: Any, pipeline: Pipeline, q: Q, *, size: int | None = None) -> list[Column]:
    stages = board_stages(pipeline)
    qs = visible_deals(user, pipeline, q)
    totals = column_totals(qs, stages)
    columns = []
    for stage in stages:
        if stage.kind == "open":
            cards, next_cursor = column_cards(qs, stage, size=size, user=user)
        else:
            # Collapsed: its cards load when the column is opened ("Show cards").
            cards, next_cursor = [], (FIRST_PAGE if totals[stage.pk].count else None)
        columns.append(Column(stage=stage, totals=totals[stage.pk], cards=cards, next_cursor=next_cursor))
    mark_next_activities([card for column in columns for card in column.cards])
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
    "deal_contribution",
    "move_deltas",
    "deal_filter",
    "format_amount",
    "pipelines",
    "visible_deals",
]
