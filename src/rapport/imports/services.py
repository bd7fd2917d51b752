"""The writes of imports: pages, API, the ``rapport import`` command and the jobs all call these.

An import goes uploaded → mapped → checking → checked (the dry run) → running → done (or failed or
cancelled) → undone. Entry points:

- ``create_import(actor=, type_key=, upload=, filename=, batch=)``: store the file (streamed) and suggest
  a mapping;
- ``set_mapping(imp, actor=, ...)``, ``save_mapping`` / ``apply_saved_mapping``;
- ``start_check`` / ``start_run`` / ``start_undo``: queue the job for the phase (after commit);
  ``cancel`` stops a running phase after its current batch;
- ``run_check`` / ``run_import`` / ``run_undo``: the phases themselves (the job calls them; resumable);
- ``run_now(imp, dry_run=)``: dry run and import in this process (the command, tests, zip loads).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from rapport.core import bulk, customfields, registry, services
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.registry import RecordType
from rapport.core.visibility import SYSTEM

from . import layouts, readers
from .mapping import Resolver, RowPlan, Target, default_match, match_choices, plan_row, targets
from .models import Import, ImportChange, ImportRejection, SavedMapping

BATCH = 0  # 0: settings.RAPPORT_IMPORT_BATCH (tests set a number)
UNDO_BATCH = 200
SOURCE = "import"


class ImportInputError(ValueError):
    """An import that cannot go on as asked; ``field`` names the form field or API key."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def imports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def importable_types(actor: Any) -> list[RecordType]:
    """Registered types with a write serializer that ``actor`` may import into (import and add)."""
    return [
        t
        for t in registry.all_types()
        if t.serializer is not None
        and actor.scope_for(t.key, "import") is not None
        and actor.scope_for(t.key, "add") is not None
    ]


def may_import(actor: Any, type_key: str) -> bool:
    return any(t.key == type_key for t in importable_types(actor))


def check_type(actor: Any, type_key: str) -> RecordType:
    if not may_import(actor, type_key):
        raise ImportInputError("type", "choose a type of record you may import.")
    return registry.get(type_key)


# --- upload and mapping -----------------------------------------------------------------------------


def create_import(
    *,
    actor: Any,
    type_key: str,
    upload: Any,
    filename: str,
    batch: str = "",
    options: readers.ReadOptions | None = None,
) -> Import:
    """Store an uploaded file under RAPPORT_DATA_DIR/imports/ (copied in chunks, never read whole) and
    read its column titles; ``upload`` is a Django UploadedFile, a binary file object or a Path."""
    rtype = check_type(actor, type_key)
    filename = Path(filename or "data.csv").name[:255] or "data.csv"
    path = imports_dir() / f"{uuid.uuid4().hex}{Path(filename).suffix[:10]}"
    size = _store(upload, path)
    options = options or readers.ReadOptions()
    try:
        with readers.open_table(path, filename=filename, options=options) as table:
            headers = list(table.headers)
            fmt, encoding, delimiter = table.format, table.encoding or "", table.delimiter or ""
    except readers.ReadError as exc:
        path.unlink(missing_ok=True)
        where = f" (line {exc.line})" if exc.line else ""
        raise ImportInputError("file", f"{exc.message}{where}") from exc
    except (UnicodeDecodeError, OSError) as exc:
        path.unlink(missing_ok=True)
        raise ImportInputError("file", f"The file cannot be read: {exc}") from exc
    if not any(h.strip() for h in headers):
        path.unlink(missing_ok=True)
        raise ImportInputError("file", "The file has no column titles on its first line.")
    found = targets(rtype)
    suggestions = layouts.suggest_mapping(rtype.key, headers, {k: t.label for k, t in found.items()})
    mapping = [(s.target if s.target in found else "") or "" for s in suggestions]
    mapping += [""] * (len(headers) - len(mapping))
    return Import.objects.create(
        type_key=rtype.key,
        actor=actor,
        filename=filename,
        stored_path=str(path),
        size=size,
        format=fmt,
        encoding=encoding,
        delimiter=delimiter[:4],
        sheet=options.sheet or "",
        headers=headers,
        mapping=mapping,
        match_field=default_match(rtype),
        batch=batch,
    )


def _store(upload: Any, path: Path) -> int:
    limit = settings.RAPPORT_IMPORT_MAX_BYTES
    too_big = ImportInputError("file", f"The file is larger than {limit:,} bytes, the most an import takes.")
    if isinstance(upload, Path | str):
        if Path(upload).stat().st_size > limit:
            raise too_big
        shutil.copyfile(upload, path)
        return path.stat().st_size
    size = 0
    with open(path, "wb") as out:
        chunks: Iterable[bytes] = (
            upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b"")
        )
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise too_big
            out.write(chunk)
    return size


def sample_values(imp: Import, rows: int = 3) -> list[list[str]]:
    """The first few values of each column, for the mapping page."""
    out: list[list[str]] = [[] for _ in imp.headers]
    with _open(imp) as table:
        for n, row in enumerate(table.rows()):
            if n >= rows:
                break
            for i, cell in enumerate(row.cells[: len(out)]):
                if cell.strip():
                    out[i].append(cell[:80])
    return out


