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
