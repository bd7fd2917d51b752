"""The read path of list endpoints: one SQL statement built from the registry's columns.

DESIGN.md §12: per-object serializers and even ORM ``values()`` cost several times the CPU of
the query itself (query compilation, JSON decoding, datetime conversion per cell). Here the
SELECT and JOINs are generated once per (type, columns, database), the WHERE clause comes from
the same ORM filters and visibility rule as every other path (only the WHERE is compiled), and
JSON columns are passed to orjson as raw text fragments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

import orjson
from django.core.exceptions import EmptyResultSet, FieldError, FullResultSet
from django.db import connections
from django.db.models import BooleanField, DateTimeField, DecimalField, Q
from django.db.models.sql import Query

from . import registry
from .listing import Ordering, Page, decode_cursor, encode_cursor, keyset_condition
from .registry import Column, RecordType
from .visibility import sees_columns, visible_where


@dataclass(frozen=True)
class _Plan:
    select: str  # column list
    joins: str
    table: str
    builders: tuple[tuple[str, str, tuple[int, ...]], ...]  # (key, kind, result indexes)
    order_index: int  # result index of the ordering column


def _col(model: Any, name: str) -> str:
    return str(model._meta.get_field(name).column)


def _qn(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def _plan(type_key: str, column_keys: tuple[str, ...], ordering_key: str, vendor: str) -> _Plan:
    rtype = registry.get(type_key)
    model: Any = rtype.model
    table = model._meta.db_table
    t = _qn(table)
    cols = [rtype.columns_by_key[k] for k in column_keys]
    exprs: list[str] = [f"{t}.{_qn('id')}"]
    joins: list[str] = []
    builders: list[tuple[str, str, tuple[int, ...]]] = []

    def add(expr: str) -> int:
        exprs.append(expr)
        return len(exprs) - 1

    def json_expr(column: str) -> str:
        return f"{t}.{_qn(column)}::text" if vendor == "postgresql" else f"{t}.{_qn(column)}"

    for n, col in enumerate(cols):
        if col.kind == "user":
            field: Any = model._meta.get_field(col.path)
            alias = _qn(f"u{n}")
            user_table = _qn(field.related_model._meta.db_table)
            joins.append(f"LEFT JOIN {user_table} {alias} ON {alias}.{_qn('id')} = {t}.{_qn(field.column)}")
            idx: tuple[int, ...] = (
                add(f"{t}.{_qn(field.column)}"),
                add(f"{alias}.{_qn('first_name')}"),
                add(f"{alias}.{_qn('last_name')}"),
                add(f"{alias}.{_qn('username')}"),
            )
            builders.append((col.key, "user", idx))
        elif col.kind in ("record", "fk"):
            field = model._meta.get_field(col.path)
            target_model: Any = field.related_model
            names = registry.get(col.link_type).title_fields if col.kind == "record" else col.link_fields
            alias = _qn(f"r{n}")
            joins.append(
                f"LEFT JOIN {_qn(target_model._meta.db_table)} {alias} ON {alias}.{_qn('id')} = {t}.{_qn(field.column)}"
            )
            idx = (add(f"{t}.{_qn(field.column)}"),)
            kind = "fk"
            if col.kind == "record":
                # The linked record's owner and team decide whether its name is shown.
                idx += (add(f"{alias}.{_qn('owner_id')}"), add(f"{alias}.{_qn('team_id')}"))
                kind = f"record:{col.link_type}"
            idx += tuple(add(f"{alias}.{_qn(_col(target_model, f))}") for f in names)
            builders.append((col.key, kind, idx))
        elif col.kind == "tags":
            builders.append((col.key, "json", (add(json_expr(_col(model, col.path))),)))
        elif col.kind == "datetime":
            builders.append((col.key, "datetime", (add(iso_datetime(f"{t}.{_qn(_col(model, col.path))}", vendor)),)))
        else:
            field = model._meta.get_field(col.path)
            expr = f"{t}.{_qn(field.column)}"
            if isinstance(field, DecimalField):
                # SQLite returns numeric columns as float: format to the field's places, as the API does.
                builders.append((col.key, f"decimal{field.decimal_places}", (add(expr),)))
            elif isinstance(field, BooleanField):
                builders.append((col.key, "bool", (add(expr),)))
            else:
                builders.append((col.key, "value", (add(expr),)))
    builders.append(("custom", "json", (add(json_expr("custom")),)))
    order_field = model._meta.get_field(rtype.columns_by_key[ordering_key].path)
    order_expr = f"{t}.{_qn(order_field.column)}"
    if isinstance(order_field, DateTimeField):
        order_expr = iso_datetime(order_expr, vendor)  # the cursor's value, as the API shows it
    elif vendor == "sqlite":
        order_expr = f"({order_expr} || '')"
    # The ordering column is usually shown too (created_at): read once.
    order_index = exprs.index(order_expr) if order_expr in exprs else add(order_expr)
    return _Plan(
        select=", ".join(exprs), joins=" ".join(joins), table=table, builders=tuple(builders), order_index=order_index
    )


def iso_datetime(column: str, vendor: str) -> str:
    """SQL reading a UTC datetime column as the API's ISO 8601 text ("2026-11-30T18:05:00.250000+00:00",
    no fraction when it is zero, as orjson and ``datetime.isoformat`` write it).

    Made by the database rather than parsed into a ``datetime`` by the driver and formatted again by orjson:
    the driver's parsing (and Django's time zone step) cost more CPU than the rest of a list row on
    PostgreSQL. SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" already: reshaped in place. An expression has no
    declared type, so neither driver parses it."""
    if vendor == "sqlite":
        return f"(replace({column}, ' ', 'T') || '+00:00')"
    return f"(replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00')"


def _sqlite_datetime(value: Any) -> Any:
    # SQLite keeps UTC datetimes as "YYYY-MM-DD HH:MM:SS[.ffffff]"; the API speaks ISO 8601.
    if isinstance(value, str):
        return value.replace(" ", "T", 1) + "+00:00"
    return value


# Lookups whose SQL does not depend on the value compared (only on how many values there are).
_SHAREABLE_LOOKUPS = frozenset({"exact", "in", "gt", "gte", "lt", "lte"})


def _filter_shape(q: Q, columns: frozenset[str], values: list[Any]) -> tuple[Any, ...] | None:
    """The shape of ``q`` (connectors, negations, each condition's column and lookup, the type and number
    of its values; an ``isnull``'s True/False itself), with the values compared appended to ``values`` in
    the order the compiler reads them; None when a condition is not a plain comparison of one of the
    table's columns with text, numbers or booleans (its SQL may depend on the value)."""
    shape: list[Any] = [q.connector, q.negated]
    for child in q.children:
        if isinstance(child, Q):
            sub = _filter_shape(child, columns, values)
            if sub is None:
                return None
            shape.append(sub)
            continue
        if not isinstance(child, tuple) or len(child) != 2 or not isinstance(child[0], str):
            return None  # an expression (EXISTS, raw SQL): compiled every time
        key, value = child
        name, _, lookup = key.partition("__")
        if name not in columns:
            return None
        if lookup == "isnull" and isinstance(value, bool):
            shape.append((key, value))
            continue
        if lookup and lookup not in _SHAREABLE_LOOKUPS:
            return None
        items = list(value) if isinstance(value, (list, tuple)) and lookup == "in" else [value]
        if not items or not all(type(v) in (str, int, bool) for v in items):
            return None
        shape.append((key, tuple(type(v) for v in items)))
        values.extend(items)
    return tuple(shape)


def _columns(model: Any) -> frozenset[str]:
    return frozenset(n for f in model._meta.concrete_fields for n in (f.name, f.attname))


_COLUMNS: dict[Any, frozenset[str]] = {}
_FILTER_SQL: dict[tuple[Any, ...], str] = {}


def filter_where(model: Any, filters: Q, connection: Any) -> tuple[str, list[Any]] | None:
    """``filters`` as a WHERE clause over ``model``'s table alone and its parameters ("" when it selects
    everything); None when it needs another table (the caller takes the ORM path); raises
    EmptyResultSet when it selects nothing.

    Compiled by the ORM; a filter made only of comparisons of the table's columns is compiled once per
    shape and reused with this request's values, when the compiled parameters were exactly the values
    compared, in order and of the same types (a duplicate in an ``in`` list, a value converted to the
    column's type: compiled every time)."""
    columns = _COLUMNS.get(model)
    if columns is None:
        columns = _COLUMNS[model] = _columns(model)
    values: list[Any] = []
    shape = _filter_shape(filters, columns, values)
    key = (model, connection.vendor, shape)
    if shape is not None:
        sql = _FILTER_SQL.get(key)
        if sql is not None:
            return sql, values
    query = Query(model)
    try:
        # allow_joins=False: a filter through another table (a company's name) raises FieldError; one over
        # a many-valued relation (a deal's contacts) leaves a join in use: both take the ORM path.
        condition = query.build_where(filters)
        if sum(1 for count in query.alias_refcount.values() if count) > 1:
            return None
        sql, params = query.get_compiler(connection=connection).compile(condition)
    except FieldError:
        return None
    except FullResultSet:
        return "", []
    params = list(params)
    if shape is not None and [(type(p), p) for p in params] == [(type(v), v) for v in values]:
        _FILTER_SQL[key] = sql
    return sql, params


def fetch_page(
    rtype: RecordType,
    filters: Q,
    ordering: Ordering,
    cursor: str | None,
    size: int,
    columns: Sequence[Column] | None = None,
    *,
    user: Any,
) -> Page | None:
    """A keyset page of projected rows of the live records of ``rtype`` that ``user`` may view
    (core.visibility.visible_where) and that match ``filters``; None when the filters need joins this
    fast path does not build (the caller falls back to the ORM). Links to records ``user`` may not see
    carry no name (core.visibility.link_label).

    Neither the visibility rule nor the filters go through a QuerySet: the rule's SQL is compiled once per
    scope shape, and the filters are compiled as a WHERE clause of the type's table alone."""
    model: Any = rtype.model
    connection = connections[model.objects.db]
    vendor = connection.vendor
    visible = visible_where(model, user, connection)
    if visible is None:
        return Page(rows=[], next_cursor=None, previous_cursor=None)
    where, params = visible
    conditions = [f"({where})"]
    if filters:
        try:
            compiled = filter_where(model, filters, connection)
        except EmptyResultSet:
            return Page(rows=[], next_cursor=None, previous_cursor=None)
        if compiled is None:
            return None
        filter_sql, filter_params = compiled
        if filter_sql:
            conditions.append(f"({filter_sql})")
            params = [*params, *filter_params]
    keys = tuple(c.key for c in (columns if columns is not None else rtype.columns))
    plan = _plan(rtype.key, keys, ordering.key, vendor)
    t = _qn(plan.table)
    order_field: Any = rtype.model._meta.get_field(rtype.columns_by_key[ordering.key].path)
    order_col = f"{t}.{_qn(order_field.column)}"
    id_col = f"{t}.{_qn('id')}"
    reverse = False
    if cursor:
        value, pk, reverse = decode_cursor(cursor)
        keyset, keyset_params = keyset_condition(
            rtype.model, order_field.name, ordering.descending != reverse, value, pk, connection
        )
        conditions.append(keyset)
        params += keyset_params
    direction = "DESC" if ordering.descending != reverse else "ASC"
    sql = (
        f"SELECT {plan.select} FROM {t} {plan.joins}"  # noqa: S608  (identifiers from the registry)
        + f" WHERE {' AND '.join(conditions)}"
        + f" ORDER BY {order_col} {direction}, {id_col} {direction} LIMIT %s"
    )
    params.append(size + 1)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        raw = cur.fetchall()
    more = len(raw) > size
    raw = raw[:size]
    if reverse:
        raw.reverse()
    rows = build_rows(plan, raw, vendor, user)
    next_cursor = prev_cursor = None
    if raw:
        first, last = raw[0], raw[-1]
        if (more and not reverse) or reverse:
            next_cursor = encode_cursor(_cursor_value(last[plan.order_index], vendor), last[0])
        if (cursor and not reverse) or (reverse and more):
            prev_cursor = encode_cursor(_cursor_value(first[plan.order_index], vendor), first[0], reverse=True)
    return Page(rows=rows, next_cursor=next_cursor, previous_cursor=prev_cursor)


def _cursor_value(value: Any, vendor: str) -> Any:
    if vendor == "sqlite" and isinstance(value, str) and len(value) >= 19 and value[10] == " " and value[4] == "-":
        return _sqlite_datetime(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@lru_cache(maxsize=512)
def _row_builder(plan: _Plan, vendor: str, decisions: tuple[bool | str, ...]) -> Callable[..., list[dict[str, Any]]]:
    """A function turning the page's result rows into API rows, generated once per plan: one dict
    literal per row instead of a loop over the columns with a branch per cell (DESIGN.md §12).

    ``decisions`` says, per linked record type (in the plan's order), how the user's visibility rule
    (core.visibility.sees_columns) decides a link's name: True (every name shown), False (none), or the
    column of the linked record ("team_id", "owner_id") that must equal a value passed after the rows;
    a linked record the user may not view keeps its id, no name. Only result indexes and the registry's
    column keys (``repr``-quoted) go into the source."""
    links = 0
    values = 0
    items = ["'id': r[0]"]
    for key, kind, idx in plan.builders:
        i = idx[0]
        if kind == "value":
            expr = f"r[{i}]"
        elif kind.startswith("decimal"):
            expr = f"(None if r[{i}] is None else _decimal(r[{i}], {int(kind[7:])}))"
        elif kind == "bool":
            expr = f"(None if r[{i}] is None else bool(r[{i}]))"
        elif kind == "json":
            expr = f"(None if r[{i}] is None else _Fragment(r[{i}]))"
        elif kind == "datetime":  # ISO 8601 text (iso_datetime)
            expr = f"r[{i}]"
        elif kind == "user":
            name = f"(f'{{r[{idx[1]}]}} {{r[{idx[2]}]}}'.strip() or r[{idx[3]}])"
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {name}}})"
        elif kind == "fk":
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {_joined(idx[1:])}}})"
        else:  # record:<type key>; idx = (id, owner, team, title fields...)
            decision = decisions[links]
            links += 1
            title = _joined(idx[3:])
            if decision is True:
                name = title
            elif decision is False:
                name = "None"
            else:
                column = idx[2] if decision == "team_id" else idx[1]
                name = f"({title} if r[{column}] == _v{values} else None)"
                values += 1
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {name}}})"
        items.append(f"{key!r}: {expr}")
    args = "".join(f", _v{n}" for n in range(values))
    source = f"def build(raw{args}):\n    return [{{{', '.join(items)}}} for r in raw]\n"
    namespace: dict[str, Any] = {
        "_decimal": _decimal,
        "_Fragment": orjson.Fragment,
    }
    exec(compile(source, f"<projection {plan.table}>", "exec"), namespace)  # noqa: S102 (indexes and registry keys)
    return cast(Callable[..., list[dict[str, Any]]], namespace["build"])


