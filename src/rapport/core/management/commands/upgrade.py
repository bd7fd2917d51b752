"""``rapport upgrade``: preflight (pending migrations, a fresh backup, free disk), migrate, post-checks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from rapport.core import backup


def _pending() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]


def _database_size() -> int:
    if connection.vendor == "sqlite":
        path = Path(connection.settings_dict["NAME"])
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    with connection.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        return int(cur.fetchone()[0])


class Command(BaseCommand):
    help = "Upgrade this installation's database to this version of Rapport, with a backup taken first."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--backup-dir", default=None, help="Where the pre-upgrade backup goes (RAPPORT_BACKUP_DIR)."
        )
        parser.add_argument("--check", action="store_true", help="Only run the preflight and say what would happen.")

    def handle(self, *args: Any, **opts: Any) -> None:
        backup_dir = Path(opts["backup_dir"] or settings.RAPPORT_BACKUP_DIR)
        pending = _pending()
        self.stdout.write(f"Pending migrations: {len(pending)}" + (": " + ", ".join(pending) if pending else ""))
        # The backup and the migration both need room: a copy of the database, and as much again
        # for a migration that rebuilds a table (SQLite copies a table to alter it).
        needed = 2 * _database_size()
        for place in {backup_dir if backup_dir.exists() else backup_dir.parent, Path(settings.DATA_DIR)}:
            place.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(place).free
            if free < needed:
                raise CommandError(f"Not enough free disk in {place}: {free:,} bytes free, {needed:,} needed.")
        self.stdout.write(f"Free disk: enough (needs {needed:,} bytes).")
        if opts["check"]:
            return
        if not pending:
            self.stdout.write("Nothing to migrate: the database is up to date.")
            call_command("check", stdout=self.stdout)
            return
        try:
            archive = backup.make_backup(backup_dir)
        except backup.BackupError as exc:
            raise CommandError(f"The pre-upgrade backup failed, nothing was changed: {exc}") from exc
        before = backup.read_manifest(archive).counts
        self.stdout.write(f"Backup written: {archive}")
        call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout)
        call_command("check", stdout=self.stdout)
        after = backup.table_counts()
        lost = {t: (n, after.get(t)) for t, n in before.items() if t != "django_migrations" and after.get(t, 0) < n}
        if lost:
            detail = ", ".join(f"{t} {n:,} → {m if m is not None else 'gone'}" for t, (n, m) in sorted(lost.items()))
            raise CommandError(
                f"Rows went missing in the upgrade ({detail}). Restore the backup {archive} into an empty "
                "database with `rapport restore` and report this."
            )
        self.stdout.write(f"Upgraded: {len(pending)} migrations applied, every table kept its rows.")
