"""PostgreSQL GIN indexes on the JSON columns list filters read (tags, custom fields)."""

from django.db import migrations

TABLES = ["sales_deal", "sales_product"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for column in ("custom", "tags"):
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_{column}_gin ON {table} "
                f"USING gin ({column} jsonb_path_ops) WHERE deleted_at IS NULL"
            )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        for column in ("custom", "tags"):
            schema_editor.execute(f"DROP INDEX IF EXISTS {table}_{column}_gin")


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_default_pipeline")]

    operations = [migrations.RunPython(create, drop)]
