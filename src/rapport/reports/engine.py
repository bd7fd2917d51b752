"""The report builder's engine: a report over any registered record type, with no per-type code.

A report is a :class:`Config`: the record type, filters in the saved-view syntax (the query string
the type's list page and API accept, ``cf_<key>`` included, parsed by ``core.listing.build_filter``),
up to two groupings and one measure. :func:`run` answers it for one viewer:

- **Visibility**: rows come from ``visible_to(viewer)``, the one rule, so a shared report shows each
  viewer their own numbers.
- **Groupings** (:func:`group_fields`): owner, team, every choice, link (``fk``/``record``/``user``),
  date and datetime column of the type, text columns the list can filter on exactly, and custom
  fields (choice, yes/no, user, reference, date, text). Dates are truncated to day, week (Monday),
  month, quarter or year with Django's ``Trunc`` in the viewer's time zone (datetimes; dates have no
  zone), so SQLite and PostgreSQL give the same groups.
- **Measures** (:func:`measure_fields`): count; sum, average, minimum and maximum of number, percent
  and money columns and number/money custom fields. Money is converted to the base currency at the
  rate in force on the record's day (``RecordType.money_day``, else the day it was created): rows
  are grouped by currency and rate period in SQL (``forecasting.money.RatePeriods``) and each group
  converted once, like the board and the forecast. Rows without a rate are counted apart.
- **Bounded**: at most :data:`MAX_GROUPS` groups per level, the rest summed into "Others" (of a date:
  the most recent periods kept, the earlier ones summed into "Earlier"); a grouping with more than
  :data:`MAX_RAW_GROUPS` distinct values is refused (400) before anything is shown. Every error is a
  :class:`ReportError` naming the config field.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, DateField, DateTimeField, F, Max, Min, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Trunc, TruncDate
from django.http import QueryDict
from django.utils import timezone

from rapport.core import customfields, formatting, registry
from rapport.core.listing import QueryError, build_filter
from rapport.core.registry import RecordType
from rapport.core.visibility import link_label
from rapport.forecasting.money import RatePeriods, Rates, money

from . import summaries
from .config import (  # noqa: F401  (the engine's public names, re-exported)
    AMOUNT,
    CF_GROUP_TYPES,
    CHART_LABELS,
    CHARTS,
    GRANULARITIES,
    MAX_FILTERS_LENGTH,
    MAX_GROUPS,
    MAX_RAW_GROUPS,
    OPERATION_LABELS,
    OPERATIONS,
    OTHERS,
    Config,
    GroupField,
    Grouping,
    MeasureField,
    ReportError,
    group_fields,
    measure_fields,
    parse_config,
    period_fields,
)


# --- results ------------------------------------------------------------------------------------
@dataclass
class Cell:
    """One group (or pair of groups) and its figure."""

    keys: tuple[Any, ...]  # the group values (a date's first day, an id, a choice, None, OTHERS)
    labels: tuple[str, ...]
    value: Decimal | int | None
    count: int  # records behind the figure
    url: str | None = None  # the records list behind it (drill-down); None where the list cannot select them


@dataclass
class Result:
    config: Config
    type_label: str
    group_labels: tuple[str, ...]
    measure_label: str
    value_kind: str  # count, number, percent, money
    currency: str  # base currency when value_kind == money
    rows: list[Cell]
    total: Cell
    others: bool = False
    unconverted: int = 0
    unconverted_currencies: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.total.count == 0 and self.unconverted == 0

    def format(self, value: Any) -> str:
        if value is None:
            return "—"
        if self.value_kind == "money":
            return formatting.money(value, self.currency)
        if self.value_kind == "percent":
            return formatting.percent(value)
        return formatting.number(value)

    def level_keys(self, level: int) -> list[tuple[Any, str]]:
        """The distinct values of grouping ``level`` in row order: (key, label)."""
        seen: dict[Any, str] = {}
        for row in self.rows:
            seen.setdefault(row.keys[level], row.labels[level])
        return list(seen.items())

    def pivot(self) -> dict[str, Any]:
        """Two groupings as a table: rows of the first, columns of the second, totals of each."""
        cols = self.level_keys(1)
        cells: dict[tuple[Any, Any], Cell] = {(r.keys[0], r.keys[1]): r for r in self.rows}
        out_rows = []
        for key, label in self.level_keys(0):
            out_rows.append({"label": label, "cells": [cells.get((key, c)) for c, _ in cols]})
        return {"columns": [label for _, label in cols], "rows": out_rows}

    def as_json(self) -> dict[str, Any]:
        def value(v: Any) -> Any:
            if v is None:
                return None
            return str(v) if isinstance(v, Decimal) else v

        def cell(c: Cell) -> dict[str, Any]:
            return {
                "keys": [_json_key(k) for k in c.keys],
                "labels": list(c.labels),
                "value": value(c.value),
                "count": c.count,
                "url": c.url,
            }

        return {
            "config": self.config.as_json(),
            "group_labels": list(self.group_labels),
            "measure_label": self.measure_label,
            "value_kind": self.value_kind,
            "currency": self.currency if self.value_kind == "money" else None,
            "rows": [cell(r) for r in self.rows],
            "total": cell(self.total),
            "others": self.others,
            "unconverted": self.unconverted,
            "unconverted_currencies": self.unconverted_currencies,
        }


def _json_key(key: Any) -> Any:
    if isinstance(key, dt.date):
        return key.isoformat()
    if isinstance(key, Decimal):
        return str(key)
    return key


# --- running --------------------------------------------------------------------------------------
def user_tz(user: Any) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


@dataclass
class _Agg:
    """Partial figures of one group, merged across currencies, rate periods and "Others"."""

    n: int = 0  # records
    values: int = 0  # records with a value
    total: Decimal = Decimal(0)
    low: Decimal | None = None
    high: Decimal | None = None

    def add(self, n: int, values: int, total: Any, low: Any, high: Any, rate: Decimal = Decimal(1)) -> None:
        self.n += n
        self.values += values
        if total is not None:
            self.total += Decimal(total) * rate
        if low is not None:
            low = Decimal(low) * rate
            self.low = low if self.low is None else min(self.low, low)
        if high is not None:
            high = Decimal(high) * rate
            self.high = high if self.high is None else max(self.high, high)

    def merge(self, other: _Agg) -> None:
        self.add(other.n, other.values, other.total, other.low, other.high)


def run(
    config: Config, user: Any, *, extra_filters: Mapping[str, str] | None = None, rates: Rates | None = None
) -> Result:
    """The report for ``user`` (only records they may view), in their time zone.

    ``extra_filters`` (a dashboard's period, owner and team, as list parameters) narrow the
    report's own filters; a date range narrows, an owner or team replaces."""
    tz = user_tz(user)
    with timezone.override(tz), customfields.memoized():
        return _run(config, user, tz, dict(extra_filters or {}), rates)


def merged_params(config: Config, extra: Mapping[str, str]) -> list[tuple[str, str]]:
    """The report's filters with ``extra`` applied: ``x__after`` keeps the later day, ``x__before``
    the earlier, any other parameter is replaced."""
    out: dict[str, str] = {k: ",".join(vs) for k, vs in QueryDict(config.filters).lists()}
    for k, v in extra.items():
        if k in out and (k.endswith("__after") or k.endswith("__gte")):
            out[k] = max(out[k], v)
        elif k in out and (k.endswith("__before") or k.endswith("__lte")):
            out[k] = min(out[k], v)
        else:
            out[k] = v
    return list(out.items())


def _run(config: Config, user: Any, tz: dt.tzinfo, extra: dict[str, str], loaded: Rates | None) -> Result:
    return _run_many(config, user, tz, [extra], loaded)[0]


def run_compare(
    config: Config,
    user: Any,
    *,
    current: Mapping[str, str],
    previous: Mapping[str, str],
    rates: Rates | None = None,
) -> tuple[Result, Result]:
    """The report under two sets of ``extra_filters`` (a dashboard's period and the one before): one
    query when the summaries answer both, else one live query each."""
    tz = user_tz(user)
    with timezone.override(tz), customfields.memoized():
        now, before = _run_many(config, user, tz, [dict(current), dict(previous)], rates)
    return now, before


def _run_many(
    config: Config, user: Any, tz: dt.tzinfo, extras: list[dict[str, str]], loaded: Rates | None
) -> list[Result]:
    rtype = registry.get(config.type)
    gfields = group_fields(rtype)
    groups = [(gfields[g.field], g.granularity) for g in config.group_by]
    all_params = [merged_params(config, extra) for extra in extras]
    rates = loaded or Rates()
    plans = [summaries.plan(rtype, config, params, user, tz) for params in all_params]
    if all(p is not None for p in plans) and summaries.usable(rates) is not None:
        found = [p for p in plans if p is not None]
        raw = summaries.rows(found[0], config, groups, user, previous=found[1] if len(found) > 1 else None)
        if raw is not None:
            no_day = timezone.localdate()

            def rate_of(currency: str, r: dict[str, Any]) -> Decimal | None:
                return rates.rate(currency, r["_rday"] or no_day)

            return [
                _result(config, rtype, params, groups, user, tz, [r for r in raw if r["_p"] == i], rate_of, rates)
                for i, params in enumerate(all_params)
            ]
    return [_run_live(config, user, tz, rtype, params, groups, rates) for params in all_params]


def _run_live(
    config: Config,
    user: Any,
    tz: dt.tzinfo,
    rtype: RecordType,
    params: list[tuple[str, str]],
    groups: list[tuple[GroupField, str]],
    rates: Rates,
) -> Result:
    query = QueryDict(mutable=True)
    for k, v in params:
        query[k] = v
    try:
        where = build_filter(rtype, query, user)
    except QueryError as exc:
        raise ReportError(f"filters.{exc.param}", exc.message)
    qs = rtype.model.objects.visible_to(user).filter(where)
    measures = measure_fields(rtype)
    measure = measures.get(config.measure) if config.op != "count" else None
    weight = measures.get(config.weight) if config.weight else None

    annotations: dict[str, Any] = {}
    names: list[str] = []
    for i, (spec, granularity) in enumerate(groups):
        name = f"g{i}"
        annotations[name] = _group_expression(spec, granularity, tz)
        names.append(name)

    money_measure = measure is not None and measure.kind == "money"
    periods: RatePeriods | None = None
    if money_measure:
        assert measure is not None
        periods = RatePeriods(rates, no_day=timezone.localdate())
        annotations["_day"] = _money_day(rtype)
        annotations["_rp"] = periods.expression("_day")
        annotations["_cur"] = (
            F(measure.currency_path)
            if not measure.custom
            else KeyTextTransform("currency", f"custom__{measure.custom.key}")
        )
        names += ["_cur", "_rp"]

    aggregates: dict[str, Any] = {"_n": Count("id")}
    if measure is not None:
        value = _value_expression(measure)
        if weight is not None:
            value = value * F(weight.path) / 100
        aggregates["_v"] = Count(value)
        aggregates["_sum"] = Sum(value, output_field=AMOUNT)
        if config.op in ("min", "max"):
            aggregates["_min"] = Min(value, output_field=AMOUNT)
            aggregates["_max"] = Max(value, output_field=AMOUNT)
    if weight is not None:
        qs = qs.exclude(**{f"{weight.path}__isnull": True})

    if names:
        rows_qs = qs.annotate(**annotations).values(*names).annotate(**aggregates).order_by()
        raw = list(rows_qs[: MAX_RAW_GROUPS + 1])
    else:  # one figure: one aggregate row
        raw = [qs.aggregate(**aggregates)]
    if len(raw) > MAX_RAW_GROUPS:
        raise ReportError("group_by", f"more than {MAX_RAW_GROUPS:,} groups; group by a coarser field or filter first.")

    def rate_of(currency: str, r: dict[str, Any]) -> Decimal | None:
        assert periods is not None
        return periods.rate(currency, r["_rp"])

    return _result(config, rtype, params, groups, user, tz, raw, rate_of, rates)


def _result(
    config: Config,
    rtype: RecordType,
    params: list[tuple[str, str]],
    groups: list[tuple[GroupField, str]],
    user: Any,
    tz: dt.tzinfo,
    raw: list[dict[str, Any]],
    rate_of: Any,
    rates: Rates,
) -> Result:
    """The report from its raw rows (live or from the summaries): money converted per currency and
    rate period, groups bounded, labelled, ordered, with their drill-down links."""
    measures = measure_fields(rtype)
    measure = measures.get(config.measure) if config.op != "count" else None
    weight = measures.get(config.weight) if config.weight else None
    money_measure = measure is not None and measure.kind == "money"
    groups_agg: dict[tuple[Any, ...], _Agg] = defaultdict(_Agg)
    unconverted = 0
    missing: set[str] = set()
    for r in raw:
        keys = tuple(_group_key(spec, granularity, r[f"g{i}"], tz) for i, (spec, granularity) in enumerate(groups))
        rate = Decimal(1)
        if money_measure:
            currency = (r["_cur"] or "").upper()
            found = rate_of(currency, r) if currency else None
            if found is None:
                if r.get("_v"):
                    unconverted += r["_v"]
                    missing.add(currency or "?")
                groups_agg[keys].add(r["_n"], 0, None, None, None)
                continue
            rate = found
        groups_agg[keys].add(r["_n"], r.get("_v", 0), r.get("_sum"), r.get("_min"), r.get("_max"), rate)

    bounded, others = _bound(groups, groups_agg, config)
    labels = _labels(groups, bounded, user)
    ordered_keys = _order(groups, groups_agg, labels)
    value_kind = "count" if measure is None else ("money" if money_measure else measure.kind)
    base = rates.base if money_measure else ""
    cells: list[Cell] = []
    total = _Agg()
    shown = [{k[level] for k in ordered_keys} for level in range(len(groups))]  # what "Others" leaves out
    for keys in ordered_keys:
        agg = groups_agg[keys]
        total.merge(agg)
        cells.append(
            Cell(
                keys=keys,
                labels=tuple(labels[i].get(k, str(k)) for i, k in enumerate(keys)),
                value=_figure(config.op, agg, value_kind),
                count=agg.n,
                url=_drill_url(rtype, params, groups, keys, shown),
            )
        )
    measure_label = "Records" if measure is None else f"{OPERATION_LABELS[config.op]} of {measure.label.lower()}"
    if weight is not None:
        measure_label += f" × {weight.label.lower()}"
    return Result(
        config=config,
        type_label=rtype.label_plural,
        group_labels=tuple(spec.label for spec, _ in groups),
        measure_label=measure_label,
        value_kind=value_kind,
        currency=base,
        rows=cells,
        total=Cell((), ("Total",), _figure(config.op, total, value_kind), total.n, _drill_url(rtype, params, [], ())),
        others=others,
        unconverted=unconverted,
        unconverted_currencies=sorted(missing),
    )


def _figure(op: str, agg: _Agg, kind: str) -> Decimal | int | None:
    if op == "count":
        return agg.n
    if op == "sum":
        value: Decimal | None = agg.total  # a sum of nothing is zero
    elif op == "avg":
        value = agg.total / agg.values if agg.values else None
    elif op == "min":
        value = agg.low
    else:
        value = agg.high
    if value is None:
        return None
    if kind == "money" or op == "avg":
        return money(value)
    return value.normalize() if value == value.to_integral_value() else value


def _bound(
    groups: list[tuple[GroupField, str]], aggs: dict[tuple[Any, ...], _Agg], config: Config
) -> tuple[list[tuple[Any, ...]], bool]:
    """Keep at most MAX_GROUPS values per level, the rest merged into OTHERS: the largest, or of a date
    the most recent periods (a contiguous stretch up to the last, "No date" apart), so that OTHERS is
    everything before the first period shown ("Earlier") and the list can select it."""
    if not groups:
        return [()], False
    if not aggs:
        return [], False
    others = False
    for level, (spec, _) in enumerate(groups):
        size: dict[Any, int] = defaultdict(int)
        for keys, agg in aggs.items():
            size[keys[level]] += agg.n
        if len(size) <= MAX_GROUPS:
            continue
        keep: set[Any]
        if spec.is_date:
            dates = sorted(k for k in size if k is not None)
            room = max(MAX_GROUPS - 1 - (None in size), 0)  # OTHERS and "No date" take a place each
            keep = {None, *dates[len(dates) - room :]}
        else:
            keep = set(sorted(size, key=lambda k: (-size[k], _sort_key(k)))[: MAX_GROUPS - 1])
        merged: dict[tuple[Any, ...], _Agg] = defaultdict(_Agg)
        for keys, agg in aggs.items():
            new = tuple(OTHERS if i == level and k not in keep else k for i, k in enumerate(keys))
            merged[new].merge(agg)
        aggs.clear()
        aggs.update(merged)
        others = True

    return list(aggs), others


def _order(
    groups: list[tuple[GroupField, str]], aggs: dict[tuple[Any, ...], _Agg], labels: list[dict[Any, str]]
) -> list[tuple[Any, ...]]:
    """Rows in reading order per level: dates in time order, choices in their declared order,
    settings rows (stages, pipelines) in their own order, anything else largest first; "not set"
    and "Others" last, but a date's "Others" ("Earlier") first."""
    if not groups:
        return list(aggs)

    def level_order(level: int) -> dict[Any, int]:
        spec, _ = groups[level]
        size: dict[Any, int] = defaultdict(int)
        for keys, agg in aggs.items():
            size[keys[level]] += agg.n
        if spec.is_date:
            rank: Any = _sort_key
        elif spec.kind in ("choice", "boolean") and spec.choices and not spec.custom:
            declared = {_choice_key(spec, c): i for i, (c, _) in enumerate(spec.choices)}
            rank = lambda k: (0, declared.get(k, len(declared)), _sort_key(k))  # noqa: E731
        elif spec.kind == "fk":
            position = {k: i for i, k in enumerate(labels[level])}  # the related model's own order
            rank = lambda k: (0, position.get(k, 0))  # noqa: E731
        else:
            rank = lambda k: (0, -size[k], _sort_key(k))  # noqa: E731
        last = not spec.is_date  # "Earlier" comes before the periods it precedes
        ordered = sorted(size, key=lambda k: (k == OTHERS and last, k is None, k != OTHERS, rank(k)))
        return {k: i for i, k in enumerate(ordered)}

    orders = [level_order(i) for i in range(len(groups))]
    return sorted(aggs, key=lambda ks: tuple(orders[i][k] for i, k in enumerate(ks)))


def _choice_key(spec: GroupField, value: str) -> Any:
    return value.lower() in ("true", "1") if spec.kind == "boolean" else value


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == OTHERS:
        return (2, "")
    if isinstance(value, bool):
        return (0, int(not value))
    if isinstance(value, (int, Decimal)):
        return (0, value)
    if isinstance(value, dt.date):
        return (0, value.toordinal())
    return (1, str(value).lower())


# --- expressions --------------------------------------------------------------------------------
def _group_expression(spec: GroupField, granularity: str, tz: dt.tzinfo) -> Any:
    if spec.custom is not None:
        text = KeyTextTransform(spec.custom.key, "custom")
        if spec.kind == "date":
            return Trunc(Cast(text, DateField()), granularity, output_field=DateField())
        return text
    if spec.kind == "datetime":
        # The day the viewer saw it, in their time zone (Trunc converts before truncating).
        return Trunc(spec.path, granularity, output_field=DateTimeField(), tzinfo=tz)
    if spec.kind == "date":
        return Trunc(spec.path, granularity, output_field=DateField())
    return F(spec.path)


def _value_expression(measure: MeasureField) -> Any:
    if measure.custom is not None:
        key = measure.custom.key
        if measure.kind == "money":
            return Cast(KeyTextTransform("amount", f"custom__{key}"), AMOUNT)
        return Cast(KeyTextTransform(key, "custom"), AMOUNT)
    return F(measure.path)


def _money_day(rtype: RecordType) -> Any:
    """The day whose exchange rate converts a record's money: the first set of the type's
    ``money_day`` dates (a deal's won/lost day, else its expected close; neither: today, like the
    board), or for types that declare none the day the record was created (UTC)."""
    days = [F(p) for p in rtype.money_day]
    if not days:
        return TruncDate("created_at", tzinfo=dt.UTC)
    return days[0] if len(days) == 1 else Coalesce(*days, output_field=DateField())


def _group_key(spec: GroupField, granularity: str, value: Any, tz: dt.tzinfo) -> Any:
    if value is None:
        return None
    if spec.is_date:
        if isinstance(value, dt.datetime):
            if timezone.is_aware(value):
                value = value.astimezone(tz)
            return value.date()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value[:10])
            except ValueError:
                return None
        return value
    if spec.kind == "boolean":
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)
    if spec.kind in ("user", "team", "fk", "record"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return str(value) or None  # an empty text or choice is "Not set", like a missing one


# --- labels ---------------------------------------------------------------------------------------
def period_end(start: dt.date, granularity: str) -> dt.date:
    """The last day of the period starting on ``start``."""
    if granularity == "day":
        return start
    if granularity == "week":
        return start + dt.timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    index = start.year * 12 + start.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1) - dt.timedelta(days=1)


