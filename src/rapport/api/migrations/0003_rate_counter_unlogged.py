"""API rate-limit counts in an unlogged table on PostgreSQL (api/throttle.py).

Every API request bumps its user's count with one upsert. In a logged table each of those commits waits for
its WAL record to reach disk: ~5.5 ms of wall time and ~0.1 ms of the web process's CPU per request, measured
on the benchmark machine, against ~0.4 ms and ~0.05 ms unlogged. A count is worth nothing after a crash (its
window is a minute long; a crash empties the table and every user starts a fresh window), and only the primary
counts, so neither durability nor replication is needed. SQLite (WAL, synchronous=NORMAL) does not wait for
the disk on commit: nothing to change there.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE api_ratecounter SET UNLOGGED")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE api_ratecounter SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_rate_counter"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