def set_mapping(
    imp: Import,
    *,
    actor: Any,
    mapping: list[str] | None = None,
    columns: dict[str, str] | None = None,
    constants: dict[str, str] | None = None,
    on_match: str | None = None,
    match_field: str | None = None,
    create_companies: bool | None = None,
    tag_separator: str | None = None,
) -> Import:
    """Change the mapping (per column index, or ``columns`` by column title) and the match settings; a
    new dry run is needed afterwards."""
    _own(imp, actor)
    if imp.status not in Import.EDITABLE:
        raise ImportInputError("status", f"this import is {imp.get_status_display().lower()}; its mapping is fixed.")
    rtype = registry.get(imp.type_key)
    found = targets(rtype)
    if mapping is not None:
        if len(mapping) != len(imp.headers):
            raise ImportInputError("mapping", f"give one target per column ({len(imp.headers)}).")
        new = [str(t or "") for t in mapping]
    else:
        new = list(imp.mapping)
    if columns:
        index = {h: i for i, h in enumerate(imp.headers)}
        for header, target in columns.items():
            if header not in index:
                raise ImportInputError("columns", f"the file has no column {header!r}.")
            new[index[header]] = str(target or "")
    for i, target in enumerate(new):
        if target and target not in found:
            raise ImportInputError(
                "mapping", f"column {imp.headers[i]!r}: there is no field {target!r} to import into."
            )
    if constants is not None:
        for key, value in constants.items():
            if key not in found or found[key].kind in ("source_id",):
                raise ImportInputError("constants", f"there is no field {key!r} to set on every row.")
            if not isinstance(value, str) or len(value) > 1000:
                raise ImportInputError("constants", f"{key}: give a text of at most 1,000 characters.")
        imp.constants = dict(constants)
    if on_match is not None:
        if on_match not in dict(Import.ON_MATCH):
            raise ImportInputError("on_match", "choose skip or update.")
        imp.on_match = on_match
    if match_field is not None:
        if match_field and match_field not in match_choices(rtype):
            raise ImportInputError("match_field", f"rows cannot be matched on {match_field!r}.")
        imp.match_field = match_field
    if create_companies is not None:
        imp.create_companies = bool(create_companies)
    if tag_separator is not None:
        if len(tag_separator) > 4:
            raise ImportInputError("tag_separator", "use at most 4 characters.")
        imp.tag_separator = tag_separator
    imp.mapping = new
    imp.status, imp.checked = Import.MAPPED, False
    _reset_counts(imp)
    imp.save()
    ImportRejection.objects.filter(job=imp).delete()
    return imp


def save_mapping(imp: Import, name: str, *, actor: Any) -> SavedMapping:
    name = name.strip()
    if not name or len(name) > 100:
        raise ImportInputError("name", "give the mapping a name of at most 100 characters.")
    columns = {h: t for h, t in zip(imp.headers, imp.mapping, strict=False) if h}
    saved, _ = SavedMapping.objects.update_or_create(
        type_key=imp.type_key, name=name, defaults={"columns": columns, "constants": imp.constants, "owner": actor}
    )
    return saved


def apply_saved_mapping(imp: Import, name: str, *, actor: Any) -> Import:
    saved = SavedMapping.objects.filter(type_key=imp.type_key, name=name).first()
    if saved is None:
        raise ImportInputError("mapping_name", f"there is no saved mapping {name!r} for this type.")
    found = targets(registry.get(imp.type_key))
    columns = {h: (t if t in found else "") for h, t in saved.columns.items() if h in imp.headers}
    mapping = [columns.get(h, "") for h in imp.headers]
    constants = {k: v for k, v in saved.constants.items() if k in found}
    return set_mapping(imp, actor=actor, mapping=mapping, constants=constants)


def _own(imp: Import, actor: Any) -> None:
    if not may_import(actor, imp.type_key) or (imp.actor_id != actor.pk and not actor.can_manage_settings()):
        raise PermissionDenied("You may not change this import.")


def _reset_counts(imp: Import) -> None:
    imp.total = imp.rows_done = imp.created = imp.updated = imp.skipped = imp.rejected = 0
    imp.checkpoint_line = 0
    imp.error = ""
    imp.cancel_requested = False
    imp.finished_at = None


# --- starting and stopping phases ---------------------------------------------------------------------


def _enqueue(imp: Import, phase: str) -> None:
    from .tasks import run_import_phase

    def go() -> None:
        result = run_import_phase.enqueue(imp.pk, phase)
        Import.objects.filter(pk=imp.pk).update(job_id=str(result.id)[:64])

    transaction.on_commit(go)


def start_check(imp: Import, *, actor: Any) -> Import:
    _own(imp, actor)
    if imp.status not in Import.EDITABLE:
        raise ImportInputError("status", f"this import is {imp.get_status_display().lower()}.")
    imp.status, imp.checked = Import.CHECKING, False
    _reset_counts(imp)
    imp.phase_started_at = timezone.now()
    imp.save()
    _enqueue(imp, "check")
    return imp