def period_label(start: dt.date, granularity: str) -> str:
    from babel.dates import format_date

    locale = formatting.babel_locale(formatting.current_locale())
    if granularity == "day":
        return formatting.date(start)
    if granularity == "week":
        return f"Week of {formatting.date(start)}"
    if granularity == "month":
        return format_date(start, "LLL y", locale=locale)
    if granularity == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return str(start.year)


def _labels(groups: list[tuple[GroupField, str]], keys: list[tuple[Any, ...]], user: Any) -> list[dict[Any, str]]:
    """Per level, the label of each key: one query per linked kind (users, teams, linked records)."""
    out: list[dict[Any, str]] = []
    for level, (spec, granularity) in enumerate(groups):
        values = {k[level] for k in keys} - {None, OTHERS}
        labels: dict[Any, str] = {None: _none_label(spec), OTHERS: _others_label(spec)}
        if spec.is_date:
            labels.update({v: period_label(v, granularity) for v in values})
        elif spec.kind == "user":
            from rapport.accounts.models import User

            users = User.objects.filter(pk__in=values).only("pk", "first_name", "last_name", "username")
            names = {u.pk: u.display_name for u in users}
            labels.update({v: names.get(v, f"#{v}") for v in values})
        elif spec.kind == "team":
            from rapport.accounts.models import Team

            names = dict(Team.objects.filter(pk__in=values).values_list("pk", "name"))
            labels.update({v: names.get(v, f"#{v}") for v in values})
        elif spec.kind == "fk":
            fields = spec.link_fields or ("name",)
            rows = spec.related._default_manager.filter(pk__in=values).values("pk", *fields)
            labels = {r["pk"]: " ".join(str(r[f] or "") for f in fields).strip() for r in rows}  # in its order
            labels.update({v: f"#{v}" for v in values if v not in labels})
            labels.update({None: _none_label(spec), OTHERS: _others_label(spec)})
        elif spec.kind == "record":
            target = registry.find(spec.link_type)
            names = {}
            if target is not None:
                rows = target.model.objects.filter(pk__in=values).values(
                    "pk", "owner_id", "team_id", *target.title_fields
                )
                for r in rows:
                    title = " ".join(str(r[t] or "") for t in target.title_fields).strip()
                    name = link_label(user, target.key, title, owner_id=r["owner_id"], team_id=r["team_id"])
                    if name is not None:
                        names[r["pk"]] = name
            labels.update({v: names.get(v, f"#{v}") for v in values})
        elif spec.kind == "boolean":
            choices = {str(k).lower(): v for k, v in spec.choices}
            labels.update({v: choices.get(str(v).lower(), "Yes" if v else "No") for v in values})
        elif spec.kind == "choice":
            choices = dict(spec.choices)
            labels.update({v: choices.get(v, formatting.humanize_key(v) if not spec.custom else v) for v in values})
        else:
            labels.update({v: str(v) for v in values})
        out.append(labels)
    return out


