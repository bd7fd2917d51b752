"""Forecast figures per owner for a month or a quarter, in the base currency.

The deals' figures are kept current by the write path per month, team, owner, currency, figure and
exchange-rate period (``deals.totals``, ``ForecastTotal``); a forecast sums those rows in SQL per owner,
currency, figure and rate period — the stretch between two exchange-rate changes holding the deals' day —
and converts each group once in Python with the rate of its period: nothing is converted per deal, and
the work is bounded by owners × currencies × months × rate changes, not by deals. The rows are filtered by
the same visibility rule as the deals (``visibility.scope_q`` over their owner and team): a member asking
for everyone gets what they may see, totals included.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, Sum
from django.utils import timezone

from rapport.accounts.models import Team, User
from rapport.core import formatting
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.visibility import scope_q
from rapport.deals.models import ForecastTotal

from .models import Quota
from .money import Rates, money

FIGURES = ("closed_won", "commit", "best_case", "pipeline", "weighted")
FIGURE_LABELS = {
    "closed_won": "Closed won",
    "commit": "Commit",
    "best_case": "Best case",
    "pipeline": "Pipeline",
    "weighted": "Weighted pipeline",
}
ZERO = Decimal("0.00")

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER_RE = re.compile(r"^(\d{4})-[Qq]([1-4])$")


# --- periods -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str  # "month" | "quarter"
    start: dt.date
    end: dt.date  # inclusive

    @property
    def key(self) -> str:
        if self.kind == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def label(self) -> str:
        if self.kind == "month":
            return formatting.month(self.start)
        return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"

    def months(self) -> list[dt.date]:
        count = 1 if self.kind == "month" else 3
        return [_add_months(self.start, n) for n in range(count)]

    def shifted(self, steps: int) -> Period:
        return make_period(self.kind, _add_months(self.start, steps * (1 if self.kind == "month" else 3)))

    def other_kind(self) -> Period:
        """The quarter holding this month, or the first month of this quarter."""
        if self.kind == "month":
            return make_period("quarter", self.start)
        return make_period("month", self.start)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def make_period(kind: str, day: dt.date) -> Period:
    if kind == "month":
        start = day.replace(day=1)
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    else:
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        last = _add_months(start, 2)
        end = last.replace(day=calendar.monthrange(last.year, last.month)[1])
    return Period(kind, start, end)


def parse_period(value: str | None, today: dt.date | None = None) -> Period:
    """``2026-11`` (a month) or ``2026-Q4`` (a quarter); empty means the current quarter."""
    value = (value or "").strip()
    if not value:
        return make_period("quarter", today or timezone.localdate())
    if m := MONTH_RE.match(value):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12 and 1900 <= year <= 9998:
            return make_period("month", dt.date(year, month, 1))
    elif m := QUARTER_RE.match(value):
        year = int(m.group(1))
        if 1900 <= year <= 9998:
            return make_period("quarter", dt.date(year, (int(m.group(2)) - 1) * 3 + 1, 1))
    raise QueryError("period", f"{value!r} is not a period; use a month like 2026-11 or a quarter like 2026-Q4.")


# --- scopes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    key: str  # "me" | "team:<id>" | "all"
    label: str
    owner_id: int | None = None
    team_id: int | None = None

    def deal_q(self) -> Q:
        if self.owner_id is not None:
            return Q(owner_id=self.owner_id)
        if self.team_id is not None:
            return Q(team_id=self.team_id)
        return Q()

    def list_params(self) -> list[tuple[str, str]]:
        """The same scope as deal-list filters."""
        if self.owner_id is not None:
            return [("owner", str(self.owner_id))]
        if self.team_id is not None:
            return [("team", str(self.team_id))]
        return []


def default_scope(user: Any) -> str:
    """What a forecast opens on: a seller's own deals; for whoever sees everything (an
    administrator, a sales director), every deal they can see."""
    return "all" if user.scope_for("deals", "view") == "all" else "me"


def parse_scope(value: str | None, user: Any) -> Scope:
    value = (value or "").strip() or default_scope(user)
    if value == "me":
        return Scope("me", "My deals", owner_id=user.pk)
    if value == "all":
        return Scope("all", "Everyone I can see")
    if value.startswith("team:"):
        raw = value.removeprefix("team:")
        team = Team.objects.filter(pk=int(raw)).first() if is_id(raw) else None
        if team is None:
            raise QueryError("scope", f"{value!r} names no team; use team:<id> with the id of a team.")
        return Scope(value, f"Team {team.name}", team_id=team.pk)
    raise QueryError("scope", f"{value!r} is not a scope; use me, all or team:<id>.")


def scope_choices(user: Any) -> list[tuple[str, str]]:
    """Scopes worth offering in the selector: teams the user can see deals of."""
    choices = [("me", "My deals"), ("all", "Everyone I can see")]
    reach = user.scope_for("deals", "view")
    if reach == "all":
        teams = list(Team.objects.order_by("name").values_list("pk", "name"))
    elif reach == "team" and user.team_id:
        teams = [(user.team_id, user.team.name)]
    else:
        teams = []
    choices += [(f"team:{pk}", f"Team {name}") for pk, name in teams]
    return choices


# --- figures -----------------------------------------------------------------------------------
@dataclass
class Row:
    owner_id: int | None
    name: str
    figures: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(FIGURES, ZERO))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))
    unconverted: int = 0
    quota: Decimal | None = None

    @property
    def attainment(self) -> Decimal | None:
        if not self.quota:
            return None
        return (self.figures["closed_won"] * 100 / self.quota).quantize(Decimal("0.1"))

    def add(self, figure: str, amount: Decimal, count: int) -> None:
        self.figures[figure] += amount
        self.counts[figure] += count


@dataclass
class Forecast:
    period: Period
    scope: Scope
    base_currency: str
    rows: list[Row]
    total: Row
    unconverted_currencies: list[str]
    _queries: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        return not any(self.total.counts.values()) and self.total.unconverted == 0

    def links(self, row: Row) -> dict[str, str]:
        """The deal list filtered to the deals behind each figure of ``row``."""
        base: list[tuple[str, str]] = []
        if row is self.total:
            base = self.scope.list_params()
        else:
            base = [("owner", str(row.owner_id) if row.owner_id is not None else "none")]
            if self.scope.team_id is not None:
                base.append(("team", str(self.scope.team_id)))
        head = "/deals/?" + (urlencode(base) + "&" if base else "")
        return {figure: head + query for figure, query in self._figure_queries().items()}

    def _figure_queries(self) -> dict[str, str]:
        """Each figure's deal-list filters for the period (the same for every row: encoded once)."""
        if self._queries is None:
            start, end = self.period.start.isoformat(), self.period.end.isoformat()
            won = [("status", "won"), ("closed__after", start), ("closed__before", end)]
            open_ = [("status", "open"), ("close_date__after", start), ("close_date__before", end)]
            cats = {
                "commit": "commit",
                "best_case": "best_case,commit",
                "pipeline": "pipeline,best_case,commit",
                "weighted": "pipeline,best_case,commit",
            }
            self._queries = {"closed_won": urlencode(won)}
            for figure, value in cats.items():
                self._queries[figure] = urlencode(open_ + [("forecast_category", value)])
        return self._queries

    def as_json(self) -> dict[str, Any]:
        def row_json(row: Row) -> dict[str, Any]:
            return {
                "owner": None if row is self.total else ({"id": row.owner_id, "name": row.name}),
                **{f: str(money(row.figures[f])) for f in FIGURES},
                "counts": dict(row.counts),
                "unconverted": row.unconverted,
                "quota": None if row.quota is None else str(money(row.quota)),
                "attainment": None if row.attainment is None else str(row.attainment),
                "links": self.links(row),
            }

        return {
            "period": {
                "key": self.period.key,
                "kind": self.period.kind,
                "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(),
            },
            "scope": self.scope.key,
            "base_currency": self.base_currency,
            "rows": [row_json(r) for r in self.rows],
            "total": row_json(self.total),
            "unconverted_currencies": self.unconverted_currencies,
        }


