"""``rapport export --all FILE.zip``: every record type as a zip of CSV files that ``rapport import`` loads
back into an empty installation (imports.fullexport)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from rapport.imports import fullexport


class Command(BaseCommand):
    help = "Export every record type, with ids and links, as a zip of CSV files (rapport export --all FILE.zip)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", help="The zip to write (replaced if it exists).")
        parser.add_argument(
            "--all", action="store_true", help="Every record type (the only export this command makes)."
        )
        parser.add_argument(
            "--user",
            default=None,
            help="The administrator the export is made as (user name or email); default: the first active one.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not opts["all"]:
            raise CommandError("Say --all: this command exports every record type (lists export from their pages).")
        user = self._user(opts["user"])
        path = Path(opts["file"])
        if path.suffix.lower() != ".zip":
            raise CommandError(f"{path}: the file must end in .zip.")
        partial = path.with_name(path.name + ".part")
        stream = self.stderr if sys.stderr.isatty() else None

        def progress(type_key: str, rows: int) -> None:
            if stream is not None:
                stream.write(f"\r{type_key}: {rows:,} rows", ending="")
                stream.flush()

        try:
            with open(partial, "wb") as handle:
                manifest = fullexport.write_full_export(handle, user=user, progress=progress)
            os.replace(partial, path)
        except fullexport.FullExportError as exc:
            partial.unlink(missing_ok=True)
            raise CommandError(str(exc)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        if stream is not None:
            stream.write("")
        counts = ", ".join(f"{t['count']:,} {t['label'].lower()}" for t in manifest["types"])
        self.stdout.write(f"Exported to {path} ({path.stat().st_size:,} bytes): {counts}.")

    def _user(self, name: str | None) -> Any:
        users = get_user_model().objects.filter(is_active=True).select_related("role").order_by("pk")
        if name:
            user = users.filter(Q(username=name) | Q(email__iexact=name)).first()
            if user is None:
                raise CommandError(f"There is no active user {name!r}.")
            if not fullexport.may_export_all(user):
                raise CommandError(f"{name} is not an administrator: only administrators export everything.")
            return user
        for user in users:
            if fullexport.may_export_all(user):
                return user
        raise CommandError("There is no active administrator to export as; create one with rapport createuser.")