def start_run(imp: Import, *, actor: Any) -> Import:
    _own(imp, actor)
    if imp.status != Import.CHECKED:
        raise ImportInputError("status", "run the dry run first.")
    _begin_run(imp)
    _enqueue(imp, "run")
    return imp


def start_undo(imp: Import, *, actor: Any) -> Import:
    _own(imp, actor)
    if imp.status not in (Import.DONE, Import.CANCELLED, Import.FAILED) or not imp.changes.exists():
        raise ImportInputError("status", "only a finished import that wrote records can be undone.")
    imp.status = Import.UNDOING
    imp.phase_started_at = timezone.now()
    imp.save(update_fields=["status", "phase_started_at"])
    _enqueue(imp, "undo")
    return imp


def cancel(imp: Import, *, actor: Any) -> Import:
    """A dry run stops and the mapping can be changed; an import stops after its current batch (what it
    wrote stays, and can be undone)."""
    _own(imp, actor)
    if imp.status == Import.CHECKING:
        Import.objects.filter(pk=imp.pk).update(cancel_requested=True, status=Import.MAPPED)
    elif imp.status == Import.RUNNING:
        Import.objects.filter(pk=imp.pk).update(cancel_requested=True)
    elif imp.status in (Import.UPLOADED, Import.MAPPED, Import.CHECKED):
        Import.objects.filter(pk=imp.pk).update(status=Import.CANCELLED, finished_at=timezone.now())
    else:
        raise ImportInputError(
            "status", f"this import is {imp.get_status_display().lower()}; there is nothing to cancel."
        )
    imp.refresh_from_db()
    return imp


# --- the phases -----------------------------------------------------------------------------------


def _open(imp: Import) -> readers.Table:
    options = readers.ReadOptions(delimiter=imp.delimiter or None, sheet=imp.sheet or None)
    return readers.open_table(Path(imp.stored_path), filename=imp.filename, options=options)


def _batches(rows: Iterator[readers.Row], after_line: int) -> Iterator[list[readers.Row]]:
    size = BATCH or settings.RAPPORT_IMPORT_BATCH
    batch: list[readers.Row] = []
    for row in rows:
        if row.line <= after_line:
            continue
        if not any(c.strip() for c in row.cells):
            continue  # a blank line is no row
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


Progress = Callable[[Import], None]


def run_check(import_id: int, *, progress: Progress | None = None) -> Import:
    """The dry run: every row validated, matched and counted as it would be imported; rejected rows
    stored with their line, column, value and reason. Nothing else is written."""
    imp = Import.objects.select_related("actor").get(pk=import_id)
    if imp.status != Import.CHECKING:
        return imp
    ImportRejection.objects.filter(job=imp).delete()
    _reset_counts(imp)
    imp.save()
    work = Work(imp, write=False)
    try:
        with _open(imp) as table, customfields.memoized():
            for rows in _batches(table.rows(), 0):
                result = work.batch(rows)
                with transaction.atomic():
                    ImportRejection.objects.bulk_create(result.rejections)
                    _add_counts(imp, result, len(rows), rows[-1].line)
                if Import.objects.filter(pk=imp.pk, cancel_requested=True).exists():
                    return Import.objects.get(pk=imp.pk)
                if progress:
                    progress(imp)
    except readers.ReadError as exc:
        return _fail(imp, f"{exc.message} (line {exc.line})" if exc.line else exc.message)
    Import.objects.filter(pk=imp.pk, status=Import.CHECKING).update(
        status=Import.CHECKED, checked=True, total=F("rows_done"), finished_at=timezone.now()
    )
    imp.refresh_from_db()
    return imp


def run_import(import_id: int, *, progress: Progress | None = None) -> Import:
    """The import: batches of rows, each ONE transaction with its records (through the write services,
    source ``import``, request id ``import-<id>``), its change rows, its rejections and the checkpoint;
    a retried job resumes after the checkpoint, so no row is written twice or lost."""
    imp = Import.objects.select_related("actor").get(pk=import_id)
    if imp.status != Import.RUNNING:
        return imp
    if imp.checkpoint_line == 0:
        with transaction.atomic():  # the dry run's figures give way to the import's
            ImportRejection.objects.filter(job=imp).delete()
            Import.objects.filter(pk=imp.pk).update(created=0, updated=0, skipped=0, rejected=0)
        imp.refresh_from_db()
    work = Work(imp, write=True)
    try:
        with _open(imp) as table:
            for rows in _batches(table.rows(), imp.checkpoint_line):
                with transaction.atomic(), services.request_context(imp.request_id):
                    result = work.batch(rows)
                    bulk.insert_objects(ImportChange, result.changes, with_id=False)
                    bulk.insert_objects(ImportRejection, result.rejections, with_id=False)
                    _add_counts(imp, result, len(rows), rows[-1].line)
                if progress:
                    progress(imp)
                if Import.objects.filter(pk=imp.pk, cancel_requested=True).exists():
                    Import.objects.filter(pk=imp.pk).update(status=Import.CANCELLED, finished_at=timezone.now())
                    return Import.objects.get(pk=imp.pk)
    except readers.ReadError as exc:
        return _fail(imp, f"{exc.message} (line {exc.line})" if exc.line else exc.message)
    with transaction.atomic():
        if Import.objects.filter(pk=imp.pk, status=Import.RUNNING).update(
            status=Import.DONE, finished_at=timezone.now()
        ):
            # Without a dry run (a full export loaded back) the row total is known only now.
            Import.objects.filter(pk=imp.pk, total=0).update(total=F("rows_done"))
            _look_for_duplicates(imp)
    imp.refresh_from_db()
    return imp


