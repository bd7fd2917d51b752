"""One record (``record_by_id``) and its child rows (a person's emails and phones, a deal's contacts and
line items...) read with SQL compiled once per record type and database, not on every request.

A PATCH of one person spent more of its CPU in Django compiling the two child-row queries of
``prefetch_related`` (~1.3 ms a query on a busy 2-core machine) than in running them. The query of a
child relation is always the same but for the parent's id, so it is compiled once with a sentinel
id and run with the record's own; the rows are built by Django's own iterable (``from_db``, the
``select_related`` of a nested path), and stored where ``prefetch_related`` stores them, so
``record.emails.all()`` and everything downstream (history snapshot, search entry, the answer) read
them without a query, as before.

On PostgreSQL each compiled query is also a prepared statement of the connection (``PREPARE`` once per
connection, then ``EXECUTE``): the server plans it once instead of on every run. A deal's lookup joins six
tables, and planning them cost the server 1.5 ms of every API read and write of a deal, ten times its
execution (0.17 ms). ``RAPPORT_DB_PREPARE = False`` (environment ``RAPPORT_DB_PREPARE=0``) turns this off, for
a connection pooler that does not keep a session's prepared statements (PgBouncer in transaction mode).

Paths are those of a type's ``prefetch_related``: ``"emails"`` (a reverse foreign key) or
``"deal_contacts__person"`` (a reverse foreign key, then a foreign key on the child row, read with a
join as ``prefetch_related`` reads it with a second query from the same base manager). Any other
path falls back to ``prefetch_related_objects``.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.models.sql.compiler import SQLCompiler

_SENTINEL = -7_654_321_987_654  # an id no row has: marks the parent id's place among the params
_TEXT_SENTINEL = "\x00rapport-compiled-parameter\x00"  # the same for a text parameter
_names = itertools.count(1)
_PLACEHOLDER = re.compile(r"%s|%%")


def _numbered(sql: str) -> str:
    """Django's ``%s`` placeholders as PostgreSQL's ``$1``, ``$2``… (and ``%%`` as ``%``), for PREPARE."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else f"${next(numbers)}", sql)


def prepared_names(connection: Any) -> set[str]:
    """The statements prepared on ``connection``'s current session (a new session starts with none)."""
    raw = connection.connection
    kept = getattr(connection, "_rapport_prepared", None)
    if kept is None or kept[0] is not raw:
        kept = (raw, set())
        connection._rapport_prepared = kept
    return kept[1]


class _Compiled:
    """A query of ``model`` compiled once, with a sentinel in the place of one parameter (the
    parent's or the record's id), run with another value in that place."""

    def __init__(self, model: type[models.Model], compiler: SQLCompiler, sql: str, params: tuple[Any, ...], at: int):
        self.model = model
        self.compiler = compiler
        self.sql = sql
        self.params = params
        self.at = at
        self.converters: dict[int, tuple[Any, Any]] = {}  # per connection: (connection, converters)
        self.name = f"rapport_q{next(_names)}"  # its prepared statement's name (PostgreSQL)
        self.preparable = True

    def _statement(self, connection: Any) -> str:
        """What runs: on PostgreSQL the prepared statement (prepared on first use in this session, on the
        driver's connection so that it is not one of the request's counted queries), else the SQL."""
        if not self.preparable or connection.vendor != "postgresql" or not settings.RAPPORT_DB_PREPARE:
            return self.sql
        connection.ensure_connection()
        names = prepared_names(connection)
        if self.name not in names:
            try:
                with connection.connection.cursor() as cursor:
                    cursor.execute(f"PREPARE {self.name} AS {_numbered(self.sql)}")
            except Exception:
                if connection.in_atomic_block:
                    raise  # the transaction is aborted: nothing to fall back on
                self.preparable = False  # e.g. a parameter whose type the server cannot infer: run it plain
                return self.sql
            names.add(self.name)
        return f"EXECUTE {self.name}({', '.join(['%s'] * len(self.params))})"

    def rows(self, value: Any, db: str) -> list[models.Model]:
        params = list(self.params)
        params[self.at] = value
        compiler = copy.copy(self.compiler)
        connection = connections[db]
        compiler.connection = connection  # this thread's connection, not the compiling one's
        sql, bound = self._statement(connection), tuple(params)
        compiler.as_sql = lambda *args, **kwargs: (sql, bound)  # type: ignore[method-assign]
        # The columns' converters are the same on every run: looked up once per connection.
        known = self.converters.get(id(connection))
        if known is None or known[0] is not connection:
            known = (connection, compiler.get_converters([s[0] for s in compiler.select[0 : compiler.col_count]]))
            self.converters[id(connection)] = known
        converters = known[1]
        compiler.get_converters = lambda expressions: converters  # type: ignore[method-assign]
        qs = self.model._base_manager.using(db).all()
        qs.query.get_compiler = lambda *args, **kwargs: compiler  # type: ignore[method-assign]
        return list(qs)


