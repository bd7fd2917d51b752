"""The deals board: per-stage counts and totals in the base currency, aggregated in SQL over the
deals the user may see, and keyset pages of cards per stage column."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from django.db import connections
from django.db.models import Count, DecimalField, F, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from rapport.core import registry
from rapport.core.listing import QueryError, build_filter, decode_cursor, encode_cursor, keyset_condition
from rapport.core.models import to_json_value
from rapport.core.visibility import link_label, scope_q
from rapport.forecasting.money import RatePeriods, Rates, money

from . import totals as stage_totals
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
    "created_at",
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
    can_log: bool = False
    is_new: bool = False
    # The next planned task, call or meeting (its due or start time); None with no_next_activity set
    # on an open deal that has none.
    next_activity_at: dt.datetime | None = None
    no_next_activity: bool = False
    next_overdue: bool = False  # next_activity_at is past (set with it by mark_next_activities)

    def __getitem__(self, name: str) -> Any:
        # Django templates try ``card[name]`` before ``card.name``: answering it spares the TypeError
        # raised and caught on each of a card's ~40 lookups (100 cards on a board).
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

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
    qs: QuerySet[Deal],
    stages: Iterable[Stage],
    rates: Rates | None = None,
    *,
    today: dt.date | None = None,
    kept: Q | None = None,
) -> dict[int, Totals]:
    """Count, total and weighted total per stage in the base currency.

    Open stages count their open deals; won and lost stages the deals closed in the last
    CLOSED_WINDOW_DAYS days (a board is about what is moving, and a pipeline's whole history would
    make every page read every deal ever closed). Grouped in SQL by (stage, currency, rate period)
    — the stretch of days between two exchange-rate changes holding the deal's expected close date
    (today when it has none), or its closed date for won and lost — then each group is converted
    in Python with the rate of its period (``RatePeriods``): the rows to convert are a few per stage
    and currency, however many deals or distinct days there are.

    ``kept``: the board is not filtered beyond this visibility scope (``scope_q`` over the owner and
    team), so the open columns read the figures the write path keeps (``deals/totals.py``): a few rows
    per stage, however many open deals there are."""
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
    if open_ids and kept is not None:
        for row in stage_totals.stage_sums(open_ids, kept):
            totals = out[row["stage_id"]]
            totals.count += row["sn"]
            rate = rates.rate(row["currency"], stage_totals.period_day(row["period"], today))
            if rate is None:
                totals.without_rate += row["sp"]
                continue
            raw_total[row["stage_id"]] += Decimal(row["st"]) / 100 * rate
            raw_weighted[row["stage_id"]] += Decimal(row["sw"]) / 10000 * rate
    elif open_ids:
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


def to_card(
    row: dict[str, Any], stage: Stage, now: dt.datetime | None = None, *, user: Any, since: dt.datetime | None = None
) -> Card:
    now = now or timezone.now()
    since = since or now - NEW_FOR
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
        is_new=stage.kind == "open" and row["created_at"] >= since,
    )


NEW_FOR = dt.timedelta(days=1)  # deals created this recently sit on top of their column, marked "New"
# The phases of an open column's order: new deals (newest first), then by expected close date (soonest
# first, so overdue closes lead), then the deals without a close date. Each phase is one keyset scan of
# an index ((created_at, id); (stage, expected_close_date, id) for the other two).
PHASES = ("new", "close", "undated")


def _column_cursor(phase: str, value: Any, pk: int, since: dt.datetime) -> str:
    payload = orjson.dumps({"p": phase, "v": to_json_value(value), "id": pk, "s": since.isoformat()})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _read_column_cursor(cursor: str) -> tuple[str, Any, int, dt.datetime]:
    """(phase, value, id, since) of an open column's cursor; QueryError for anything else."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        phase, pk, since = data["p"], int(data["id"]), dt.datetime.fromisoformat(data["s"])
        value = data["v"]
        if phase not in PHASES or not 0 < pk < 2**63 or since.tzinfo is None:
            raise ValueError(phase)
        if phase == "new":
            value = dt.datetime.fromisoformat(value)
        elif phase == "close":
            value = dt.date.fromisoformat(value)
        else:
            value = None
    except Exception:
        raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
    return phase, value, pk, since


