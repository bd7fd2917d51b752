"""One row's INSERT, and a record's UPDATE on the condition of its version, with their SQL built once
per model and database: the ORM compiled these on every write (~0.5 ms of CPU each on a busy 2-core
machine) although they differ only in their values.

Values reach the driver as ``Model.save()`` gives them (each field's ``pre_save`` on an insert and
``get_db_prep_save``), errors are Django's (an IntegrityError is ``django.db.IntegrityError``), and
the statements are logged and counted like the ORM's. A model these statements cannot write the way
the ORM would (a generated or database-default column, a field with its own SQL placeholder, a
database that cannot return the new id) is written through the ORM.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, models, router

_inserts: dict[tuple[str, str], tuple[str, list[models.Field]] | None] = {}
_updates: dict[tuple[str, str], tuple[str, list[models.Field]] | None] = {}


def _column(field: Any) -> str:
    return str(field.column)


def _plain(model: type[models.Model]) -> bool:
    return not any(
        getattr(f, "generated", False) or f.has_db_default() or hasattr(f, "get_placeholder")
        for f in model._meta.concrete_fields
    )


def _insert_sql(model: type[models.Model], db: str) -> tuple[str, list[models.Field]] | None:
    key = (model._meta.label, db)
    if key not in _inserts:
        conn = connections[db]
        entry = None
        if _plain(model) and conn.vendor in ("sqlite", "postgresql") and conn.features.can_return_columns_from_insert:
            qn = conn.ops.quote_name
            table = qn(model._meta.db_table)
            fields = [f for f in model._meta.concrete_fields if not f.primary_key]
            columns = ", ".join(qn(_column(f)) for f in fields)
            marks = ", ".join("%s" for _ in fields)
            pk = qn(_column(model._meta.pk))
            sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {table}.{pk}"  # noqa: S608
            entry = (sql, fields)
        _inserts[key] = entry
    return _inserts[key]


def insert(obj: models.Model) -> None:
    """INSERT the new ``obj`` (no id yet) as ``obj.save(force_insert=True)`` would, without the
    model's save signals (the write path uses none); its id is set from the database."""
    model = type(obj)
    db = router.db_for_write(model, instance=obj)
    entry = _insert_sql(model, db) if obj.pk is None else None
    if entry is None:
        obj.save(force_insert=True, using=db)
        return
    sql, fields = entry
    conn = connections[db]
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection=conn) for f in fields]
    with conn.cursor() as cur:
        cur.execute(sql, params)
        obj.pk = cur.fetchone()[0]
    obj._state.adding = False
    obj._state.db = db


def _update_sql(model: type[models.Model], db: str) -> tuple[str, list[models.Field]] | None:
    key = (model._meta.label, db)
    if key not in _updates:
        entry = None
        if _plain(model):
            qn = connections[db].ops.quote_name
            table = qn(model._meta.db_table)
            fields = [f for f in model._meta.concrete_fields if not f.primary_key]
            assignments = ", ".join(f"{qn(_column(f))} = %s" for f in fields)
            pk = qn(_column(model._meta.pk))
            version = qn(_column(model._meta.get_field("version")))
            sql = f"UPDATE {table} SET {assignments} WHERE {table}.{pk} = %s AND {table}.{version} = %s"  # noqa: S608
            entry = (sql, fields)
        _updates[key] = entry
    return _updates[key]


def update_if_version(obj: models.Model, version: int) -> int:
    """UPDATE every column of ``obj`` (but its id) to its value in memory, if the stored row's
    ``version`` is still ``version``; returns the number of rows changed (0 or 1). As
    ``QuerySet.filter(pk=…, version=…)._update(values)``, the ORM's conditional UPDATE."""
    model = type(obj)
    db = router.db_for_write(model, instance=obj)
    entry = _update_sql(model, db)
    values = {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields if not f.primary_key}
    if entry is None or any(hasattr(v, "resolve_expression") for v in values.values()):
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        rows = model._base_manager.using(db).filter(pk=obj.pk, version=version)
        return int(rows._update([(f, None, values[f.attname]) for f in fields]))  # type: ignore[attr-defined]
    sql, fields = entry
    conn = connections[db]
    params: list[Any] = [f.get_db_prep_save(values[f.attname], connection=conn) for f in fields]
    params += [obj.pk, version]
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.rowcount)
