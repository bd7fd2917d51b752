"""List queries shared by pages, the API and exports: filters from query parameters (unknown ones
rejected), ordering, keyset cursors and the row projection read with ``values()``."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connections
from django.db.models import BooleanField, CharField, DateTimeField, Q, QuerySet, TextField
from django.utils import timezone

from . import customfields, inputs, registry, search
from .models import CustomField, to_json_value
from .registry import Column, RecordType
from .visibility import link_label

# Parameters every list accepts besides the type's filters.
CONTROL_PARAMS = {"cursor", "ordering", "page_size", "columns", "view", "format"}
# The search within a list: the search index restricted to the type, combined with the filters.
SEARCH_PARAM = "q"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# The page_size parameter as the OpenAPI schema declares it (clients see the bound).
PAGE_SIZE_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}


class QueryError(ValueError):
    """A bad list parameter; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist else [params[name]]
    out: list[str] = []
    for item in raw:
        problem = inputs.bad_text(str(item))
        if problem:
            raise QueryError(name, problem)
        out.extend(v for v in str(item).split(",") if v != "")
    return out


def _int(param: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise QueryError(param, f"{value!r} is not a number.")


def _id(param: str, value: str) -> int:
    """A record id from a query value; beyond 64 bits the database driver overflowed (a 500)."""
    if not inputs.is_id(value):
        raise QueryError(param, f"{value[:40]!r} is not an id.")
    return int(value)


def parse_day(param: str, value: str) -> dt.date:
    try:
        return inputs.parse_day(value)
    except ValueError as exc:
        raise QueryError(param, str(exc))


def _day(param: str, value: str, *, end: bool) -> dt.datetime:
    day = parse_day(param, value)
    if end:
        day = day + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _model_field(rtype: RecordType, path: str) -> Any:
    try:
        return rtype.model._meta.get_field(path)
    except Exception:
        return None


# Filter kinds that take ``<name>__not`` (none of the values; a null counts as "none" where it may be).
NEGATABLE = ("user", "team", "record", "id", "choice", "exact")
# Filter kinds that take ``<name>__isnull=true|false``: empty (no value or "") or filled in. A report's
# "Not set" group of a text or choice, and its "Others" beside one (``__not`` and ``__isnull=false``).
EMPTIABLE = ("choice", "exact")


def _yes(param: str, values: list[str]) -> bool:
    wanted = {v.lower() for v in values}
    if len(wanted) != 1 or not wanted <= {"true", "false", "yes", "no"}:
        raise QueryError(param, "use true or false.")
    return wanted <= {"true", "yes"}


def _values_q(rtype: RecordType, spec: registry.Filter, param: str, values: list[str], user: Any) -> Q:
    """The records whose ``spec`` field holds one of ``values`` (ids, ``me``, ``none``, choices, text)."""
    if spec.kind == "choice":
        valid = {c for c, _ in spec.choices}
        for value in values:
            if value not in valid:
                raise QueryError(param, f"{value!r} is not one of: {', '.join(sorted(valid))}.")
        if isinstance(_model_field(rtype, spec.path), BooleanField):  # choices "true"/"false"
            return Q(**{f"{spec.path}__in": [v.lower() in ("true", "1", "yes") for v in values]})
        return Q(**{f"{spec.path}__in": values})
    if spec.kind == "exact":
        return Q(**{f"{spec.path}__in": values})
    ids: list[int | None] = []
    for value in values:
        if value == "me" and spec.kind == "user":
            ids.append(user.id)
        elif value == "none":
            ids.append(None)
        else:
            ids.append(_id(param, value))
    sub = Q(**{f"{spec.path}__in": [i for i in ids if i is not None]})
    if None in ids:
        sub |= Q(**{f"{spec.path}__isnull": True})
    return sub


def build_filter(rtype: RecordType, params: Mapping[str, Any], user: Any, *, extra: Iterable[str] = ()) -> Q:
    """Turn query parameters into a Q; any parameter that is neither a filter of the type, a
    custom field filter nor a control parameter raises QueryError."""
    allowed = CONTROL_PARAMS | set(extra)
    filters = {f.name: f for f in rtype.filters}
    cfs: dict[str, CustomField] | None = None
    q = Q()
    queries: dict[str, dict[str, list[str]]] = {}  # kind == "query": the values of each part, read together
    for param in params:
        if param in allowed:
            continue
        if param == SEARCH_PARAM:
            q &= search_filter(rtype, params)
            continue
        values = _values(params, param)
        if not values:
            continue
        base, _, op = param.partition("__")
        if base.startswith("cf_"):
            if cfs is None:
                cfs = {d.key: d for d in customfields.definitions(rtype.key)}
            field = cfs.get(base[3:])
            if field is None:
                raise QueryError(param, f"there is no custom field {base[3:]!r} on {rtype.key}.")
            sub = Q()
            for value in values:
                try:
                    part = customfields.filter_q(field, op, value)
                except (customfields.FieldError, TypeError) as exc:
                    raise QueryError(param, str(exc))
                sub = sub & part if op == "not" else sub | part  # __not: none of them, else any of them
            q &= sub
            continue
        spec = filters.get(base)
        if spec is None:
            known = ", ".join(sorted(filters)) + ", cf_<key>"
            raise QueryError(param, f"{param!r} is not a filter of {rtype.key}. Filters: {known}.")
        if spec.kind == "query":
            if op not in {part for part, _, _ in spec.parts}:
                ops = ", ".join(base + (f"__{part}" if part else "") for part, _, _ in spec.parts)
                raise QueryError(param, f"use {ops}.")
            queries.setdefault(base, {})[op] = values
            continue
        if spec.kind == "date_range":
            if op == "isnull":  # true: no date ("No date" in a report), false: any date
                q &= Q(**{f"{spec.path}__isnull": _yes(param, values)})
                continue
            if op not in ("after", "before", "gte", "lte"):
                raise QueryError(param, f"use {base}__after or {base}__before with a date, or {base}__isnull.")
            start = op in ("after", "gte")
            if isinstance(rtype.model._meta.get_field(spec.path), DateTimeField):
                lookup = "gte" if start else "lt"
                q &= Q(**{f"{spec.path}__{lookup}": _day(param, values[0], end=not start)})
            else:
                day = parse_day(param, values[0])
                q &= Q(**{f"{spec.path}__{'gte' if start else 'lte'}": day})
            continue
        if op == "isnull" and spec.kind in EMPTIABLE:  # true: empty ("Not set" in a report), false: filled in
            empty = Q(**{f"{spec.path}__isnull": True})
            if isinstance(_model_field(rtype, spec.path), (CharField, TextField)):
                empty |= Q(**{spec.path: ""})
            q &= empty if _yes(param, values) else ~empty
            continue
        if op and not (op == "not" and spec.kind in NEGATABLE):
            raise QueryError(param, f"{base} takes no operator.")
        if op == "not":  # none of these values (a report's "Others": the groups not shown)
            q &= ~_values_q(rtype, spec, param, values, user)
            continue
        if spec.kind == "link":
            # records linked through a (type_key, record_id) child table, e.g. an activity's links
            linked = [_id(param, v) for v in values]
            q &= Q(**{f"{spec.path}__type_key": spec.link_type, f"{spec.path}__record_id__in": linked})
            continue
        if spec.kind in NEGATABLE:
            q &= _values_q(rtype, spec, param, values, user)
        elif spec.kind == "present":
            # yes: the text field is filled in; no: it is empty (reports' data quality drills down here)
            wanted = {v.lower() for v in values}
            if not wanted <= {"yes", "no"}:
                raise QueryError(param, "use yes or no.")
            if len(wanted) == 1:
                empty = Q(**{spec.path: ""}) | Q(**{f"{spec.path}__isnull": True})
                q &= ~empty if wanted == {"yes"} else empty
        elif spec.kind == "tag":
            sub = Q()
            for value in values:
                sub |= Q(**{f"{spec.path}__has_element": value})
            q &= sub
        else:
            q &= Q(**{f"{spec.path}__in": values})
    for name, parts in queries.items():
        build = filters[name].query
        assert build is not None, f"the query filter {name} has no query"
        q &= build(parts, user)
    return q


def search_text(params: Mapping[str, Any]) -> str:
    """The list's search words (``q``), checked: at most ``search.MAX_QUERY`` characters."""
    getlist = getattr(params, "getlist", None)
    raw = getlist(SEARCH_PARAM) if getlist else [params.get(SEARCH_PARAM, "")]
    text = " ".join(str(v) for v in raw if v is not None).strip()
    problem = inputs.bad_text(text)
    if problem:
        raise QueryError(SEARCH_PARAM, problem)
    if len(text) > search.MAX_QUERY:
        raise QueryError(SEARCH_PARAM, f"search with at most {search.MAX_QUERY} characters.")
    return text


def search_filter(rtype: RecordType, params: Mapping[str, Any]) -> Q:
    text = search_text(params)
    return search.matching_records(rtype.key, text) if text else Q()


@dataclass(frozen=True)
class Ordering:
    key: str
    path: str
    descending: bool

    @property
    def param(self) -> str:
        return ("-" if self.descending else "") + self.key


def parse_ordering(rtype: RecordType, value: str | None) -> Ordering:
    value = value or rtype.default_ordering
    desc = value.startswith("-")
    key = value.lstrip("-")
    col = rtype.columns_by_key.get(key)
    if col is None or not col.sortable:
        raise QueryError("ordering", f"cannot sort by {key!r}; sortable: {', '.join(rtype.sortable_keys)}.")
    return Ordering(key=key, path=col.path, descending=desc)


def encode_cursor(value: Any, pk: int, *, reverse: bool = False) -> str:
    payload = orjson.dumps({"v": to_json_value(value), "id": pk, "r": reverse})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int, bool]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        value, pk, reverse = data["v"], int(data["id"]), bool(data.get("r"))
    except Exception:
        raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
    # a hand-made cursor must not carry what the database refuses (NUL text, integers past 64 bits)
    if not 0 < pk < 2**63 or (isinstance(value, str) and inputs.bad_text(value)):
        raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
    if isinstance(value, int) and not -(2**63) < value < 2**63:
        raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
    return value, pk, reverse