def _look_for_duplicates(imp: Import) -> None:
    """Rows that matched nothing on the match key may still be someone already here ("Jon Smith, same
    phone" for "John Smith"): once the import is done, an incremental duplicate scan of the type puts
    such pairs in the review queue (/duplicates/), scored and explained like every other pair."""
    rtype = registry.find(imp.type_key)
    if rtype is None or rtype.identity is None or not (imp.created or imp.updated):
        return
    from rapport.duplicates import services as duplicates
    from rapport.duplicates import tasks as duplicate_jobs

    scan, queued = duplicates.start_scan(actor=SYSTEM, type_key=rtype.key, full=False)
    if queued:
        duplicate_jobs.enqueue_scan(scan.pk)


def _add_counts(imp: Import, result: BatchResult, rows: int, last_line: int) -> None:
    Import.objects.filter(pk=imp.pk).update(
        rows_done=F("rows_done") + rows,
        created=F("created") + result.created,
        updated=F("updated") + result.updated,
        skipped=F("skipped") + result.skipped,
        rejected=F("rejected") + result.rejected_rows,
        checkpoint_line=last_line,
    )
    imp.rows_done += rows
    imp.created += result.created
    imp.updated += result.updated
    imp.skipped += result.skipped
    imp.rejected += result.rejected_rows
    imp.checkpoint_line = last_line


def _fail(imp: Import, message: str) -> Import:
    Import.objects.filter(pk=imp.pk).update(status=Import.FAILED, error=message[:2000], finished_at=timezone.now())
    imp.refresh_from_db()
    return imp


def fail(import_id: int, message: str) -> None:
    """A phase that raised on its last attempt (the job calls this)."""
    Import.objects.filter(pk=import_id, status__in=Import.BUSY).update(
        status=Import.FAILED, error=message[:2000], finished_at=timezone.now()
    )


def run_now(imp: Import, *, dry_run: bool = False, check: bool = True, progress: Progress | None = None) -> Import:
    """Dry run, then (unless ``dry_run``) the import, in this process: the command, tests, zip loads.
    ``check=False`` goes straight to the import (a full export loaded back: nobody reads a dry run's
    figures there, and the import validates every row itself and stores the rejected ones)."""
    if not check and not dry_run and imp.status in (Import.UPLOADED, Import.MAPPED, Import.FAILED):
        _begin_run(imp)
        return run_import(imp.pk, progress=progress)
    if imp.status in (Import.UPLOADED, Import.MAPPED, Import.FAILED):
        imp.status = Import.CHECKING
        imp.phase_started_at = timezone.now()
        imp.save(update_fields=["status", "phase_started_at"])
        imp = run_check(imp.pk, progress=progress)
    if dry_run or imp.status != Import.CHECKED:
        return imp
    _begin_run(imp)
    return run_import(imp.pk, progress=progress)


def _begin_run(imp: Import) -> None:
    """The dry run's progress gives way to the import's (the row total stays)."""
    imp.status = Import.RUNNING
    imp.phase_started_at = timezone.now()
    imp.rows_done = imp.checkpoint_line = 0
    imp.finished_at = None
    imp.save(update_fields=["status", "phase_started_at", "rows_done", "checkpoint_line", "finished_at"])


# --- one batch ------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    changes: list[ImportChange] = field(default_factory=list)
    rejections: list[ImportRejection] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({r.line for r in self.rejections})


class _TrialDone(Exception):
    """Rolls back the dry run's trial write."""


@dataclass
class Checked:
    """A row's validation as a create: its validated data, or the serializer's errors."""

    data: dict[str, Any] | None
    errors: Any


@dataclass
class Group:
    """Rows of a batch that are one record: the first row, and rows matching it by the match key."""

    lead: RowPlan
    merged: list[RowPlan] = field(default_factory=list)
    record: Any = None  # the existing record it matches
    created_here: bool = False  # that record was created by this import (an earlier batch)