def compute(user: Any, period: Period, scope: Scope) -> Forecast:
    """Closed won, commit, best case, pipeline and weighted pipeline per owner (see the page's
    help text for the definitions), with quotas and attainment. A fixed number of queries.

    The deals' figures are read from the rows the write path keeps per month, team, owner, currency,
    figure (won, or the open deal's forecast category) and exchange-rate period (``deals.totals``,
    ``ForecastTotal``): a few rows per owner and month, however many deals there are. Each group is
    converted once with the rate of its period — the rate in force on each of its deals' own day — and
    rounded once per owner and figure, within the same visibility rule as the deals
    (``visibility.scope_q`` over the rows' owner and team)."""
    rates = Rates()
    rows: dict[int | None, Row] = {}
    missing: set[str] = set()

    def row_for(owner_id: int | None) -> Row:
        if owner_id not in rows:
            rows[owner_id] = Row(owner_id, "")
        return rows[owner_id]

    raw: dict[tuple[int | None, str], Decimal] = defaultdict(Decimal)
    for g in _kept_groups(user, period, scope):
        owner_id = g["owner_id"] or None
        row = row_for(owner_id)
        rate = rates.rate(g["currency"], g["period"])
        if rate is None:
            row.unconverted += g["n"]
            missing.add(g["currency"])
            continue
        amount = Decimal(g["total"]) / 100 * rate
        category = g["figure"]
        if category == "won":
            raw[(owner_id, "closed_won")] += amount
            row.counts["closed_won"] += g["n"]
            continue
        figures = ["commit", "best_case"] if category == "commit" else ["best_case"] if category == "best_case" else []
        for figure in (*figures, "pipeline"):
            raw[(owner_id, figure)] += amount
            row.counts[figure] += g["n"]
        raw[(owner_id, "weighted")] += Decimal(g["weighted"]) / 10000 * rate
        row.counts["weighted"] += g["n"]
    for (owner_id, figure), value in raw.items():  # rounded once per owner and figure
        rows[owner_id].figures[figure] += money(value)

    _add_quotas(user, period, scope, rows, row_for)

    ids = [pk for pk in rows if pk is not None]
    names = {
        u.pk: u.display_name for u in User.objects.filter(pk__in=ids).only("pk", "first_name", "last_name", "username")
    }
    for pk, row in rows.items():
        row.name = names.get(pk, "No owner") if pk is not None else "No owner"
    ordered = sorted(rows.values(), key=lambda r: (r.owner_id is None, r.name.lower(), r.owner_id or 0))

    total = Row(None, "Total")
    for row in ordered:
        for f in FIGURES:
            total.add(f, row.figures[f], row.counts[f])
        total.unconverted += row.unconverted
        if row.quota is not None:
            total.quota = (total.quota or ZERO) + row.quota
    return Forecast(period, scope, rates.base, ordered, total, sorted(missing))