def page_size(params: Mapping[str, Any]) -> int:
    raw = params.get("page_size")
    if raw in (None, ""):
        return DEFAULT_PAGE_SIZE
    size = _int("page_size", str(raw))
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise QueryError("page_size", f"use a number from 1 to {MAX_PAGE_SIZE}.")
    return size


@dataclass
class Page:
    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def keyset_condition(
    model: Any, path: str, descending: bool, value: Any, pk: int, connection: Any
) -> tuple[str, list[Any]]:
    """``(col, id) < (value, pk)`` (or ``>``): a row-value comparison, which PostgreSQL and
    SQLite both answer with a range scan of the (col, id) index. The equivalent
    ``col < v OR (col = v AND id < pk)`` made PostgreSQL scan from the start: ~1 s deep in 1M rows."""
    field = model._meta.get_field(path)
    try:
        prepared = field.get_db_prep_value(field.to_python(value), connection)
    except Exception:
        raise QueryError("cursor", "this cursor is not valid; start again from the first page.")
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    op = "<" if descending else ">"
    return f"({table}.{qn(field.column)}, {table}.{qn('id')}) {op} (%s, %s)", [prepared, pk]


def paginate(qs: QuerySet, ordering: Ordering, cursor: str | None, size: int, *, fields: list[str]) -> Page:
    """Keyset page over (ordering column, id): constant time at any depth."""
    path, desc = ordering.path, ordering.descending
    reverse = False
    if cursor:
        value, pk, reverse = decode_cursor(cursor)
        where, params = keyset_condition(qs.model, path, desc != reverse, value, pk, connections[qs.db])
        qs = qs.extra(where=[where], params=params)
    scan_desc = desc != reverse
    prefix = "-" if scan_desc else ""
    rows = list(qs.order_by(f"{prefix}{path}", f"{prefix}id").values(*fields)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if reverse:
        rows.reverse()
    next_cursor = prev_cursor = None
    if rows:
        first, last = rows[0], rows[-1]
        if (more and not reverse) or (reverse and cursor):
            next_cursor = encode_cursor(last[path], last["id"])
        if (cursor and not reverse) or (reverse and more):
            prev_cursor = encode_cursor(first[path], first["id"], reverse=True)
    return Page(rows=rows, next_cursor=next_cursor, previous_cursor=prev_cursor)


@dataclass(frozen=True)
class ObjectPage:
    """A keyset page of model objects in page order, with the cursors around it."""

    objects: list[Any]
    next_cursor: str | None
    previous_cursor: str | None


def object_page(qs: QuerySet, path: str, params: Mapping[str, Any], *, descending: bool = True) -> ObjectPage:
    """Keyset page of model objects over (``path``, id) with the ``cursor`` and ``page_size`` of every
    list, for the pages and endpoints that show objects rather than projected rows (settings lists,
    rates, quotas, outbox...). Raises QueryError for a bad cursor or page size."""
    page = paginate(
        qs,
        Ordering(key=path, path=path, descending=descending),
        params.get("cursor") or None,
        page_size(params),
        fields=["id", path],
    )
    ids = [row["id"] for row in page.rows]
    by_id = qs.filter(pk__in=ids).in_bulk() if ids else {}
    return ObjectPage([by_id[pk] for pk in ids], page.next_cursor, page.previous_cursor)


# --- counts -----------------------------------------------------------------------------------
# A planner estimate this many times the bound is shown without counting first.
ESTIMATE_TRUSTED = 2


@dataclass(frozen=True)
class Count:
    """How many rows a list has: ``exact``, else ``estimated`` (the database planner's guess) or,
    where no estimate is to be had, a lower bound ("more than ``value``")."""

    value: int
    exact: bool = True
    estimated: bool = False


def count_rows(qs: QuerySet, *, bound: int, exact: bool = False) -> Count:
    """Count ``qs`` exactly up to ``bound`` rows (a LIMITed subquery: at most ``bound`` index
    entries read) and estimate beyond: an exact ``count(*)`` of a million rows is what DESIGN §12
    keeps off hot paths. ``exact=True`` counts everything (a user asked)."""
    qs = qs.order_by()
    if exact:
        return Count(qs.count())
    guess = planner_estimate(qs)
    if guess is not None and guess > ESTIMATE_TRUSTED * bound:
        # Far above the bound: counting even ``bound`` rows of a search or a filter the indexes do
        # not order cost 100-300 ms at 1M people; the planner's guess is shown as "about".
        return Count(guess, exact=False, estimated=True)
    seen = qs.values("pk")[: bound + 1].count()
    if seen <= bound:
        return Count(seen)
    if guess is not None and guess > bound:
        return Count(guess, exact=False, estimated=True)
    return Count(bound, exact=False)


def planner_estimate(qs: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``qs`` selects (EXPLAIN, from pg_class.reltuples and the
    column statistics); None on databases that have none (SQLite)."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = qs.values("pk").query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cur.fetchone()[0]
    if isinstance(plan, (str, bytes)):
        plan = orjson.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (LookupError, TypeError, ValueError):
        return None


# --- projection -----------------------------------------------------------------------------
def _link_fields(col: Column) -> tuple[str, ...]:
    """Fields naming a linked row: a registered type's title fields, or the column's own."""
    return registry.get(col.link_type).title_fields if col.kind == "record" else col.link_fields


def projection_fields(rtype: RecordType, columns: Iterable[Column] | None = None) -> list[str]:
    """The ``values()`` paths needed to build rows of the given columns (all by default)."""
    fields = ["id", "version", "custom"]
    for col in columns if columns is not None else rtype.columns:
        if col.kind == "user":
            fields += [f"{col.path}_id", f"{col.path}__first_name", f"{col.path}__last_name", f"{col.path}__username"]
        elif col.kind in ("record", "fk"):
            fields += [f"{col.path}_id", *(f"{col.path}__{t}" for t in _link_fields(col))]
            if col.kind == "record":  # whether the viewer may see the linked record's name
                fields += [f"{col.path}__owner_id", f"{col.path}__team_id"]
        else:
            fields.append(col.path)
    return list(dict.fromkeys(fields))


def project_row(
    rtype: RecordType, raw: dict[str, Any], columns: Iterable[Column] | None = None, *, user: Any
) -> dict[str, Any]:
    """A plain row for the API and exports: column key → JSON value; links as {id, name}, the
    name of a record ``user`` may not see being None (core.visibility.link_label)."""
    row: dict[str, Any] = {"id": raw["id"]}
    for col in columns if columns is not None else rtype.columns:
        if col.kind == "user":
            uid = raw[f"{col.path}_id"]
            if uid is None:
                row[col.key] = None
            else:
                name = f"{raw[f'{col.path}__first_name']} {raw[f'{col.path}__last_name']}".strip()
                row[col.key] = {"id": uid, "name": name or raw[f"{col.path}__username"]}
        elif col.kind in ("record", "fk"):
            rid = raw[f"{col.path}_id"]
            if rid is None:
                row[col.key] = None
            else:
                title = " ".join(str(raw[f"{col.path}__{t}"] or "") for t in _link_fields(col)).strip()
                label = (
                    link_label(
                        user,
                        col.link_type,
                        title,
                        owner_id=raw[f"{col.path}__owner_id"],
                        team_id=raw[f"{col.path}__team_id"],
                    )
                    if col.kind == "record"
                    else title
                )
                row[col.key] = {"id": rid, "name": label}
        else:
            row[col.key] = raw[col.path]
    row["custom"] = raw["custom"] or {}
    return row