def _first_new_rows(
    qs: QuerySet[Deal], stages: list[Stage], since: dt.datetime, size: int
) -> dict[int, list[dict[str, Any]]]:
    """The "new" phase of every open column's first page in one query: each column's up to ``size + 1``
    newest deals created since ``since``, by stage id. The rows are the newest of all columns together, so
    a column is complete when the query returned fewer rows than asked for (every new deal is there) or
    holds ``size + 1`` of them (its newest); any other column is left out and reads its own."""
    limit = (size + 1) * len(stages)
    found = list(
        qs.filter(stage_id__in=[s.pk for s in stages], created_at__gte=since)
        .order_by("-created_at", "-id")
        .values(*CARD_FIELDS)[:limit]
    )
    out: dict[int, list[dict[str, Any]]] = {s.pk: [] for s in stages}
    for row in found:  # newest first, as each column's own scan gives them
        column = out[row["stage_id"]]
        if len(column) <= size:
            row["_phase"] = "new"
            column.append(row)
    if len(found) < limit:
        return out
    return {pk: rows for pk, rows in out.items() if len(rows) > size}


def _open_column_rows(
    qs: QuerySet[Deal],
    stage: Stage,
    cursor: str | None,
    size: int,
    first_new: tuple[dt.datetime, list[dict[str, Any]]] | None = None,
) -> tuple[list[dict[str, Any]], str | None, dt.datetime]:
    """Up to ``size`` card rows of an open column in the board's order (:data:`PHASES`), and the cursor
    of the next page. ``since`` (when "new" starts) travels in the cursor, so a deal turning a day old
    between two pages is neither shown twice nor skipped. ``first_new``: (since, rows) of the first page's
    "new" phase, read for every column at once by :func:`_first_new_rows`."""
    column = qs.filter(stage_id=stage.pk)
    if cursor and cursor != FIRST_PAGE:
        phase, value, pk, since = _read_column_cursor(cursor)
    elif first_new is not None:
        phase, value, pk, since = PHASES[0], None, 0, first_new[0]
    else:
        phase, value, pk, since = PHASES[0], None, 0, timezone.now() - NEW_FOR
    connection = connections[qs.db]
    rows: list[dict[str, Any]] = []
    last_phase = phase
    for current in PHASES[PHASES.index(phase) :]:
        if current == "new" and first_new is not None and not pk:
            rows.extend(first_new[1])  # read for every column at once
            last_phase = current
            if len(rows) > size:
                break
            continue
        order: tuple[str, ...]
        if current == "new":
            part = column.filter(created_at__gte=since)
            order = ("-created_at", "-id")
            key = "created_at"
        elif current == "close":
            part = column.filter(created_at__lt=since, expected_close_date__isnull=False)
            order = ("expected_close_date", "id")
            key = "expected_close_date"
        else:
            part = column.filter(created_at__lt=since, expected_close_date__isnull=True)
            order = ("id",)
            key = "id"
        if current == phase and pk:
            if key == "id":
                part = part.filter(id__gt=pk)
            else:
                where, params = keyset_condition(Deal, key, current == "new", value, pk, connection)
                part = part.extra(where=[where], params=params)
        wanted = size + 1 - len(rows)
        found = list(part.order_by(*order).values(*CARD_FIELDS)[:wanted])
        for row in found:
            row["_phase"] = current
        rows.extend(found)
        last_phase = current
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        last_phase = last["_phase"]
        value = {"new": last["created_at"], "close": last["expected_close_date"], "undated": None}[last_phase]
        next_cursor = _column_cursor(last_phase, value, last["id"], since)
    return rows, next_cursor, since