def _others_label(spec: GroupField) -> str:
    return "Earlier" if spec.is_date else "Others"


def _none_label(spec: GroupField) -> str:
    if spec.is_date:
        return "No date"
    if spec.kind in ("user",):
        return f"No {spec.label.lower()}"
    if spec.kind == "team":
        return "No team"
    return "Not set"


# --- drill-down -----------------------------------------------------------------------------------
def _group_params(
    spec: GroupField, granularity: str, key: Any, shown: set[Any] | None = None
) -> list[tuple[str, str]] | None:
    """The list filters selecting the records of one group (for "Others", those of none of the ``shown``
    groups of its level); None when the list cannot."""
    if not spec.filter_name:
        return None
    name = spec.filter_name
    if key == OTHERS:
        return _others_params(spec, shown or set())
    if spec.is_date:
        if key is None:  # "No date"
            return [(f"{name}__isnull", "true")]
        end = period_end(key, granularity)
        if spec.custom is not None:
            return [(f"{name}__gte", key.isoformat()), (f"{name}__lte", end.isoformat())]
        return [(f"{name}__after", key.isoformat()), (f"{name}__before", end.isoformat())]
    if key is None:
        if spec.custom is not None or spec.kind in ("text", "choice"):  # no value, or an empty one
            return [(f"{name}__isnull", "true")]
        if spec.kind in ("user", "team", "fk", "record"):
            return [(name, "none")]
        return None
    if spec.kind == "boolean":
        return [(name, "true" if key else "false")]
    return [(name, str(key))]