class Work:
    """What a phase needs across batches: the type, its targets, the resolver, and (dry run) the match
    keys seen in earlier batches, so rows matching each other across batches count once."""

    def __init__(self, imp: Import, *, write: bool) -> None:
        self.imp = imp
        self.write = write
        self.actor = imp.actor
        self.rtype = registry.get(imp.type_key)
        self.model = self.rtype.model
        self.serializer_class = self.rtype.get_serializer_class()
        self.found: dict[str, Target] = targets(self.rtype)
        self.resolver = Resolver(self.rtype, self.found, self.actor, imp.batch)
        self.seen: dict[int, int] = {}  # dry run: hash of a match key → first line
        self.match_path = self.rtype.import_match.get(imp.match_field, "") if imp.match_field else ""
        # The match field's own serializer field normalises keys (built once: a serializer is costly).
        self.key_fields = self.serializer_class(context={"actor": self.actor}).fields
        self._serializer: Any = None

    def validated(self, payload: dict[str, Any], instance: Any) -> Any:
        """The type's write serializer over ``payload`` (a create, or a partial update of ``instance``).
        One serializer is reused for every row of the phase: building a ModelSerializer's fields is most
        of its cost, and they hold no state of a row (DRF keeps that in ``initial_data``, ``_errors`` and
        ``_validated_data``, reset here)."""
        s = self._serializer
        if s is None:
            s = self._serializer = self.serializer_class(data={}, context={"actor": self.actor})
        s.instance = instance
        s.partial = instance is not None
        s.initial_data = payload
        for attr in ("_validated_data", "_errors", "_data"):
            s.__dict__.pop(attr, None)
        return s

    # -- matching --
    def keys_of(self, plan: RowPlan, checked: Checked | None = None) -> list[str]:
        """The row's match keys, normalised by the match field's own serializer field. A key in a list
        of entries (a person's emails) is taken from the row's validated data when the whole row was
        valid (the same entries: the list's validation is part of the row's), not validated again."""
        name = self.imp.match_field
        if not name:
            return []
        if checked is not None and checked.data is not None and "__" in self.match_path:
            field_name, sub = self.match_path.split("__", 1)
            return [str(v[sub]).casefold() for v in checked.data.get(field_name) or [] if v.get(sub)]
        if name.startswith("cf_"):
            value = plan.payload.get("custom", {}).get(name[3:])
            return [str(value).strip().casefold()] if value not in (None, "") else []
        field_name = self.match_path.split("__")[0] if self.match_path else name
        raw = plan.payload.get(field_name)
        if raw in (None, "", []):
            return []
        try:
            value = self.key_fields[field_name].run_validation(raw)
        except Exception:  # noqa: BLE001 - the row's full validation reports it
            return []
        if "__" in self.match_path:
            sub = self.match_path.split("__", 1)[1]
            return [str(v[sub]).casefold() for v in value if v.get(sub)]
        return [str(value).casefold()] if value not in (None, "") else []

    def existing(self, keys: set[str]) -> dict[str, int]:
        if not keys:
            return {}
        from django.db.models.functions import Lower

        name = self.imp.match_field
        qs = self.model.objects.live()
        if name.startswith("cf_"):
            rows = qs.filter(**{f"custom__{name[3:]}__in": list(keys)}).values_list(f"custom__{name[3:]}", "pk")
        elif "__" in self.match_path:
            rows = qs.filter(**{f"{self.match_path}__in": list(keys)}).values_list(self.match_path, "pk")
        else:
            path = self.match_path or name
            rows = qs.annotate(_key=Lower(path)).filter(_key__in=list(keys)).values_list("_key", "pk")
        out: dict[str, int] = {}
        for key, pk in rows.order_by("pk"):
            out.setdefault(str(key).casefold(), pk)
        return out

    # -- a batch --
    def batch(self, rows: list[readers.Row]) -> BatchResult:
        imp = self.imp
        result = BatchResult()
        plans = [
            plan_row(
                r.line,
                r.cells,
                headers=imp.headers,
                mapping=imp.mapping,
                constants=imp.constants,
                found=self.found,
                tag_separator=imp.tag_separator,
            )
            for r in rows
        ]
        for r, plan in zip(rows, plans, strict=True):
            if r.error is not None:  # read with a problem (a NUL, mixed encodings, extra cells): refused
                index = imp.headers.index(r.error.column) if r.error.column in imp.headers else -1
                value = r.cells[index] if 0 <= index < len(r.cells) else ""
                plan.errors.insert(0, (r.error.column or "", value, r.error.message))
        self.resolver.resolve(plans, create_companies=imp.create_companies)
        checked = self._check_rows(plans)
        groups = self._group(plans, result, checked)
        if self.write:
            self._create_companies(groups, result)
        creates: list[tuple[Group, dict[str, Any]]] = []
        updates: list[tuple[Group, Any]] = []
        may_change: set[int] = set()
        matched = [g.record for g in groups if g.record is not None]
        if matched:
            may_change = set(
                self.model.objects.visible_to(self.actor, "change")
                .filter(pk__in=[r.pk for r in matched])
                .values_list("pk", flat=True)
            )
        for g in groups:
            plan = g.lead
            if plan.errors:
                self._reject(g, plan.errors, result)
                continue
            payload = dict(plan.payload)
            if plan.missing_company and not self.write:
                payload.pop("company", None)  # created by the import itself
            if g.record is not None and not (imp.on_match == "update" or g.created_here):
                result.skipped += 1 + len(g.merged)
                if self.write:
                    self._change(g, ImportChange.SKIPPED, g.record.pk, g.record.version, result)
                continue
            if g.record is not None:
                if g.record.pk not in may_change:
                    label = self.rtype.label.lower()
                    self._reject(g, [("", "", f"It matches a {label} you may not change.")], result)
                    continue
                s = self.validated(payload, g.record)
                if not s.is_valid():
                    self._reject(g, self._errors(plan, s.errors), result)
                    continue
                updates.append((g, s.validated_data))
            else:
                done = checked.get(id(plan)) if not g.merged else None
                if done is not None:  # validated once, before grouping, with this very payload
                    if done.data is None:
                        self._reject(g, self._errors(plan, done.errors), result)
                    else:
                        creates.append((g, done.data))
                    continue
                s = self.validated(payload, None)
                if not s.is_valid():
                    self._reject(g, self._errors(plan, s.errors), result)
                    continue
                creates.append((g, s.validated_data))
        if not self.write:
            result.created += len(creates)
            result.skipped += sum(len(g.merged) for g, _ in creates)
            for g, data in updates:
                self._try_update(g, data, result)
            return result
        self._write_creates(creates, result)
        self._write_updates(updates, result)
        return result

    def _check_rows(self, plans: list[RowPlan]) -> dict[int, Checked]:
        """Each row without a problem so far validated as a create by the type's write serializer, once
        per phase: the outcome serves its match keys and, when it turns out to be a new record on its
        own, its write or its rejection. (A row that will create its company is validated after that.)"""
        out: dict[int, Checked] = {}
        for plan in plans:
            if plan.errors or plan.missing_company:
                continue
            s = self.validated(dict(plan.payload), None)
            out[id(plan)] = Checked(s.validated_data, None) if s.is_valid() else Checked(None, s.errors)
        return out

    def _group(self, plans: list[RowPlan], result: BatchResult, checked: dict[int, Checked]) -> list[Group]:
        groups: list[Group] = []
        by_key: dict[str, Group] = {}
        keyed: list[tuple[Group, list[str]]] = []
        for plan in plans:
            keys = self.keys_of(plan, checked.get(id(plan))) if not plan.errors else []
            lead = next((by_key[k] for k in keys if k in by_key), None)
            if lead is not None:
                lead.merged.append(plan)
                _merge(lead.lead, plan)
                continue
            if not self.write:
                earlier = next((self.seen[hash(k)] for k in keys if hash(k) in self.seen), None)
                if earlier is not None:  # merged with a row of an earlier batch
                    result.skipped += 1
                    continue
                for k in keys:
                    self.seen[hash(k)] = plan.line
            g = Group(plan)
            groups.append(g)
            for k in keys:
                by_key.setdefault(k, g)
            keyed.append((g, keys))
        found = self.existing({k for _, keys in keyed for k in keys})
        if found:
            records = self.model.objects.filter(pk__in=set(found.values()))
            if self.rtype.prefetch_related:
                records = records.prefetch_related(*self.rtype.prefetch_related)
            by_pk = {r.pk: r for r in records}
            mine = set()
            if self.write:
                mine = set(
                    ImportChange.objects.filter(
                        job=self.imp, type_key=self.rtype.key, action=ImportChange.CREATED, record_id__in=list(by_pk)
                    ).values_list("record_id", flat=True)
                )
            for g, keys in keyed:
                pk = next((found[k] for k in keys if k in found), None)
                if pk is not None and pk in by_pk:
                    g.record = by_pk[pk]
                    g.created_here = pk in mine
        return groups

    def _create_companies(self, groups: list[Group], result: BatchResult) -> None:
        names: dict[str, int] = {}
        wanted = [g for g in groups if g.lead.missing_company and not g.lead.errors]
        if not wanted:
            return
        companies = registry.get("companies")
        serializer_class = companies.get_serializer_class()
        for g in wanted:
            name = g.lead.missing_company
            key = name.casefold()
            if key not in names:
                s = serializer_class(data={"name": name}, context={"actor": self.actor})
                if not s.is_valid():
                    column = g.lead.columns.get("company", ("", name))[0]
                    g.lead.errors.append((column, name, _first_message(s.errors)))
                    continue
                try:
                    with transaction.atomic():
                        company = services.create_record(
                            companies.model, s.validated_data, actor=self.actor, source=SOURCE
                        )
                except (ValidationError, PermissionDenied) as exc:
                    column = g.lead.columns.get("company", ("", name))[0]
                    g.lead.errors.append((column, name, _message_of(exc)))
                    continue
                names[key] = company.pk
                result.changes.append(
                    ImportChange(
                        job=self.imp,
                        line=g.lead.line,
                        type_key="companies",
                        record_id=company.pk,
                        action=ImportChange.CREATED,
                        version=company.version,
                    )
                )
            g.lead.payload["company"] = names[key]

    def _write_creates(self, creates: list[tuple[Group, dict[str, Any]]], result: BatchResult) -> None:
        if not creates:
            return
        related_keys = self.model.related_write_keys

        def build(data: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            own = {k: v for k, v in data.items() if k not in related_keys}
            return self.model(**own), {k: v for k, v in data.items() if k in related_keys}

        built = [build(data) for _, data in creates]
        try:
            with transaction.atomic():
                records = services.create_records_in_bulk(
                    [r for r, _ in built], actor=self.actor, source=SOURCE, related=[rel for _, rel in built]
                )
        except (ValidationError, IntegrityError, PermissionDenied):
            records = []
        if records:
            for (g, _), record in zip(creates, records, strict=True):
                result.created += 1
                self._change(g, ImportChange.CREATED, record.pk, record.version, result)
            return
        for g, data in creates:  # one row refused the bulk write: row by row, to name it
            try:
                with transaction.atomic():
                    record = services.create_record(self.model, data, actor=self.actor, source=SOURCE)
            except (ValidationError, IntegrityError, PermissionDenied) as exc:
                self._reject(g, self._django_errors(g.lead, exc), result)
                continue
            result.created += 1
            self._change(g, ImportChange.CREATED, record.pk, record.version, result)

    def _write_updates(self, updates: list[tuple[Group, Any]], result: BatchResult) -> None:
        for g, data in updates:
            record = g.record
            before = record.snapshot()
            # Child rows as the API shows them (a phone with its kind, not only its number), so undo
            # gives back exactly what was there; read before the write replaces them.
            shown = record.api_extra(self.actor) if set(data) & self.model.related_write_keys else {}
            try:
                with transaction.atomic():
                    after_record = services.update_record(record, data, actor=self.actor, source=SOURCE)
            except (ValidationError, IntegrityError, PermissionDenied, RecordGone, VersionConflict) as exc:
                self._reject(g, self._django_errors(g.lead, exc), result)
                continue
            if after_record.version == record.version:  # nothing to change: no event, nothing to undo
                result.skipped += 1 + len(g.merged)
                self._change(g, ImportChange.SKIPPED, record.pk, record.version, result)
                continue
            after = after_record.snapshot()
            changed = {k: before.get(k) for k, v in after.items() if before.get(k) != v}
            for key in self.model.related_write_keys & set(changed) & set(shown):
                changed[key] = shown[key]
            result.updated += 1
            result.skipped += len(g.merged)
            self._change(g, ImportChange.UPDATED, record.pk, after_record.version, result, before=changed)

    def _try_update(self, g: Group, data: Any, result: BatchResult) -> None:
        """The dry run's answer for a matched row: the update written through the write path and rolled
        back, so a row that would change nothing counts as skipped (unchanged), as the import will count
        it, and a row the write would refuse is rejected with the write's reason."""
        record = g.record
        try:
            with transaction.atomic():
                after = services.update_record(record, data, actor=self.actor, source=SOURCE)
                changes = after.version != record.version
                raise _TrialDone
        except _TrialDone:
            pass
        except (ValidationError, IntegrityError, PermissionDenied, RecordGone, VersionConflict) as exc:
            self._reject(g, self._django_errors(g.lead, exc), result)
            return
        if changes:
            result.updated += 1
            result.skipped += len(g.merged)
        else:
            result.skipped += 1 + len(g.merged)

    # -- bookkeeping --
    def _change(
        self, g: Group, action: str, pk: int, version: int, result: BatchResult, before: dict[str, Any] | None = None
    ) -> None:
        if action == ImportChange.CREATED:
            result.skipped += len(g.merged)
        result.changes.append(
            ImportChange(
                job=self.imp,
                line=g.lead.line,
                type_key=self.rtype.key,
                record_id=pk,
                action=action,
                before=before or {},
                version=version,
                source_id=g.lead.source_id,
            )
        )
        for plan in g.merged:  # rows merged into this one: their source ids lead to the same record
            if plan.source_id:
                result.changes.append(
                    ImportChange(
                        job=self.imp,
                        line=plan.line,
                        type_key=self.rtype.key,
                        record_id=pk,
                        action=ImportChange.SKIPPED,
                        version=version,
                        source_id=plan.source_id,
                    )
                )

    def _reject(self, g: Group, errors: list[tuple[str, str, str]], result: BatchResult) -> None:
        for column, value, reason in errors or [("", "", "The row was refused.")]:
            result.rejections.append(
                ImportRejection(
                    job=self.imp,
                    line=g.lead.line,
                    column=column[:255],
                    value=value[:1000],
                    reason=reason[:2000],
                    cells=g.lead.cells,
                )
            )
        for plan in g.merged:
            result.rejections.append(
                ImportRejection(
                    job=self.imp,
                    line=plan.line,
                    reason=f"Merged with line {g.lead.line} (same {self.imp.match_field}), which was refused.",
                    cells=plan.cells,
                )
            )

    def _errors(self, plan: RowPlan, detail: Any) -> list[tuple[str, str, str]]:
        out = []
        for path, messages in _flatten(detail).items():
            root = path.split("[")[0]
            if root == "custom" or root.startswith("custom."):
                root = path.split("[")[0] if "." in path else root
            column, value = plan.columns.get(root, plan.columns.get(root.split(".")[0], ("", "")))
            if not column and root:
                column = root
            for message in messages:
                out.append((column, value, message))
        return out

    def _django_errors(self, plan: RowPlan, exc: Exception) -> list[tuple[str, str, str]]:
        if isinstance(exc, ValidationError):
            detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            return self._errors(plan, detail)
        return [("", "", _message_of(exc))]


def _merge(into: RowPlan, other: RowPlan) -> None:
    """A later row matching an earlier one by the match key: its values join the first row's (lists
    united, other values from the later row win); both rows are one record."""
    for key, value in other.payload.items():
        if isinstance(value, list):
            current = into.payload.setdefault(key, [])
            have = {_fold(v) for v in current}
            for v in value:
                if _fold(v) not in have:
                    current.append(v)
                    have.add(_fold(v))
        elif isinstance(value, dict):
            into.payload.setdefault(key, {}).update(value)
        else:
            into.payload[key] = value
    for key, where in other.columns.items():
        into.columns.setdefault(key, where)
    into.errors += other.errors
    into.missing_company = other.missing_company or into.missing_company
    into.source_id = into.source_id or other.source_id


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.update(_flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(v, dict | list) for v in detail):
            for v in detail:
                out.setdefault(prefix, []).append(str(v))
        else:
            for i, value in enumerate(detail):
                out.update(_flatten(value, f"{prefix}[{i}]"))
    elif detail not in (None, ""):
        out.setdefault(prefix, []).append(str(detail))
    return out


def _first_message(detail: Any) -> str:
    flat = _flatten(detail)
    return next((m for ms in flat.values() for m in ms), "The value was refused.")


def _message_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc) or type(exc).__name__


