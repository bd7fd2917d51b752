"""What a report is: the fields a record type offers to group by and to measure (from the registry
and the custom field definitions, no per-type code), and the validated configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import DecimalField
from django.http import QueryDict

from rapport.core import customfields, registry
from rapport.core.inputs import bad_text
from rapport.core.listing import QueryError, build_filter
from rapport.core.models import CustomField
from rapport.core.registry import Column, RecordType

MAX_GROUPS = 500  # per level; the rest is summed into "Others"
MAX_RAW_GROUPS = 50_000  # distinct (groups × currency × rate period) rows read from the database
MAX_FILTERS_LENGTH = 2000
GRANULARITIES = ("day", "week", "month", "quarter", "year")
OPERATIONS = ("count", "sum", "avg", "min", "max")
OPERATION_LABELS = {"count": "Count", "sum": "Sum", "avg": "Average", "min": "Minimum", "max": "Maximum"}
CHARTS = ("bar", "stacked_bar", "line", "area", "pie", "funnel", "number", "table")
CHART_LABELS = {
    "bar": "Bar",
    "stacked_bar": "Stacked bar",
    "line": "Line",
    "area": "Area",
    "pie": "Pie",
    "funnel": "Funnel",
    "number": "Number",
    "table": "Table",
}
OTHERS = "__others__"
AMOUNT = DecimalField(max_digits=30, decimal_places=10)
CF_GROUP_TYPES = ("choice", "boolean", "user", "reference", "date", "text")


class ReportError(ValueError):
    """A report configuration that cannot run; ``field`` names the part of the config."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- what a type offers -----------------------------------------------------------------------
@dataclass(frozen=True)
class GroupField:
    key: str  # "owner", "stage", "created_at", "cf_region"
    label: str
    kind: str  # user, team, choice, fk, record, date, datetime, text, boolean
    path: str = ""  # the values() path (a foreign key's *_id), "" for custom fields
    choices: tuple[tuple[str, str], ...] = ()
    link_type: str = ""  # record: the linked type key
    related: Any = None  # fk: the linked model
    link_fields: tuple[str, ...] = ()
    filter_name: str = ""  # the list filter that selects one group value ("" when none)
    custom: CustomField | None = None

    @property
    def is_date(self) -> bool:
        return self.kind in ("date", "datetime")


@dataclass(frozen=True)
class MeasureField:
    key: str
    label: str
    kind: str  # number, percent, money
    path: str = ""
    currency_path: str = ""  # money columns: the column holding the currency
    custom: CustomField | None = None


def _filter_for(rtype: RecordType, path: str, kinds: tuple[str, ...]) -> str:
    for f in rtype.filters:
        if f.kind in kinds and f.path in (path, f"{path}_id"):
            return f.name
    return ""


def group_fields(rtype: RecordType) -> dict[str, GroupField]:
    """The fields a report over ``rtype`` can group by, in the order the builder offers them."""
    out: dict[str, GroupField] = {
        "owner": GroupField("owner", "Owner", "user", "owner_id", filter_name=_filter_for(rtype, "owner", ("user",))),
        "team": GroupField("team", "Team", "team", "team_id", filter_name=_filter_for(rtype, "team", ("team",))),
    }
    model = rtype.model
    for col in rtype.columns:
        if col.key in out:
            continue
        spec = _group_from_column(rtype, model, col)
        if spec is not None:
            out[spec.key] = spec
    for name, label in (("created_at", "Created"), ("updated_at", "Updated")):
        if name not in out:
            out[name] = GroupField(name, label, "datetime", name, filter_name=_filter_for(rtype, name, ("date_range",)))
    for cf in customfields.definitions(rtype.key):
        if cf.field_type not in CF_GROUP_TYPES:
            continue
        kind = {"choice": "choice", "boolean": "boolean", "user": "user", "reference": "record", "date": "date"}.get(
            cf.field_type, "text"
        )
        out[f"cf_{cf.key}"] = GroupField(
            f"cf_{cf.key}",
            cf.label,
            kind,
            choices=tuple((str(c), str(c)) for c in cf.choices or ()),
            link_type=cf.reference_type,
            filter_name=f"cf_{cf.key}",
            custom=cf,
        )
    return out


