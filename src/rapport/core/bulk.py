"""Bulk loading of rows that bypass the ORM: ``executemany`` in big transactions on SQLite,
``COPY`` on PostgreSQL. Used by large synthetic data sets (``rapport demo --people N``) and
meant for imports: callers compute every column themselves, including the created event and
the search entry of each record (DESIGN.md §2 and §5), so nothing is left stale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from django.db import connection, transaction


def next_ids(table: str) -> int:
    """The first free id of ``table`` (callers assign ids so child rows can refer to them)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        return int(cur.fetchone()[0]) + 1


def sql_value(value: Any) -> Any:
    """A Python value as the database driver should receive it in a bulk row."""
    if connection.vendor == "sqlite":
        if isinstance(value, dt.datetime):
            # Django stores aware datetimes on SQLite as naive UTC text.
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
        if isinstance(value, bool):
            return int(value)
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


def insert_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order, already converted by :func:`sql_value`)
    inside the current transaction; returns the number of rows."""
    rows = list(rows)
    if not rows:
        return 0
    qn = connection.ops.quote_name
    cols = ", ".join(qn(c) for c in columns)
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {qn(table)} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns)
        cur = raw.cursor()
        try:
            cur.executemany(f"INSERT INTO {qn(table)} ({cols}) VALUES ({marks})", rows)  # noqa: S608
        finally:
            cur.close()
    return len(rows)


def allocate_ids(model: Any, count: int) -> list[int]:
    """``count`` fresh ids for new rows of ``model``, taken the way the database would give them, so
    rows and the rows that refer to them (events, child rows) can be written in bulk in one pass.

    PostgreSQL: from the table's id sequence (safe beside concurrent writers). SQLite: after the
    largest id ever given (AUTOINCREMENT's ``sqlite_sequence`` or the largest id), inside the write
    transaction, which holds SQLite's one write lock from its start (``transaction_mode`` IMMEDIATE)."""
    if count <= 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
            return sorted(int(r[0]) for r in cur.fetchall())
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        top = int(cur.fetchone()[0])
        cur.execute("SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'")
        if cur.fetchone():
            cur.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cur.fetchone()
            if row and row[0] is not None:
                top = max(top, int(row[0]))
    return list(range(top + 1, top + 1 + count))


def object_rows(model: Any, objects: Sequence[Any], *, with_id: bool = True) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of ``objects`` (model instances) as Django would write them (each field's
    ``pre_save`` and ``get_db_prep_save``), for :func:`insert_rows`; without the generated or
    database-default columns a load leaves to the database."""
    from django.db.models.expressions import DatabaseDefault

    fields = [
        f for f in model._meta.concrete_fields if (with_id or not f.primary_key) and not getattr(f, "generated", False)
    ]
    # A column whose value is the database's default on some row is left out for every row only
    # when it is so on all of them (a bulk INSERT names one column list).
    skip = {
        f.attname
        for f in fields
        if objects and all(isinstance(getattr(o, f.attname, None), DatabaseDefault) for o in objects)
    }
    fields = [f for f in fields if f.attname not in skip]
    convert = [_converter(f) for f in fields]
    attnames = [f.attname for f in fields]
    rows = [tuple(c(o, getattr(o, a)) for c, a in zip(convert, attnames, strict=True)) for o in objects]
    return [f.column for f in fields], rows


def _converter(field: Any) -> Any:
    """How one field's value goes to the driver: Django's own ``pre_save`` + ``get_db_prep_save``,
    short-cut for the plain cases where those hand a text or an integer through unchanged."""
    from django.db import DEFAULT_DB_ALIAS, connections, models

    conn = connections[DEFAULT_DB_ALIAS]  # the connection itself, not the proxy: looked up per value
    plain: tuple[type, ...] = ()
    if isinstance(field, models.CharField | models.TextField) and type(field).get_prep_value in (
        models.CharField.get_prep_value,
        models.TextField.get_prep_value,
    ):
        plain = (str,)
    elif isinstance(field, models.AutoField | models.BigAutoField | models.ForeignKey | models.IntegerField):
        plain = (int,)
    if plain and type(field).pre_save is models.Field.pre_save:
        kinds = plain

        def fast(obj: Any, value: Any) -> Any:
            if value is None or type(value) in kinds:
                return value
            return field.get_db_prep_save(field.pre_save(obj, True), conn)

        return fast
    if isinstance(field, models.DateTimeField) and type(field).pre_save is models.DateTimeField.pre_save:
        memo: list[Any] = [object(), None]  # a load's rows share their moments: convert each once

        def moment(obj: Any, value: Any) -> Any:
            if field.auto_now or value is not memo[0]:
                memo[0], memo[1] = value, field.get_db_prep_save(field.pre_save(obj, True), conn)
            return memo[1]

        return moment
    return lambda obj, value: field.get_db_prep_save(field.pre_save(obj, True), conn)


def insert_objects(model: Any, objects: Sequence[Any], *, with_id: bool = True) -> int:
    """Insert model instances with :func:`insert_rows` (COPY / executemany) inside the current
    transaction; with ``with_id`` their ids must be set (:func:`allocate_ids`)."""
    if not objects:
        return 0
    columns, rows = object_rows(model, objects, with_id=with_id)
    insert_rows(model._meta.db_table, columns, rows)
    if with_id:
        for o in objects:
            o._state.adding = False
            o._state.db = connection.alias
    return len(rows)


def reset_sequences(tables: Iterable[str]) -> None:
    """After rows were inserted with explicit ids, move PostgreSQL's id sequences past them."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        for table in tables:
            sql = f"SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST((SELECT MAX(id) FROM {table}), 1))"  # noqa: S608
            cur.execute(sql, [table])


def analyze() -> None:
    """Refresh the planner's statistics after a big load."""
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("ANALYZE")
        else:
            cur.execute("ANALYZE")
            cur.execute("PRAGMA optimize")


class LoadSession:
    """Connection settings for a long load: on SQLite a big page cache and relaxed syncing
    (the load is repeatable; a crash mid-load loses only the load), restored afterwards."""

    def __enter__(self) -> LoadSession:
        connection.ensure_connection()
        # Inside an outer transaction (tests) the safety level cannot change: leave it.
        self.active = connection.vendor == "sqlite" and not connection.in_atomic_block
        if self.active:
            with connection.cursor() as cur:
                cur.execute("PRAGMA cache_size")
                self._cache = cur.fetchone()[0]
                cur.execute("PRAGMA cache_size=-1048576")  # 1 GiB
                cur.execute("PRAGMA synchronous=OFF")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA cache_size={int(self._cache)}")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def write_batch(tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]]) -> None:
    """Insert several tables' rows in one transaction, in the given order (parents first)."""
    with transaction.atomic():
        for table, (columns, rows) in tables.items():
            insert_rows(table, columns, rows)


def update_objects(model: Any, objects: Sequence[Any], fields: Sequence[str]) -> int:
    """Write ``fields`` of model instances back, each row its own values, in one statement: Django's
    ``bulk_update`` for the same, which builds a ``CASE WHEN`` per row and field, cost most of a webhook
    sender's CPU. PostgreSQL: ``UPDATE … FROM (VALUES …)``; SQLite: ``executemany``. Values go through each
    field's ``get_db_prep_save`` (no ``pre_save``: like ``bulk_update``); returns the number of objects."""
    from django.db import connections, router

    if not objects:
        return 0
    alias = router.db_for_write(model)
    conn = connections[alias]
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    pk = meta.pk
    qn = conn.ops.quote_name
    rows: list[Any] = []
    for obj in objects:
        rows.append([f.get_db_prep_save(getattr(obj, f.attname), conn) for f in concrete] + [obj.pk])
    table = qn(meta.db_table)
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            columns = [*concrete, pk]
            one = "(" + ", ".join(f"%s::{f.cast_db_type(conn)}" for f in columns) + ")"
            names = ", ".join(qn(f.column) for f in columns)
            sets = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in concrete)
            for start in range(0, len(rows), 1000):
                chunk = rows[start : start + 1000]
                cur.execute(
                    f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([one] * len(chunk))}) AS v ({names}) "  # noqa: S608
                    f"WHERE {table}.{qn(pk.column)} = v.{qn(pk.column)}",
                    [value for row in chunk for value in row],
                )
        else:
            sets = ", ".join(f"{qn(f.column)} = %s" for f in concrete)
            cur.executemany(f"UPDATE {table} SET {sets} WHERE {qn(pk.column)} = %s", rows)  # noqa: S608
    return len(objects)