def _kept_groups(user: Any, period: Period, scope: Scope) -> list[dict[str, Any]]:
    """Per owner, currency, figure and rate period: n, total cents and cents × probability of the deals
    in ``period`` that ``user`` may see within ``scope`` (``ForecastTotal``)."""
    visible = scope_q(user, "deals", "view")
    if visible is None:
        return []
    rows: Any = (
        ForecastTotal.objects.filter(visible, scope.deal_q(), month__in=period.months())
        .values("owner_id", "currency", "figure", "period")
        .annotate(n=Sum("n"), total=Sum("total"), weighted=Sum("weighted"))
        .order_by()
    )
    return list(rows)


def _add_quotas(user: Any, period: Period, scope: Scope, rows: dict[int | None, Row], row_for: Any) -> None:
    """Quotas of the owners in scope whose deals the user may see: a quarter quota, else the sum
    of its month quotas; for a month, the month quota."""
    reach = user.scope_for("deals", "view")
    people = Q()
    if reach == "own" or reach is None:
        people = Q(user_id=user.pk)
    elif reach == "team":
        people = Q(user__team_id=user.team_id) if user.team_id else Q(user_id=user.pk)
    if scope.owner_id is not None:
        people &= Q(user_id=scope.owner_id)
    elif scope.team_id is not None:
        people &= Q(user__team_id=scope.team_id)
    months = period.months()
    if period.kind == "quarter":
        wanted = Q(period="quarter", period_start=period.start) | Q(period="month", period_start__in=months)
    else:
        wanted = Q(period="month", period_start=period.start)
    quarter: dict[int, Decimal] = {}
    monthly: dict[int, Decimal] = {}
    for uid, kind, amount in Quota.objects.filter(people & wanted).values_list("user_id", "period", "amount"):
        target = quarter if kind == "quarter" else monthly
        target[uid] = target.get(uid, ZERO) + Decimal(amount)
    for uid in set(quarter) | set(monthly):
        row_for(uid).quota = quarter.get(uid, monthly.get(uid))