def _group_from_column(rtype: RecordType, model: Any, col: Column) -> GroupField | None:
    if col.kind == "user":
        return GroupField(
            col.key, col.label, "user", f"{col.path}_id", filter_name=_filter_for(rtype, col.path, ("user",))
        )
    if col.kind == "choice":
        is_bool = model._meta.get_field(col.path).get_internal_type() == "BooleanField"
        return GroupField(
            col.key,
            col.label,
            "boolean" if is_bool else "choice",
            col.path,
            choices=col.choices,
            filter_name=_filter_for(rtype, col.path, ("choice",)),
        )
    if col.kind == "fk":
        related = model._meta.get_field(col.path).related_model
        return GroupField(
            col.key,
            col.label,
            "fk",
            f"{col.path}_id",
            related=related,
            link_fields=col.link_fields,
            filter_name=_filter_for(rtype, col.path, ("id", "record")),
        )
    if col.kind == "record":
        return GroupField(
            col.key,
            col.label,
            "record",
            f"{col.path}_id",
            link_type=col.link_type,
            filter_name=_filter_for(rtype, col.path, ("record", "id")),
        )
    if col.kind in ("date", "datetime"):
        return GroupField(
            col.key, col.label, col.kind, col.path, filter_name=_filter_for(rtype, col.path, ("date_range",))
        )
    if col.kind == "text":
        name = _filter_for(rtype, col.path, ("exact",))
        if name:  # only text the list can filter on exactly (industry, country, currency)
            return GroupField(col.key, col.label, "text", col.path, filter_name=name)
    return None


def measure_fields(rtype: RecordType) -> dict[str, MeasureField]:
    """The numeric fields a report over ``rtype`` can sum, average, or take the min/max of."""
    out: dict[str, MeasureField] = {}
    by_key = rtype.columns_by_key
    for col in rtype.columns:
        if col.kind in ("number", "percent"):
            out[col.key] = MeasureField(col.key, col.label, col.kind, col.path)
        elif col.kind == "money" and col.currency in by_key:
            out[col.key] = MeasureField(col.key, col.label, "money", col.path, currency_path=by_key[col.currency].path)
    for cf in customfields.definitions(rtype.key):
        if cf.field_type in ("number", "money"):
            out[f"cf_{cf.key}"] = MeasureField(f"cf_{cf.key}", cf.label, cf.field_type, custom=cf)
    return out


def period_fields(rtype: RecordType) -> list[tuple[str, str]]:
    """The date-range filters of ``rtype`` (name, label): what a dashboard's period can apply to."""
    return [(f.name, f.label) for f in rtype.filters if f.kind == "date_range"]


# --- the configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class Grouping:
    field: str
    granularity: str = ""  # dates only


@dataclass(frozen=True)
class Config:
    type: str
    filters: str = ""  # a list query string: "status=open&owner=me&cf_region=EU"
    group_by: tuple[Grouping, ...] = ()
    op: str = "count"
    measure: str = ""  # a measure field key ("" for count)
    weight: str = ""  # an optional percent field each value is multiplied by (weighted pipeline)
    chart: str = "bar"
    period_field: str = ""  # the date-range filter a dashboard's period applies to

    def as_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "filters": self.filters,
            "group_by": [{"field": g.field, "granularity": g.granularity} for g in self.group_by],
            "measure": {"op": self.op, "field": self.measure or None, "weight": self.weight or None},
            "chart": self.chart,
            "period_field": self.period_field or None,
        }


def _text(data: Mapping[str, Any], name: str, *, where: str = "", limit: int = 100) -> str:
    value = data.get(name)
    if value is None:
        return ""
    label = where or name
    if not isinstance(value, str):
        raise ReportError(label, "give text.")
    problem = bad_text(value)
    if problem:
        raise ReportError(label, problem)
    if len(value) > limit:
        raise ReportError(label, f"use at most {limit} characters.")
    return value.strip()


