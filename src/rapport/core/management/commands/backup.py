"""``rapport backup``: one archive of the whole installation (database, secret key, files, manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rapport.core import backup


class Command(BaseCommand):
    help = "Write a backup archive of the database and data folder (safe while Rapport runs)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--output",
            default=None,
            help="Folder for the archive (default: RAPPORT_BACKUP_DIR, else <data folder>/backups).",
        )
        parser.add_argument("--keep", type=int, default=None, help="Then delete all but the N newest archives there.")

    def handle(self, *args: Any, **opts: Any) -> None:
        directory = Path(opts["output"] or settings.RAPPORT_BACKUP_DIR)
        try:
            path = backup.make_backup(directory)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = backup.read_manifest(path)
        rows = sum(manifest.counts.values())
        self.stdout.write(
            f"Backup written: {path} ({path.stat().st_size:,} bytes, {rows:,} rows in {len(manifest.counts)} tables)"
        )
        if opts["keep"] is not None:
            for old in backup.prune_backups(directory, opts["keep"]):
                self.stdout.write(f"Deleted old backup {old.name}")
