"""One row's INSERT, and a record's UPDATE on the condition of its version, as SQL built by hand: the
ORM compiled these on every write (~0.5 ms of CPU each on a busy 2-core machine) although they
differ only in their values and columns.

Values reach the driver as ``Model.save()`` gives them (each field's ``pre_save`` on an insert and
``get_db_prep_save``), errors are Django's (an IntegrityError is ``django.db.IntegrityError``), and
the statements are logged and counted like the ORM's. What these statements cannot write the way
the ORM would (a generated column, a field with its own SQL placeholder, an expression or database
default as a value, a database that cannot return the new id) is written through the ORM.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, models, router
from django.db.models import Value
from django.db.models.expressions import DatabaseDefault

_inserts: dict[tuple[str, str, bool], tuple[str, str, str, list[models.Field]] | None] = {}


def _column(field: Any) -> str:
    return str(field.column)


@functools.cache
def _plain(model: type[models.Model]) -> bool:
    return not model._meta.parents and not any(
        getattr(f, "generated", False) or hasattr(f, "get_placeholder") for f in model._meta.concrete_fields
    )


def _insert_sql(
    model: type[models.Model], db: str, with_pk: bool = False
) -> tuple[str, str, str, list[models.Field]] | None:
    """(``INSERT INTO table (columns)``, one row's ``(%s, …)``, ``RETURNING table.id``, the fields); ``with_pk``:
    the id is given (a UUID made by the caller), written with the other columns and not returned."""
    key = (model._meta.label, db, with_pk)
    if key not in _inserts:
        conn = connections[db]
        entry = None
        if _plain(model) and conn.vendor in ("sqlite", "postgresql") and conn.features.can_return_columns_from_insert:
            qn = conn.ops.quote_name
            table = qn(model._meta.db_table)
            fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
            columns = ", ".join(qn(_column(f)) for f in fields)
            marks = ", ".join("%s" for _ in fields)
            pk = qn(_column(model._meta.pk))
            returning = "" if with_pk else f"RETURNING {table}.{pk}"
            entry = (f"INSERT INTO {table} ({columns})", f"({marks})", returning, fields)
        _inserts[key] = entry
    return _inserts[key]


def _values(obj: models.Model, fields: list[models.Field]) -> list[Any] | None:
    """The values of a new row (each field's ``pre_save``), or None when one is an expression. A
    column left to its database default (``db_default``, a constant) gets that constant, which is
    also what ``save()`` leaves on the object (it reads the default back)."""
    values = [f.pre_save(obj, True) for f in fields]
    for i, v in enumerate(values):
        if isinstance(v, DatabaseDefault) and isinstance(fields[i].db_default, Value):
            values[i] = fields[i].db_default.value  # type: ignore[union-attr]
            setattr(obj, fields[i].attname, values[i])
        elif hasattr(v, "resolve_expression"):
            return None
    return values


def insert(obj: models.Model) -> None:
    """INSERT the new ``obj`` as ``obj.save(force_insert=True)`` would, without the model's save signals
    (the write path uses none); its id is set from the database unless it has one (a UUID made in Python)."""
    model = type(obj)
    db = router.db_for_write(model, instance=obj)
    entry = _insert_sql(model, db, with_pk=obj.pk is not None)
    if entry is None:
        obj.save(force_insert=True, using=db)
        return
    head, marks, returning, fields = entry
    obj._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]  # as save() does
    values = _values(obj, fields)
    if values is None:
        obj.save(force_insert=True, using=db)
        return
    conn = connections[db]
    params = [f.get_db_prep_save(v, connection=conn) for f, v in zip(fields, values, strict=True)]
    with conn.cursor() as cur:
        cur.execute(f"{head} VALUES {marks} {returning}".rstrip(), params)
        if returning:
            obj.pk = cur.fetchone()[0]
    obj._state.adding = False
    obj._state.db = db


def insert_many(objs: list[Any]) -> list[Any]:
    """INSERT the new ``objs`` (of one model, no ids yet) in one statement, as ``bulk_create`` does on
    SQLite and PostgreSQL (the ids come back in the order of the rows); returns ``objs``."""
    if not objs:
        return objs
    model = type(objs[0])
    db = router.db_for_write(model, instance=objs[0])
    entry = _insert_sql(model, db) if all(o.pk is None for o in objs) else None
    rows = []
    if entry is not None:
        for obj in objs:
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
            values = _values(obj, entry[3])
            if values is None:
                break
            rows.append(values)
    if entry is None or len(rows) < len(objs):
        return list(model._base_manager.using(db).bulk_create(objs))
    head, marks, returning, fields = entry
    conn = connections[db]
    params = [f.get_db_prep_save(v, connection=conn) for row in rows for f, v in zip(fields, row, strict=True)]
    with conn.cursor() as cur:
        cur.execute(f"{head} VALUES {', '.join([marks] * len(objs))} {returning}", params)
        ids = [row[0] for row in cur.fetchall()]
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = db
    return objs


def update_if_version(obj: models.Model, version: int, changed: set[str] | None = None) -> int:
    """UPDATE the columns of ``obj`` named in ``changed`` (attnames; every column but the id when
    None) to their values in memory, if the stored row's ``version`` is still ``version``; returns the
    number of rows changed (0 or 1). As ``QuerySet.filter(pk=…, version=…)._update(values)``.

    Only the changed columns: SQLite rewrites the index entries of every column an UPDATE sets, even
    to the same value (~1 ms of CPU for a person's full row), and PostgreSQL can keep a row's indexes
    (a HOT update) only when no indexed column is set."""
    model = type(obj)
    db = router.db_for_write(model, instance=obj)
    conn = connections[db]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and (changed is None or f.attname in changed)]
    values = [getattr(obj, f.attname) for f in fields]
    if not _plain(model) or any(hasattr(v, "resolve_expression") for v in values):
        rows = model._base_manager.using(db).filter(pk=obj.pk, version=version)
        return int(rows._update([(f, None, v) for f, v in zip(fields, values, strict=True)]))  # type: ignore[attr-defined]
    qn = conn.ops.quote_name
    table = qn(model._meta.db_table)
    assignments = ", ".join(f"{qn(_column(f))} = %s" for f in fields)
    pk, version_column = qn(_column(model._meta.pk)), qn(_column(model._meta.get_field("version")))
    sql = f"UPDATE {table} SET {assignments} WHERE {table}.{pk} = %s AND {table}.{version_column} = %s"  # noqa: S608
    params: list[Any] = [f.get_db_prep_save(v, connection=conn) for f, v in zip(fields, values, strict=True)]
    params += [obj.pk, version]
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.rowcount)