def parse_config(data: Any, user: Any) -> Config:
    """A validated :class:`Config` from JSON (the API body, a saved report, the builder's form);
    raises ReportError naming the field."""
    if not isinstance(data, Mapping):
        raise ReportError("config", "give an object.")
    unknown = set(data) - {"type", "filters", "group_by", "measure", "chart", "period_field"}
    if unknown:
        raise ReportError(sorted(unknown)[0], "is not a report setting.")
    type_key = _text(data, "type", limit=40)
    rtype = registry.find(type_key)
    if rtype is None or user is None or user.scope_for(type_key, "view") is None:
        choices = ", ".join(t.key for t in registry.all_types() if user is not None and user.scope_for(t.key, "view"))
        raise ReportError("type", f"{type_key!r} is not a record type you can report on; choose one of: {choices}.")
    filters = _text(data, "filters", limit=MAX_FILTERS_LENGTH).lstrip("?")
    params = QueryDict(filters)
    try:
        build_filter(rtype, params, user)
    except QueryError as exc:
        raise ReportError(f"filters.{exc.param}", exc.message)
    for control in ("cursor", "ordering", "page_size", "columns", "view", "format"):
        if control in params:
            raise ReportError(f"filters.{control}", "is a list setting, not a filter.")

    groups_raw = data.get("group_by") or []
    if not isinstance(groups_raw, list):
        raise ReportError("group_by", "give a list of at most two groupings.")
    if len(groups_raw) > 2:
        raise ReportError("group_by", "group by at most two fields.")
    available = group_fields(rtype)
    groups: list[Grouping] = []
    for i, g in enumerate(groups_raw):
        where = f"group_by[{i}]"
        if isinstance(g, str):
            g = {"field": g}
        if not isinstance(g, Mapping) or set(g) - {"field", "granularity"}:
            raise ReportError(where, "give {field, granularity}.")
        key = _text(g, "field", where=f"{where}.field", limit=60)
        spec = available.get(key)
        if spec is None:
            raise ReportError(
                f"{where}.field",
                f"{key!r} cannot group {rtype.label_plural.lower()}; use one of: {', '.join(available)}.",
            )
        granularity = _text(g, "granularity", where=f"{where}.granularity", limit=10)
        if spec.is_date:
            granularity = granularity or "month"
            if granularity not in GRANULARITIES:
                raise ReportError(f"{where}.granularity", f"use one of: {', '.join(GRANULARITIES)}.")
        elif granularity:
            raise ReportError(f"{where}.granularity", f"{spec.label} is not a date.")
        if any(x.field == key for x in groups):
            raise ReportError(f"{where}.field", "group by two different fields.")
        groups.append(Grouping(key, granularity))

    measure_raw = data.get("measure") or {"op": "count"}
    if isinstance(measure_raw, str):
        measure_raw = {"op": measure_raw}
    if not isinstance(measure_raw, Mapping) or set(measure_raw) - {"op", "field", "weight"}:
        raise ReportError("measure", "give {op, field, weight}.")
    op = _text(measure_raw, "op", where="measure.op", limit=10) or "count"
    if op not in OPERATIONS:
        raise ReportError("measure.op", f"use one of: {', '.join(OPERATIONS)}.")
    measures = measure_fields(rtype)
    measure = _text(measure_raw, "field", where="measure.field", limit=60)
    weight = _text(measure_raw, "weight", where="measure.weight", limit=60)
    if op == "count":
        if measure or weight:
            raise ReportError("measure.field", "a count takes no field.")
    else:
        if measure not in measures:
            names = ", ".join(measures) or "none"
            raise ReportError("measure.field", f"{measure!r} is not a number of {rtype.key}; use one of: {names}.")
        if weight:
            if op != "sum":
                raise ReportError("measure.weight", "only a sum can be weighted.")
            if weight not in measures or measures[weight].kind != "percent" or measures[weight].custom:
                pct = ", ".join(k for k, m in measures.items() if m.kind == "percent" and not m.custom) or "none"
                raise ReportError("measure.weight", f"{weight!r} is not a percent field; use one of: {pct}.")
    chart = _text(data, "chart", limit=20) or ("number" if not groups else "bar")
    if chart not in CHARTS:
        raise ReportError("chart", f"use one of: {', '.join(CHARTS)}.")
    period_field = _text(data, "period_field", limit=60)
    periods = dict(period_fields(rtype))
    if period_field and period_field not in periods:
        raise ReportError("period_field", f"{period_field!r} is not a date filter; use one of: {', '.join(periods)}.")
    return Config(
        type=type_key,
        filters=filters,
        group_by=tuple(groups),
        op=op,
        measure=measure,
        weight=weight,
        chart=chart,
        period_field=period_field,
    )