def _others_params(spec: GroupField, shown: set[Any]) -> list[tuple[str, str]] | None:
    """The records in none of the groups shown beside "Others": ``<filter>__not=<the shown values>``, with
    ``none`` for a shown missing link and ``<filter>__isnull=false`` for a shown "Not set" text, choice or
    custom field. Of a date ("Earlier"): ``<date filter>__before`` (custom: ``__lte``) the day before the
    first period shown, which :func:`_bound` keeps contiguous. None where the list cannot say it: a
    built-in yes/no, a value holding a comma (the list reads it as "any of")."""
    name = spec.filter_name
    if spec.is_date:
        dates = sorted(shown - {OTHERS, None})
        if not dates:  # no period shown: every dated record
            return [(f"{name}__isnull", "false")]
        before = (dates[0] - dt.timedelta(days=1)).isoformat()
        return [(f"{name}__lte" if spec.custom is not None else f"{name}__before", before)]
    if spec.kind == "boolean" and spec.custom is None:
        return None
    values: list[str] = []
    out: list[tuple[str, str]] = []
    for key in sorted(shown - {OTHERS}, key=_sort_key):
        if key is None:
            if spec.kind in ("user", "team", "fk", "record") and spec.custom is None:
                values.append("none")
            else:
                out.append((f"{name}__isnull", "false"))  # not empty either
        elif isinstance(key, bool):
            values.append("true" if key else "false")
        elif "," in str(key):
            return None
        else:
            values.append(str(key))
    if values:
        out.insert(0, (f"{name}__not", ",".join(values)))
    return out  # nothing shown: every record


def _drill_url(
    rtype: RecordType,
    params: list[tuple[str, str]],
    groups: list[tuple[GroupField, str]],
    keys: tuple[Any, ...],
    shown: list[set[Any]] | None = None,
) -> str | None:
    extra: dict[str, str] = {}
    for level, ((spec, granularity), key) in enumerate(zip(groups, keys, strict=True)):
        found = _group_params(spec, granularity, key, shown[level] if shown else None)
        if found is None:
            return None
        extra.update(found)
    merged = dict(params)
    for k, v in extra.items():
        if k in merged and k.endswith(("__after", "__gte")):
            merged[k] = max(merged[k], v)
        elif k in merged and k.endswith(("__before", "__lte")):
            merged[k] = min(merged[k], v)
        elif k in merged and k.endswith("__not"):  # the report's own exclusions and the shown groups
            merged[k] = ",".join(dict.fromkeys([*merged[k].split(","), *v.split(",")]))
        else:
            merged[k] = v
    query = urlencode(sorted(merged.items()))
    return f"/{rtype.key}/" + (f"?{query}" if query else "")
