"""Dashboards: each widget's saved report run for the viewer with the dashboard's filters (period,
owner, team), the previous period for comparison, and targets from the quotas.

The period applies to each report's ``period_field`` (a date-range filter of its type), else to the
field of its first date grouping, else not at all; owner and team replace the report's own. So a
shared dashboard, like a shared report, shows each viewer their own numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from rapport.core import customfields, formatting, registry
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.forecasting.money import Rates

from . import engine, standard, summaries
from .engine import Config, ReportError, Result
from .models import Dashboard, Widget

PERIODS = [
    ("", "All time"),
    ("this_month", "This month"),
    ("last_month", "Last month"),
    ("this_quarter", "This quarter"),
    ("last_quarter", "Last quarter"),
    ("this_year", "This year"),
    ("last_year", "Last year"),
    ("last_30_days", "Last 30 days"),
    ("last_90_days", "Last 90 days"),
]
PERIOD_LABELS = dict(PERIODS)


@dataclass(frozen=True)
class Span:
    start: dt.date
    end: dt.date  # inclusive


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_span(key: str, today: dt.date) -> tuple[Span, Span] | None:
    """The period and the one before it (same kind and length); None for all time."""
    if not key:
        return None
    if key.endswith("_days"):
        days = int(key.split("_")[1])
        current = Span(today - dt.timedelta(days=days - 1), today)
        return current, Span(current.start - dt.timedelta(days=days), current.start - dt.timedelta(days=1))
    unit = key.split("_", 1)[1]
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    if unit == "month":
        start = today.replace(day=1)
    elif unit == "quarter":
        start = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
    else:
        start = dt.date(today.year, 1, 1)
    if key.startswith("last_"):
        start = _add_months(start, -months)

    def span(first: dt.date) -> Span:
        return Span(first, _add_months(first, months) - dt.timedelta(days=1))

    return span(start), span(_add_months(start, -months))


@dataclass(frozen=True)
class Filters:
    period: str = ""
    owner: int | None = None
    team: int | None = None

    def query(self) -> dict[str, str]:
        out = {"period": self.period}
        if self.owner is not None:
            out["owner"] = str(self.owner)
        if self.team is not None:
            out["team"] = str(self.team)
        return out


def parse_filters(params: Any, defaults: dict[str, Any], user: Any) -> Filters:
    """The dashboard's filters: the query string's, else the dashboard's defaults; ReportError
    names a bad one."""

    def pick(name: str) -> str:
        if name in params:
            return str(params.get(name) or "")
        value = defaults.get(name)
        return "" if value is None else str(value)

    period = pick("period")
    if period not in PERIOD_LABELS:
        raise ReportError("period", f"use one of: {', '.join(k for k, _ in PERIODS if k)}.")
    out: dict[str, int | None] = {}
    for name in ("owner", "team"):
        raw = pick(name)
        if raw == "me" and name == "owner":
            out[name] = user.pk
        elif raw == "":
            out[name] = None
        elif is_id(raw):
            out[name] = int(raw)
        else:
            raise ReportError(name, "give an id.")
    return Filters(period, out["owner"], out["team"])


def extra_filters(config: Config, filters: Filters, span: Span | None) -> dict[str, str]:
    rtype = registry.get(config.type)
    names = {f.name for f in rtype.filters}
    extra: dict[str, str] = {}
    target = period_filter(config)
    if span is not None and target:
        extra[f"{target}__after"] = span.start.isoformat()
        extra[f"{target}__before"] = span.end.isoformat()
    if filters.owner is not None and "owner" in names:
        extra["owner"] = str(filters.owner)
    if filters.team is not None and "team" in names:
        extra["team"] = str(filters.team)
    return extra


def period_filter(config: Config) -> str:
    """The date-range filter a dashboard's period narrows for this report ("" for none)."""
    if config.period_field:
        return config.period_field
    rtype = registry.get(config.type)
    fields = engine.group_fields(rtype)
    for g in config.group_by:
        spec = fields.get(g.field)
        if spec is not None and spec.is_date and spec.filter_name and not spec.custom:
            return spec.filter_name
    return ""