def column_cards(
    qs: QuerySet[Deal],
    stage: Stage,
    cursor: str | None = None,
    size: int | None = None,
    *,
    user: Any,
    first_new: tuple[dt.datetime, list[dict[str, Any]]] | None = None,
) -> tuple[list[Card], str | None]:
    """One keyset page of a column's cards. Open stages: deals created in the last day first (newest
    first, marked new), then by expected close date (soonest first), then those without one
    (:func:`_open_column_rows`). Won and lost stages: the latest moved there first."""
    size = size or CARDS_PER_COLUMN
    now = timezone.now()
    if stage.kind == "open":
        rows, next_cursor, since = _open_column_rows(qs, stage, cursor, size, first_new if not cursor else None)
    else:
        since = now - NEW_FOR
        page = qs.filter(stage_id=stage.pk, closed_on__gte=timezone.localdate() - dt.timedelta(days=CLOSED_WINDOW_DAYS))
        if cursor and cursor != FIRST_PAGE:
            value, pk, _ = decode_cursor(cursor)
            where, params = keyset_condition(Deal, "stage_entered_at", True, value, pk, connections[qs.db])
            page = page.extra(where=[where], params=params)
        rows = list(page.order_by("-stage_entered_at", "-id").values(*CARD_FIELDS)[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = encode_cursor(rows[-1]["stage_entered_at"], rows[-1]["id"]) if more and rows else None
    cards = [to_card(r, stage, now, user=user, since=since) for r in rows]
    if cursor:  # a "show more" page; the board's first page is flagged in one go by build_board
        mark_next_activities(cards)
    return cards, next_cursor


def card_for(deal_id: int, user: Any, *, known: Iterable[Stage] = ()) -> tuple[Card, Stage] | None:
    """One deal's card as ``user`` may see it, and its stage (one of ``known``, with its pipeline, when
    the caller has it already)."""
    row = Deal.objects.visible_to(user).filter(pk=deal_id).values(*CARD_FIELDS).first()
    if row is None:
        return None
    stage = next((s for s in known if s.pk == row["stage_id"] and Stage.pipeline.is_cached(s)), None)
    if stage is None:
        stage = Stage.objects.select_related("pipeline").get(pk=row["stage_id"])
    card = to_card(row, stage, user=user)
    mark_next_activities([card])
    return card, stage


def mark_next_activities(cards: list[Card]) -> None:
    """Set each open deal's next step: the earliest open task, call or meeting linked to it (its due
    time, or its start for a meeting or call), or flag it as having none — one query for all the cards
    given. Any planned activity counts, whoever it belongs to: the card says the deal has a next step
    and when, not what it is."""
    from django.apps import apps

    open_ids = [c.id for c in cards if c.status == "open"]
    if not open_ids or not apps.is_installed("rapport.activities"):
        return
    from rapport.activities.models import ActivityLink

    planned = (
        ActivityLink.objects.filter(
            type_key="deals",
            record_id__in=open_ids,
            activity__done=False,
            activity__deleted_at__isnull=True,
            activity__kind__in=("task", "call", "meeting"),
        )
        .values("record_id")
        .annotate(first_due=Min("activity__due_at"), first_start=Min("activity__start_at"), n=Count("id"))
        .order_by()
    )
    nexts: dict[int, dt.datetime | None] = {}
    for row in planned:
        times = [t for t in (row["first_due"], row["first_start"]) if t is not None]
        nexts[row["record_id"]] = min(times) if times else None
    now = timezone.now()
    for card in cards:
        card.no_next_activity = card.status == "open" and card.id not in nexts
        card.next_activity_at = nexts.get(card.id)
        card.next_overdue = card.next_activity_at is not None and card.next_activity_at < now


def build_board(
    user: Any, pipeline: Pipeline, q: Q, *, size: int | None = None, stages: list[Stage] | None = None
) -> list[Column]:
    """The board's columns: figures, and the first page of each open column's cards. ``stages``: the
    pipeline's :func:`board_stages` when the caller has read them already."""
    stages = board_stages(pipeline) if stages is None else stages
    qs = visible_deals(user, pipeline, q)
    # Unfiltered: the open columns' figures kept by the write path, within the user's scope.
    totals = column_totals(qs, stages, kept=None if q else scope_q(user, "deals", "view"))
    columns = []
    since = timezone.now() - NEW_FOR
    news = _first_new_rows(qs, [s for s in stages if s.kind == "open"], since, size or CARDS_PER_COLUMN)
    for stage in stages:
        if stage.kind == "open":
            first_new = (since, news[stage.pk]) if stage.pk in news else None
            cards, next_cursor = column_cards(qs, stage, size=size, user=user, first_new=first_new)
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
