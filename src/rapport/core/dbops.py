"""Migration operations every record type's app needs."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def json_gin_indexes(tables: list[str], columns: tuple[str, ...] = ("custom", "tags")) -> migrations.RunPython:
    """PostgreSQL GIN indexes (jsonb_path_ops, live rows only) on the JSON columns that list
    filters read with ``@>``; nothing on SQLite, where custom fields get expression indexes."""

    def create(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            for column in columns:
                schema_editor.execute(
                    f"CREATE INDEX IF NOT EXISTS {table}_{column}_gin ON {table} "
                    f"USING gin ({column} jsonb_path_ops) WHERE deleted_at IS NULL"
                )

    def drop(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in tables:
            for column in columns:
                schema_editor.execute(f"DROP INDEX IF EXISTS {table}_{column}_gin")

    return migrations.RunPython(create, drop)