def _compile(qs: models.QuerySet, db: str, sentinel: Any = _SENTINEL) -> _Compiled | None:
    """``qs`` (built with ``sentinel`` as one parameter) compiled once; None if the sentinel is not
    exactly one of its parameters (the query cannot be reused)."""
    compiler = qs.query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    at = [i for i, p in enumerate(params) if type(p) is type(sentinel) and p == sentinel]
    if len(at) != 1:
        return None
    return _Compiled(qs.model, compiler, sql, tuple(params), at[0])


class _Template:
    def __init__(self, fk: models.ForeignKey, compiled: _Compiled):
        self.fk = fk
        self.compiled = compiled

    def rows(self, record: models.Model, db: str) -> list[models.Model]:
        return self.compiled.rows(getattr(record, self.fk.target_field.attname), db)


_templates: dict[tuple[str, str, str], _Template | None] = {}


def _template(model: type[models.Model], path: str, db: str) -> _Template | None:
    key = (model._meta.label, path, db)
    if key in _templates:
        return _templates[key]
    template = None
    rel_name, _, nested = path.partition("__")
    rel = model._meta.get_field(rel_name)
    if rel.one_to_many and rel.auto_created and isinstance(rel.field, models.ForeignKey):  # type: ignore[union-attr]
        fk: models.ForeignKey = rel.field  # type: ignore[union-attr, assignment]
        child = fk.model
        nested_ok = True
        if nested:
            nested_field = child._meta.get_field(nested) if "__" not in nested else None
            nested_ok = bool(nested_field is not None and nested_field.many_to_one and nested_field.concrete)
        if nested_ok:
            # What the reverse manager reads (its default manager's queryset filtered on the parent).
            qs = child._default_manager.using(db).filter(**{fk.name: _SENTINEL})
            if nested:
                qs = qs.select_related(nested)
            compiled = _compile(qs, db)
            if compiled is not None:
                template = _Template(fk, compiled)
    _templates[key] = template
    return template


def prefetch_children(record: models.Model, paths: tuple[str, ...] | list[str]) -> None:
    """Read ``record``'s child rows for each of ``paths`` and cache them on it, as
    ``prefetch_related_objects([record], *paths)`` would, without compiling their SQL again."""
    db = record._state.db or router.db_for_read(type(record))
    for path in paths:
        template = _template(type(record), path, db)
        if template is None:
            models.prefetch_related_objects([record], path)
            continue
        rows = template.rows(record, db)
        for row in rows:
            template.fk.set_cached_value(row, record)
        manager = getattr(record, path.partition("__")[0])
        qs = manager.get_queryset()
        qs._result_cache = rows
        qs._prefetch_done = True
        record.__dict__.setdefault("_prefetched_objects_cache", {})[template.fk.remote_field.cache_name] = qs  # type: ignore[attr-defined]


_records: dict[tuple[str, str], _Compiled | None] = {}


def record_by_id(key: str, model: type[models.Model], build: Callable[[], models.QuerySet], pk: int) -> Any:
    """The one row of ``build()`` (a queryset of ``model``) with id ``pk``, or None, with its SQL
    compiled once per ``key`` and database. ``build`` must make the same query every time for one
    ``key`` (a record type's detail query: its links joined, live records only); it is called once.

    An API read or write of one record spent ~1 ms of CPU compiling this lookup (three joins for a
    person) on every request. The visibility rule is applied by the caller on the row
    (``visibility.sees``), so that one compiled query serves every user."""
    db = router.db_for_read(model)
    low, high = connections[db].ops.integer_field_range(model._meta.pk.get_internal_type())  # type: ignore[union-attr]
    if (low is not None and pk < low) or (high is not None and pk > high):
        return None  # no row has it (and the driver would refuse the number)
    cache_key = (key, db)
    if cache_key not in _records:
        _records[cache_key] = _compile(build().using(db).filter(pk=_SENTINEL)[:1], db)
    compiled = _records[cache_key]
    found = compiled.rows(pk, db) if compiled is not None else list(build().using(db).filter(pk=pk)[:1])
    return found[0] if found else None


_queries: dict[tuple[str, str], _Compiled | None] = {}


def rows_for(key: str, model: type[models.Model], build: Callable[[Any], models.QuerySet], value: str) -> list[Any]:
    """The rows of ``build(value)`` (a queryset of ``model`` with ``value`` as one parameter, e.g. the
    custom-field definitions of one record type), with its SQL compiled once per ``key`` and database
    (``build`` is then called with a sentinel in ``value``'s place, once)."""
    db = router.db_for_read(model)
    cache_key = (key, db)
    if cache_key not in _queries:
        _queries[cache_key] = _compile(build(_TEXT_SENTINEL).using(db), db, _TEXT_SENTINEL)
    compiled = _queries[cache_key]
    return compiled.rows(value, db) if compiled is not None else list(build(value).using(db))
