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
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet, FieldError, FullResultSet
from django.db import connections
from django.db.models import BooleanField, DecimalField, Q
from django.db.models.sql import Query

from . import registry
from .listing import Ordering, Page, decode_cursor, encode_cursor, keyset_condition
from .registry import Column, RecordType
from .visibility import sees_rule, visible_where


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
            column = f"{t}.{_qn(_col(model, col.path))}"
            # SQLite keeps UTC datetimes as "YYYY-MM-DD HH:MM:SS[.ffffff]": reshaped to ISO 8601 in the
            # statement (an expression has no declared type, so the driver does not parse it either).
            if vendor == "sqlite":
                column = f"(replace({column}, ' ', 'T') || '+00:00')"
            builders.append((col.key, "datetime", (add(column),)))
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
    order_col = _col(model, rtype.columns_by_key[ordering_key].path)
    order_index = add(f"({t}.{_qn(order_col)} || '')" if vendor == "sqlite" else f"{t}.{_qn(order_col)}")
    return _Plan(
        select=", ".join(exprs), joins=" ".join(joins), table=table, builders=tuple(builders), order_index=order_index
    )


def _sqlite_datetime(value: Any) -> Any:
    # SQLite keeps UTC datetimes as "YYYY-MM-DD HH:MM:SS[.ffffff]"; the API speaks ISO 8601.
    if isinstance(value, str):
        return value.replace(" ", "T", 1) + "+00:00"
    return value


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
        query = Query(model)
        try:
            # allow_joins=False: a filter through another table (a company's name) raises FieldError; one
            # over a many-valued relation (a deal's contacts) leaves a join in use: both take the ORM path.
            condition = query.build_where(filters)
            if sum(1 for count in query.alias_refcount.values() if count) > 1:
                return None
            filter_sql, filter_params = query.get_compiler(connection=connection).compile(condition)
        except FieldError:
            return None
        except EmptyResultSet:
            return Page(rows=[], next_cursor=None, previous_cursor=None)
        except FullResultSet:
            filter_sql = ""
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


@lru_cache(maxsize=256)
def _row_builder(plan: _Plan, vendor: str) -> tuple[Callable[..., list[dict[str, Any]]], tuple[str, ...]]:
    """A function turning the page's result rows into API rows, generated once per plan: one dict
    literal per row instead of a loop over the columns with a branch per cell (DESIGN.md §12). It
    takes the rows, then one visibility rule (core.visibility.sees_rule) per linked record type
    returned alongside, in that order; a linked record the user may not view keeps its id, no name.

    Only result indexes and the registry's column keys (``repr``-quoted) go into the source."""
    link_types: list[str] = []
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
        elif kind == "datetime":  # ISO 8601 text on SQLite (see _plan), a datetime on PostgreSQL
            expr = f"r[{i}]"
        elif kind == "user":
            name = f"(f'{{r[{idx[1]}]}} {{r[{idx[2]}]}}'.strip() or r[{idx[3]}])"
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {name}}})"
        elif kind == "fk":
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {_joined(idx[1:])}}})"
        else:  # record:<type key>
            rule = f"_rule{len(link_types)}"
            link_types.append(kind[7:])
            name = f"({_joined(idx[3:])} if {rule}(r[{idx[1]}], r[{idx[2]}]) else None)"
            expr = f"(None if r[{i}] is None else {{'id': r[{i}], 'name': {name}}})"
        items.append(f"{key!r}: {expr}")
    rules = "".join(f", _rule{n}" for n in range(len(link_types)))
    source = f"def build(raw{rules}):\n    return [{{{', '.join(items)}}} for r in raw]\n"
    namespace: dict[str, Any] = {
        "_decimal": _decimal,
        "_Fragment": orjson.Fragment,
    }
    exec(compile(source, f"<projection {plan.table}>", "exec"), namespace)  # noqa: S102 (indexes and registry keys)
    return namespace["build"], tuple(link_types)


def _joined(indexes: Sequence[int]) -> str:
    """Source of the linked record's name: its title fields joined by spaces, empty ones skipped."""
    parts = ", ".join(f"str(r[{i}] or '')" for i in indexes)
    return f"' '.join(({parts},)).strip()"


def _decimal(value: Any, places: int) -> str:
    # SQLite returns numeric columns as float: format to the field's places, as the API does.
    return f"{Decimal(str(value)):.{places}f}"


def build_rows(plan: _Plan, raw: Sequence[tuple[Any, ...]], vendor: str, user: Any) -> list[dict[str, Any]]:
    build, link_types = _row_builder(plan, vendor)
    return build(raw, *(sees_rule(user, type_key) for type_key in link_types))


__all__ = ["fetch_page"]