@dataclass
class Panel:
    """One widget as a viewer sees it."""

    widget: Widget
    result: Result | None = None
    error: str = ""
    previous: Result | None = None
    target: Decimal | None = None
    standard: standard.Result | None = None  # a standard report's widget (e.g. conversion per stage)

    @property
    def delta(self) -> Any:
        if self.result is None or self.previous is None:
            return None
        now, before = self.result.total.value, self.previous.total.value
        if now is None or before is None:
            return None
        return now - before

    @property
    def delta_percent(self) -> Decimal | None:
        if self.previous is None or self.delta is None or not self.previous.total.value:
            return None
        return (Decimal(self.delta) * 100 / Decimal(self.previous.total.value)).quantize(Decimal("0.1"))

    @property
    def attainment(self) -> Decimal | None:
        if self.target is None or not self.target or self.result is None or self.result.total.value is None:
            return None
        return (Decimal(self.result.total.value) * 100 / self.target).quantize(Decimal("0.1"))


def compute(dashboard: Dashboard, user: Any, filters: Filters, *, today: dt.date | None = None) -> list[Panel]:
    """Every widget of ``dashboard`` for ``user`` under ``filters``."""
    with timezone.override(engine.user_tz(user)):
        today = today or timezone.localdate()
    spans = period_span(filters.period, today)
    with customfields.memoized(), summaries.snapshot():
        return _compute(dashboard, user, filters, spans, today)


def _compute(
    dashboard: Dashboard, user: Any, filters: Filters, spans: tuple[Span, Span] | None, today: dt.date
) -> list[Panel]:
    rates = Rates()
    panels = []
    widgets = list(dashboard.widgets.select_related("report").order_by("position", "id"))
    for widget in widgets:
        panel = Panel(widget)
        panels.append(panel)
        if widget.standard:
            _compute_standard(panel, user, filters, spans, today, rates)
            continue
        try:
            config = engine.parse_config(widget.report.config, user)  # type: ignore[union-attr]  # not standard
        except ReportError as exc:
            panel.error = _unavailable(exc)
            continue
        current = spans[0] if spans else None
        now = extra_filters(config, filters, current)
        if spans and config.chart == "number" and period_filter(config):
            before = extra_filters(config, filters, spans[1])
            panel.result, panel.previous = _cached(config, user, [now, before], rates)
        else:
            (panel.result,) = _cached(config, user, [now], rates)
        if widget.options.get("target") == "quota" and spans:
            panel.target = quota_target(user, filters, spans[0])
    return panels


def standard_filters(filters: Filters, spans: tuple[Span, Span] | None, user: Any, today: dt.date) -> standard.Filters:
    """The dashboard's filters as a standard report's: the dates of its period (all time as the last 12
    months: a standard report needs a period), owner and team."""
    if spans is not None:
        start, end = spans[0].start, spans[0].end
    else:
        start, end = standard.preset_range("last_12_months", today)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if filters.owner is not None:
        params["owner"] = str(filters.owner)
    if filters.team is not None:
        params["team"] = str(filters.team)
    return standard.parse_filters(params, user)


# Standard reports whose figures change with what the deal summaries' data version follows (deals' stage,
# status, owner, team, bin), so their result may be cached like a builder widget's; for a minute at most, as
# a deal moved on and back between two runs of the summaries leaves their version alone.
CACHED_STANDARD = frozenset({"funnel"})
STANDARD_CACHE_SECONDS = 60