# --- undo -----------------------------------------------------------------------------------------


def run_undo(import_id: int) -> Import:
    """Undo an import as a whole, newest change first, in batches that commit with their progress:
    records it created go to the recycle bin, records it updated get back the values they had, all
    through the write services (source ``import``). A record someone changed since the import (its
    version is not the one the import left) is left as it is and counted in ``undo_conflicts``."""
    imp = Import.objects.select_related("actor").get(pk=import_id)
    if imp.status != Import.UNDOING:
        return imp
    actor = imp.actor
    while True:
        changes = list(
            ImportChange.objects.filter(
                job=imp, undone=False, action__in=(ImportChange.CREATED, ImportChange.UPDATED)
            ).order_by("-id")[:UNDO_BATCH]
        )
        if not changes:
            break
        with transaction.atomic(), services.request_context(imp.request_id):
            conflicts = 0
            for change in changes:
                if not _undo_one(change, actor):
                    conflicts += 1
            ImportChange.objects.filter(pk__in=[c.pk for c in changes]).update(undone=True)
            Import.objects.filter(pk=imp.pk).update(undo_conflicts=F("undo_conflicts") + conflicts)
    Import.objects.filter(pk=imp.pk).update(status=Import.UNDONE, finished_at=timezone.now())
    imp.refresh_from_db()
    return imp


