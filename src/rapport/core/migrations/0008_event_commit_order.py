"""The order in which events became visible, for the sync cursor (core/changes.py).

On PostgreSQL event ids are handed out when a row is inserted, not when its transaction commits, so
a reader walking ids can pass an id whose transaction has not committed yet and never see it. Each
event therefore keeps the id of the transaction that wrote it (``commit_txid``, filled by the
database); the cursor walks (commit_txid, id) and stops below the oldest transaction still running.
The column is not a model field: only the cursor's SQL reads it, and every insert — the ORM's and
the bulk loaders' COPY — leaves it to the default. ``pg_current_xact_id()`` is stable within a
transaction, so adding the column with it as the default stores one value for the existing rows
(the migration's own transaction, older than any later write) without rewriting the table.

On SQLite one writer at a time holds the write lock from its first insert to its commit, so ids
become visible in order; the cursor walks ids, served by an index on (type_key, id).
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE core_event ADD COLUMN commit_txid xid8 NOT NULL DEFAULT pg_current_xact_id()"
        )
        schema_editor.execute("CREATE INDEX event_sync_idx ON core_event (type_key, commit_txid, id)")
    else:
        schema_editor.execute("CREATE INDEX event_sync_idx ON core_event (type_key, id)")


def backwards(apps, schema_editor):
    schema_editor.execute("DROP INDEX event_sync_idx")
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE core_event DROP COLUMN commit_txid")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_customfield_is_identifier"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