def _compute_standard(
    panel: Panel, user: Any, filters: Filters, spans: tuple[Span, Span] | None, today: dt.date, rates: Rates
) -> None:
    spec = standard.get(panel.widget.standard)
    if spec is None:
        panel.error = "This report no longer exists."
        return
    if spec.team_leads and not standard.leads_team(user):
        panel.error = "This report is for team leads and administrators."
        return
    try:
        wanted = standard_filters(filters, spans, user, today)
    except QueryError as exc:
        panel.error = f"This report no longer works: {exc.param}: {exc.message}"
        return
    version = summaries.data_version()
    if spec.key not in CACHED_STANDARD or version is None or summaries.usable(rates) is None:
        panel.standard = spec.compute(user, wanted)
        return
    key = _cache_key(("standard", spec.key, wanted.as_json()), "deals", user, version, rates)
    found = cache.get(key)
    if found is None:
        found = spec.compute(user, wanted)
        cache.set(key, found, STANDARD_CACHE_SECONDS)
    panel.standard = found


def _cache_key(what: Any, type_key: str, user: Any, version: Any, rates: Rates) -> str:
    """A cache key for a figure computed for ``user`` from ``type_key`` records: it holds ``what``, the
    viewer's scope, zone, locale and day, the summaries' data version and every exchange rate, so any change
    to what is counted or how it converts misses."""
    scope = user.scope_for(type_key, "view")
    who = user.pk if scope in (None, "own") or (scope == "team" and not user.team_id) else None
    tz = engine.user_tz(user)
    with timezone.override(tz):
        today = timezone.localdate()
    raw = repr(
        (what, scope, user.team_id if scope == "team" else None, who, str(tz), today, formatting.current_locale(),
         version, summaries.rates_values_key(rates))
    )  # fmt: skip
    return "reports:widget:" + hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


CACHE_SECONDS = 300


def _cached(config: Config, user: Any, extras: list[dict[str, str]], rates: Rates) -> tuple[Result, ...]:
    """A widget's results under each of ``extras`` (a number widget's period and the one before it: one
    query from the summaries), cached for repeated identical requests when the summaries answer it: the key
    holds the report, its filters, the viewer's scope, zone, locale and day, the summaries' data
    version and every exchange rate, so any change to what is counted or how it converts misses."""

    def compute() -> tuple[Result, ...]:
        if len(extras) == 2:
            return engine.run_compare(config, user, current=extras[0], previous=extras[1], rates=rates)
        return (engine.run(config, user, extra_filters=extras[0], rates=rates),)

    version = summaries.data_version()
    tz = engine.user_tz(user)
    if (
        version is None
        or summaries.usable(rates) is None
        or not all(
            summaries.plan(registry.get(config.type), config, engine.merged_params(config, e), user, tz) for e in extras
        )
    ):
        return compute()
    key = _cache_key((config.as_json(), extras), config.type, user, version, rates)
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, CACHE_SECONDS)
    return found


def _unavailable(exc: ReportError) -> str:
    if exc.field == "type":
        return "You cannot see the records this report counts."
    return f"This report no longer works: {exc.message}"


def quota_target(user: Any, filters: Filters, span: Span) -> Decimal:
    """The quotas of the owners whose deals ``user`` may see (and the dashboard's owner or team),
    over the period: per owner their quarter quotas starting in it, else their month quotas."""
    from rapport.forecasting.models import Quota

    reach = user.scope_for("deals", "view")
    people = Q()
    if reach in (None, "own"):
        people = Q(user_id=user.pk)
    elif reach == "team":
        people = Q(user__team_id=user.team_id) if user.team_id else Q(user_id=user.pk)
    if filters.owner is not None:
        people &= Q(user_id=filters.owner)
    if filters.team is not None:
        people &= Q(user__team_id=filters.team)
    rows = Quota.objects.filter(people, period_start__gte=span.start, period_start__lte=span.end)
    quarters: dict[int, Decimal] = {}
    months: dict[int, Decimal] = {}
    for uid, kind, amount in rows.values_list("user_id", "period", "amount"):
        into = quarters if kind == "quarter" else months
        into[uid] = into.get(uid, Decimal(0)) + amount
    return sum((quarters.get(u, months.get(u, Decimal(0))) for u in set(quarters) | set(months)), Decimal(0))


def readable(user: Any) -> Any:
    return Dashboard.objects.readable_by(user)
