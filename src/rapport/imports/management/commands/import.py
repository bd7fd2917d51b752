"""``rapport import FILE --type people``: dry run and import of a file from the command line, with a
progress line, the rejected rows with their line numbers, and exit code 1 when a dry run rejected rows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.accounts.models import User
from rapport.imports import fullexport, fullload, services
from rapport.imports.models import Import, ImportRejection

MAX_SHOWN = 50


class Command(BaseCommand):
    help = "Import a file (CSV...) into a record type: a dry run first, then the valid rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument(
            "--type", help="people, companies, deals, activities, products… (not for a full export's .zip)"
        )
        parser.add_argument("--user", help="Import as this user (default: the only administrator).")
        parser.add_argument("--mapping", help="A mapping saved on the import page, by name.")
        parser.add_argument("--match", help="Match rows to existing records on this field (default: the type's).")
        parser.add_argument("--no-match", action="store_true", help="Never match: every valid row is a new record.")
        parser.add_argument("--on-match", choices=["skip", "update"], default="skip")
        parser.add_argument("--create-companies", action="store_true", help="Create companies named but missing.")
        parser.add_argument("--tag-separator", default=None)
        parser.add_argument("--dry-run", action="store_true", help="Check every row and write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"There is no file {path}.")
        actor = self._actor(options["user"])
        if path.suffix.lower() == ".zip" and fullload.is_full_export(path):
            self._load_full_export(path, actor)
            return
        if not options["type"]:
            raise CommandError("Say which records the file holds: --type people (or companies, deals…).")
        try:
            imp = services.create_import(actor=actor, type_key=options["type"], upload=path, filename=path.name)
            if options["mapping"]:
                imp = services.apply_saved_mapping(imp, options["mapping"], actor=actor)
            match = "" if options["no_match"] else options["match"]
            imp = services.set_mapping(
                imp,
                actor=actor,
                on_match=options["on_match"],
                match_field=match,
                create_companies=options["create_companies"] or None,
                tag_separator=options["tag_separator"],
            )
        except services.ImportInputError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from exc
        mapped = [f"{h} → {t}" for h, t in zip(imp.headers, imp.mapping, strict=False) if t]
        self.stdout.write(f"Import #{imp.pk} of {imp.filename} into {imp.type_key}: " + "; ".join(mapped))
        started = time.monotonic()
        imp = services.run_now(imp, dry_run=options["dry_run"], progress=self._progress(started))
        self._progress(started)(imp, final=True)
        self.stdout.write(
            f"{imp.get_status_display()}: {imp.created:,} {'to create' if options['dry_run'] else 'created'}, "
            f"{imp.updated:,} {'to update' if options['dry_run'] else 'updated'}, {imp.skipped:,} skipped, "
            f"{imp.rejected:,} rejected."
        )
        for r in ImportRejection.objects.filter(job=imp).order_by("line", "id")[:MAX_SHOWN]:
            where = f" {r.column}" if r.column else ""
            value = f" {r.value!r}" if r.value else ""
            self.stdout.write(f"  line {r.line}{where}{value}: {r.reason}")
        if imp.rejected > MAX_SHOWN:
            self.stdout.write(f"  … and more: see the import's page or GET /api/v1/imports/{imp.pk}/rejections/")
        if imp.status == Import.FAILED:
            raise CommandError(imp.error)
        if options["dry_run"] and imp.rejected:
            sys.exit(1)

    def _load_full_export(self, path: Path, actor: User) -> None:
        """A zip made by ``rapport export --all``: every type in one batch (imports.fullload)."""
        try:
            result = fullload.load_full_export(path, actor=actor, say=self.stdout.write)
        except fullexport.FullExportError as exc:
            raise CommandError(str(exc)) from exc
        for done in result.imports:
            self.stdout.write(
                f"{done['type']}: {done['created']:,} created, {done['rejected']:,} rejected (import #{done['import']})"
            )
        self.stdout.write(
            f"Loaded as batch {result.batch}: {result.related_written:,} records got their links and child rows;"
            f" {len(result.users_created)} users and {len(result.settings_created)} settings created."
        )
        for problem in result.problems:
            self.stdout.write(f"  {problem}")
        if result.more_problems:
            self.stdout.write(f"  … and {result.more_problems:,} more problems.")
        if result.problems:
            sys.exit(1)

    def _actor(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"There is no active user {username!r}.")
            return user
        admins = list(User.objects.filter(is_active=True, is_superuser=True)[:2])
        if len(admins) != 1:
            raise CommandError("Say who imports: --user USERNAME.")
        return admins[0]

    def _progress(self, started: float) -> Any:
        out = self.stdout
        shown = {"phase": ""}

        def show(imp: Import, final: bool = False) -> None:
            seconds = max(time.monotonic() - started, 1e-6)
            phase = "Checking" if imp.status in (Import.CHECKING, Import.CHECKED) else "Importing"
            if shown["phase"] and shown["phase"] != phase:
                out.write("")  # the dry run's line stays; the import's starts below it
            shown["phase"] = phase
            total = f" of {imp.total:,}" if imp.total else ""
            width = 30
            filled = width * imp.rows_done // imp.total if imp.total else 0
            bar = f"[{'#' * filled}{'.' * (width - filled)}] " if imp.total else ""
            line = f"\r{phase} {bar}{imp.rows_done:,}{total} rows, {imp.rows_done / seconds:,.0f} rows/s"
            out.write(line, ending="\n" if final else "")
            out.flush()

        return show
