"""Standard reports: the filters every report takes, the shape every report answers with, and money.

Each report (``standard_sales.py``, ``standard_team.py``) is a function ``(actor, filters) -> Result``:
SQL aggregates over the records the actor may view (``visible_to``: the one visibility rule), grouped
before anything is converted — amounts per currency and rate period (``forecasting.money.RatePeriods``),
each group converted once at the rate in force on its rows' day — so the work in Python is bounded by
groups, never by deals. Figures are plain values (ints, ``Decimal``), formatted by the page and the API.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Case, Func, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from rapport.accounts.models import Team, User
from rapport.core.inputs import is_id, parse_day
from rapport.core.listing import QueryError
from rapport.deals.models import Deal, Pipeline
from rapport.forecasting.money import RatePeriods, Rates, money

ZERO = Decimal("0.00")

PRESETS = {
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "this_year": "This year",
    "last_year": "Last year",
    "last_12_months": "Last 12 months",
    "custom": "Custom",
}
GROUPS = {"month": "Month", "quarter": "Quarter"}
PARAMS = ("period", "start", "end", "pipeline", "owner", "team", "group")
MAX_PERIODS = 36  # a per-period report over more months than this is refused (400 naming start)


# --- filters ---------------------------------------------------------------------------------------
def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def preset_range(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    month = today.replace(day=1)
    quarter = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    if preset == "this_month":
        return month, month_end(month)
    if preset == "last_month":
        start = add_months(month, -1)
        return start, month_end(start)
    if preset == "this_quarter":
        return quarter, month_end(add_months(quarter, 2))
    if preset == "last_quarter":
        start = add_months(quarter, -3)
        return start, month_end(add_months(start, 2))
    if preset == "this_year":
        return dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
    if preset == "last_year":
        return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
    # last_12_months: this month and the eleven before it
    return add_months(month, -11), month_end(month)


@dataclass(frozen=True)
class Filters:
    """What a report counts: a period of days (inclusive, in the viewer's time zone), and optionally a
    pipeline, an owner, a team; per-period reports split the period by month or quarter."""

    preset: str
    start: dt.date
    end: dt.date
    pipeline_id: int | None = None
    owner_id: int | None = None
    team_id: int | None = None
    group: str = "month"

    # --- as SQL -----------------------------------------------------------------------------------
    def start_moment(self) -> dt.datetime:
        return moment(self.start)

    def end_moment(self) -> dt.datetime:
        """The first moment after the period (exclusive bound)."""
        return moment(self.end + dt.timedelta(days=1))

    def record_q(self, prefix: str = "") -> Q:
        """Owner and team filters on a record (or, with ``prefix``, on a related record)."""
        q = Q()
        if self.owner_id is not None:
            q &= Q(**{f"{prefix}owner_id": self.owner_id})
        if self.team_id is not None:
            q &= Q(**{f"{prefix}team_id": self.team_id})
        return q

    def deal_q(self, prefix: str = "") -> Q:
        q = self.record_q(prefix)
        if self.pipeline_id is not None:
            q &= Q(**{f"{prefix}pipeline_id": self.pipeline_id})
        return q

    # --- as list-page filters (drill-down) --------------------------------------------------------
    def list_params(self, *, pipeline: bool = True) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if pipeline and self.pipeline_id is not None:
            out.append(("pipeline", str(self.pipeline_id)))
        if self.owner_id is not None:
            out.append(("owner", str(self.owner_id)))
        if self.team_id is not None:
            out.append(("team", str(self.team_id)))
        return out

    def query(self, **changes: Any) -> str:
        """This report's own query string, with ``changes``."""
        values: dict[str, Any] = {
            "period": self.preset,
            "start": self.start.isoformat() if self.preset == "custom" else "",
            "end": self.end.isoformat() if self.preset == "custom" else "",
            "pipeline": self.pipeline_id or "",
            "owner": self.owner_id or "",
            "team": self.team_id or "",
            "group": self.group if self.group != "month" else "",
        }
        values.update(changes)
        return urlencode([(k, str(v)) for k, v in values.items() if v not in ("", None)])

    def as_json(self) -> dict[str, Any]:
        return {
            "period": self.preset,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "pipeline": self.pipeline_id,
            "owner": self.owner_id,
            "team": self.team_id,
            "group": self.group,
        }


def moment(day: dt.date) -> dt.datetime:
    """Midnight starting ``day`` in the current (viewer's) time zone."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=timezone.get_current_timezone())


def _id(params: Mapping[str, Any], name: str) -> int | None:
    raw = str(params.get(name) or "").strip()
    if not raw:
        return None
    if not is_id(raw):
        raise QueryError(name, f"{raw[:40]!r} is not an id.")
    return int(raw)


def parse_filters(params: Mapping[str, Any], user: Any, *, default: str = "this_quarter") -> Filters:
    """The report filters of a query string; a QueryError (400 naming the parameter) for anything
    unknown, malformed, out of range (years 1800–2999) or naming a pipeline or team that does not exist."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise QueryError(unknown[0], f"unknown parameter; use {', '.join(PARAMS)}.")
    for name in PARAMS:
        getlist = getattr(params, "getlist", None)
        if getlist is not None and len(getlist(name)) > 1:
            raise QueryError(name, "give it once.")
    today = timezone.localdate()
    start_raw, end_raw = (str(params.get(n) or "").strip() for n in ("start", "end"))
    preset = str(params.get("period") or "").strip() or ("custom" if start_raw or end_raw else default)
    if preset not in PRESETS:
        raise QueryError("period", f"{preset[:40]!r} is not a period; use one of {', '.join(PRESETS)}.")
    days: dict[str, dt.date] = {}
    for name, raw in (("start", start_raw), ("end", end_raw)):
        if not raw:
            if preset == "custom":
                raise QueryError(name, "a custom period needs a start and an end date (YYYY-MM-DD).")
            continue
        try:
            days[name] = parse_day(raw)
        except ValueError as exc:
            raise QueryError(name, str(exc)) from None
    if preset == "custom":
        start, end = days["start"], days["end"]
        if end < start:
            raise QueryError("end", "the end is before the start.")
    else:  # a preset period: dates (checked above) are only the custom period's
        start, end = preset_range(preset, today)
    group = str(params.get("group") or "").strip() or "month"
    if group not in GROUPS:
        raise QueryError("group", f"{group[:40]!r} is not a grouping; use month or quarter.")
    pipeline_id = _id(params, "pipeline")
    if pipeline_id is not None and not Pipeline.objects.filter(pk=pipeline_id).exists():
        raise QueryError("pipeline", f"there is no pipeline #{pipeline_id}.")
    owner_raw = str(params.get("owner") or "").strip()
    owner_id = user.pk if owner_raw == "me" else _id(params, "owner")
    team_id = _id(params, "team")
    if team_id is not None and not Team.objects.filter(pk=team_id).exists():
        raise QueryError("team", f"there is no team #{team_id}.")
    filters = Filters(preset, start, end, pipeline_id, owner_id, team_id, group)
    if len(periods(filters)) > MAX_PERIODS:
        raise QueryError("start", f"a period of at most {MAX_PERIODS} months; narrow the dates.")
    return filters


@dataclass(frozen=True)
class Bucket:
    """One month or quarter of a per-period report."""

    start: dt.date
    end: dt.date
    label: str
    key: str


def periods(filters: Filters) -> list[Bucket]:
    """The months (or quarters) overlapping the filters' period, in order."""
    step = 1 if filters.group == "month" else 3
    first = filters.start.replace(day=1)
    if step == 3:
        first = dt.date(first.year, (first.month - 1) // 3 * 3 + 1, 1)
    out: list[Bucket] = []
    day = first
    while day <= filters.end and len(out) <= MAX_PERIODS:
        end = month_end(add_months(day, step - 1))
        if step == 1:
            out.append(Bucket(day, end, day.strftime("%b %Y"), f"{day.year}-{day.month:02d}"))
        else:
            q = (day.month - 1) // 3 + 1
            out.append(Bucket(day, end, f"Q{q} {day.year}", f"{day.year}-Q{q}"))
        day = add_months(day, step)
    return out


def step_index(field: str, bounds: list[Any]) -> Any:
    """In SQL, the number of ``bounds`` (sorted) that are <= each row's ``field``: the index of the stretch
    holding it (-1 for none). A balanced tree of comparisons of the column itself (~log2(bounds) per row),
    so no function runs per row (SQLite's date functions are Python callbacks: grouping 20,000 deals by
    ``TruncMonth`` took seconds)."""

    def tree(part: list[Any], offset: int) -> Any:
        if not part:
            return Value(offset, output_field=IntegerField())
        mid = len(part) // 2
        return Case(
            When(**{f"{field}__lt": part[mid]}, then=tree(part[:mid], offset)),
            default=tree(part[mid + 1 :], offset + mid + 1),
            output_field=IntegerField(),
        )

    return Case(
        When(**{f"{field}__isnull": True}, then=Value(-1, output_field=IntegerField())),
        default=tree(bounds, 0),
        output_field=IntegerField(),
    )


def bucket_index(buckets: list[Bucket], field: str, *, moments: bool = False) -> Any:
    """Which of ``buckets`` holds each row's ``field`` (a date, or with ``moments`` a datetime compared
    with the buckets' first moments in the viewer's time zone)."""
    return step_index(field, [moment(b.start) if moments else b.start for b in buckets[1:]])


def bucket_at(buckets: list[Bucket], index: int | None) -> Bucket | None:
    return buckets[index] if index is not None and 0 <= index < len(buckets) else None


# --- the shape every report answers with -----------------------------------------------------------
KINDS = ("count", "money", "percent", "days", "text", "number")


@dataclass(frozen=True)
class Col:
    key: str
    label: str
    kind: str = "count"  # count, money (base currency), percent, days, number, text
    chart: bool = False  # drawn in the report's chart


@dataclass
class Row:
    key: str
    label: str
    values: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    key: str
    filters: Filters
    columns: list[Col]
    rows: list[Row]
    summary: list[tuple[Col, Any, str]]  # headline figures: (column, value, drill-down link or "")
    base_currency: str
    unconverted: int = 0  # amounts left out: no exchange rate on their day
    chart: str = "bar"  # bar, line, stacked
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows and not any(v for _, v, _ in self.summary)

    def as_json(self) -> dict[str, Any]:
        def out(col: Col, value: Any) -> Any:
            if value is None:
                return None
            if col.kind in ("money",):
                return str(money(Decimal(value)))
            if col.kind in ("percent", "days", "number"):
                return str(Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
            return value

        return {
            "report": self.key,
            "filters": self.filters.as_json(),
            "base_currency": self.base_currency,
            "unconverted": self.unconverted,
            "summary": {c.key: out(c, v) for c, v, _ in self.summary},
            "summary_links": {c.key: link for c, _, link in self.summary if link},
            "rows": [
                {
                    "key": r.key,
                    "label": r.label,
                    "values": {c.key: out(c, r.values.get(c.key)) for c in self.columns},
                    "links": r.links,
                }
                for r in self.rows
            ],
        }


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part`` / ``whole`` in percent, None when there is nothing to divide by."""
    if not whole:
        return None
    return Decimal(part) * 100 / Decimal(whole)


def per(total: Decimal | int | None, count: int | Decimal) -> Decimal | None:
    if not count or total is None:
        return None
    return Decimal(total) / Decimal(count)


def link(path: str, params: Iterable[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(list(params))}"


# --- money ---------------------------------------------------------------------------------------
class Converter:
    """Sums amounts in the base currency from groups of (currency, rate period): each group converted
    once at the rate in force over its period, each output rounded once to cents."""

    def __init__(self) -> None:
        self.rates = Rates()
        self.periods = RatePeriods(self.rates, no_day=timezone.localdate())
        self.base = self.rates.base
        self.unconverted = 0
        self._raw: dict[Any, Decimal] = defaultdict(Decimal)

    def expression(self, field: str, *, moments: bool = False) -> Any:
        """The rate period of each row's ``field`` (a date; with ``moments`` a datetime, whose day in the
        viewer's time zone counts), as ``RatePeriods.expression`` numbers them."""
        days = self.periods.days
        return step_index(field, [moment(d) for d in days] if moments else days)

    def add(self, key: Any, amount: Any, currency: str, rate_period: int, count: int = 1) -> bool:
        """Add a group's ``amount`` (in ``currency``) to ``key``; False (and counted as unconverted)
        when no rate was in force."""
        if amount is None:
            return True
        rate = self.periods.rate(currency, rate_period)
        if rate is None:
            self.unconverted += count
            return False
        self._raw[key] += Decimal(amount) * rate
        return True

    def total(self, key: Any) -> Decimal:
        return money(self._raw.get(key, ZERO))


class DaysBetween(Func):
    """Whole days from the UTC day of a moment (``created_at``) to a date (``closed_on``)."""

    output_field: Any = None

    def __init__(self, start: str, end: str) -> None:
        from django.db.models import FloatField

        super().__init__(start, end, output_field=FloatField())

    def _parts(self, compiler: Any) -> tuple[str, str, list[Any]]:
        start_sql, start_params = compiler.compile(self.source_expressions[0])
        end_sql, end_params = compiler.compile(self.source_expressions[1])
        return start_sql, end_sql, [*end_params, *start_params]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        start, end, params = self._parts(compiler)
        return f"(julianday({end}) - julianday(date({start})))", params

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        start, end, params = self._parts(compiler)
        return f"(({end}) - (({start}) AT TIME ZONE 'UTC')::date)", params


def visible_deals(actor: Any, filters: Filters) -> QuerySet[Deal]:
    return Deal.objects.visible_to(actor).filter(filters.deal_q())


def user_names(ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = [i for i in set(ids) if i is not None]
    names: dict[int | None, str] = {
        u.pk: u.display_name
        for u in User.objects.filter(pk__in=wanted).only("pk", "username", "first_name", "last_name")
    }
    names[None] = "No owner"
    return names


# --- the catalogue -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    key: str
    title: str
    summary: str  # one line for the index card
    compute: Callable[[Any, Filters], Result]
    columns: tuple[Col, ...]
    headline: tuple[Col, ...]
    default_period: str = "this_quarter"
    per_period: bool = False  # splits the period by month or quarter
    needs_pipeline: bool = False
    team_leads: bool = False  # adoption and data quality: settings managers and team leads only
    uses_pipeline: bool = True
    definitions: tuple[tuple[str, str], ...] = ()


REPORTS: dict[str, Report] = {}


def report(r: Report) -> Report:
    REPORTS[r.key] = r
    return r


def leads_team(user: Any) -> bool:
    """Settings managers, and team leads: roles that may delete the whole team's (or everyone's) deals —
    the built-in manager and administrator. Members and read-only users may not."""
    if user.can_manage_settings():
        return True
    return user.scope_for("deals", "delete") in ("team", "all")


ORDER = (
    "funnel",
    "win-loss",
    "pipeline",
    "products",
    "velocity",
    "forecast-accuracy",
    "sources",
    "activity",
    "adoption",
    "data-quality",
    "data-quality-trend",
)


def load() -> dict[str, Report]:
    """Every standard report, in the index's order (the modules register them on import)."""
    from . import standard_forecast, standard_sales, standard_team  # noqa: F401

    return {key: REPORTS[key] for key in sorted(REPORTS, key=lambda k: (ORDER.index(k) if k in ORDER else 99, k))}


def available(user: Any) -> list[Report]:
    return [r for r in load().values() if not r.team_leads or leads_team(user)]


def get(key: str) -> Report | None:
    return load().get(key)
