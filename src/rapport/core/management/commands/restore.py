"""``rapport restore ARCHIVE``: restore a backup into an empty installation, then migrate it."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from rapport.core import backup


class Command(BaseCommand):
    help = "Restore a backup archive into this installation's empty database, then apply newer migrations."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("archive", help="A rapport-backup-….tar.gz written by `rapport backup`.")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            manifest = backup.restore_backup(opts["archive"])
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest.counts.values())
        self.stdout.write(
            f"Restored the backup of {manifest.data['created_at']} ({rows:,} rows in {len(manifest.counts)} tables, "
            "every count and checksum verified)."
        )
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Migrations applied; Rapport can start.")