def _undo_one(change: ImportChange, actor: Any) -> bool:
    rtype = registry.find(change.type_key)
    if rtype is None:
        return False
    qs = rtype.model._base_manager.filter(pk=change.record_id)
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    record = qs.first()
    if record is None:
        return True
    if record.version != change.version:
        return False  # changed since by someone (or something) else: left alone
    try:
        with transaction.atomic():
            if change.action == ImportChange.CREATED:
                if record.deleted_at is None:
                    services.delete_record(record, actor=actor, source=SOURCE)
                return True
            if record.deleted_at is not None:
                return False
            serializer_class = rtype.get_serializer_class()
            serializer = serializer_class(
                record,
                data=_restorable(record, change.before, serializer_class(context={"actor": SYSTEM}).fields),
                partial=True,
                context={"actor": SYSTEM},
            )
            if not serializer.is_valid():
                return False
            updated = services.update_record(record, serializer.validated_data, actor=actor, source=SOURCE)
    except (ValidationError, IntegrityError, PermissionDenied, RecordGone, VersionConflict):
        return False
    # Earlier changes of this import to the same record now expect the version this undo left.
    ImportChange.objects.filter(
        job_id=change.job_id, type_key=change.type_key, record_id=change.record_id, undone=False
    ).exclude(pk=change.pk).update(version=updated.version)
    return True


def _restorable(record: Any, before: dict[str, Any], fields: Any = None) -> dict[str, Any]:
    """Snapshot values as a write serializer takes them (links by id; a custom field set by the import
    and absent before is cleared; child rows kept as the API showed them — a phone's kind with its
    number — with their read-only keys left out and their links as ids)."""
    data = dict(before)
    for key, value in list(data.items()):
        child: Any = getattr(fields.get(key), "child", None) if fields is not None else None
        if isinstance(value, list) and child is not None and hasattr(child, "fields"):
            writable = {n for n, f in child.fields.items() if not f.read_only}
            data[key] = [
                {k: (v["id"] if isinstance(v, dict) and "id" in v else v) for k, v in entry.items() if k in writable}
                if isinstance(entry, dict)
                else entry
                for entry in value
            ]
    if "custom" in data:
        old = data["custom"] or {}
        data["custom"] = {**{k: None for k in record.custom if k not in old}, **old}
    for key, value in list(data.items()):
        if value is None and key in ("tags",):
            data[key] = []
    return data