@lru_cache(maxsize=256)
def _link_types(plan: _Plan) -> tuple[str, ...]:
    return tuple(kind[7:] for _, kind, _ in plan.builders if kind.startswith("record:"))


def _joined(indexes: Sequence[int]) -> str:
    """Source of the linked record's name: its title fields joined by spaces, empty ones skipped."""
    if len(indexes) == 1:
        return f"str(r[{indexes[0]}] or '').strip()"
    parts = ", ".join(f"str(r[{i}] or '')" for i in indexes)
    return f"' '.join(({parts},)).strip()"


def _decimal(value: Any, places: int) -> str:
    # SQLite returns numeric columns as float: format to the field's places, as the API does.
    return f"{Decimal(str(value)):.{places}f}"


def build_rows(plan: _Plan, raw: Sequence[tuple[Any, ...]], vendor: str, user: Any) -> list[dict[str, Any]]:
    """The API rows of ``raw``, linked records' names decided by ``user``'s visibility rule, looked up once
    per linked type and page (core.visibility.sees_columns)."""
    decided = [sees_columns(user, type_key) for type_key in _link_types(plan)]
    build = _row_builder(plan, vendor, tuple(d if isinstance(d, bool) else d[0] for d in decided))
    return build(raw, *(d[1] for d in decided if not isinstance(d, bool)))


__all__ = ["fetch_page"]
