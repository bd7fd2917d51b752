"""Loading a full export (:mod:`rapport.imports.fullexport`) into an empty installation: ``rapport import
everything.zip``.

1. The zip is checked like a spreadsheet (no zip bomb, sizes that do not lie) and its manifest read; the
   installation must hold no live record of the zip's types.
2. What records refer to is put in place through the settings services: users (missing ones created by
   user name, with their team and role, without a password — they set one with "Forgot password?"),
   custom field definitions, pipelines and stages, lost reasons.
3. Each type is imported in the manifest's order by the import job (``imports.services``), all with one
   batch key: ``id`` → ``source_id``, links to a type loaded earlier → ``<link>:source_id``, users by user
   name, settings by name, tags one per line, custom fields the import reads exactly from text; every
   cell has the export's formula quote taken off first (``fullexport.unsafe``).
4. Then the parts that need every record in place are written with ``update_record`` (source
   ``import``): links to a record of the same or a later type (a company's parent), child rows with their
   links mapped to the new ids (deal contacts and line items, activity links, product prices, people's
   emails and phones with their kinds), and custom values exactly (money, multi-choice, user and
   reference fields mapped to the new ids).
Rows the import rejects and deferred writes that fail are reported, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from rapport.core import customfields, registry, services
from rapport.core.models import CustomField
from rapport.core.registry import RecordType
from rapport.core.serializers import RecordLinkField

from .fullexport import (
    EXACT_CUSTOM_KINDS,
    FORMAT,
    MANIFEST,
    TAG_SEPARATOR,
    USERS_FILE,
    VERSION,
    Column,
    FullExportError,
    unsafe,
)
from .readers import ReadError
from .spreadsheets import check_archive

CHUNK = 500
MAX_PROBLEMS = 200

Say = Callable[[str], None]


@dataclass
class LoadResult:
    batch: str
    imports: list[dict[str, Any]] = field(default_factory=list)  # per type: key, import id, counts
    users_created: list[str] = field(default_factory=list)
    settings_created: list[str] = field(default_factory=list)
    related_written: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1


def is_full_export(path: Path) -> bool:
    """A zip whose manifest says it is a Rapport full export."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(MANIFEST)[:10_000_000]).get("format") == FORMAT
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, AttributeError):
        return False


def load_full_export(path: Path, *, actor: Any, say: Say | None = None) -> LoadResult:
    """Load the zip at ``path`` as ``actor`` (an administrator); see the module's docstring."""
    from . import services as imports

    say = say or (lambda text: None)
    if not actor.can_manage_settings():
        raise FullExportError("Only administrators load a full export.")
    try:
        check_archive(Path(path))
    except ReadError as exc:
        raise FullExportError(exc.message) from None
    with zipfile.ZipFile(path) as archive:
        manifest = _manifest(archive)
        types = _types(manifest)
        _check_empty(types)
        result = LoadResult(batch=f"full-export-{uuid.uuid4().hex[:12]}")
        with transaction.atomic():
            users = _ensure_users(archive, manifest, actor, result)
            definitions = _ensure_settings(manifest.get("settings") or {}, actor, result)
        with tempfile.TemporaryDirectory(prefix="rapport-load-") as tmp:
            files = {}
            for rtype, spec in types:
                files[rtype.key] = Path(tmp) / f"{rtype.key}.csv"
                _plain_copy(archive, spec["file"], files[rtype.key])
            loaded: set[str] = set()
            for rtype, spec in types:
                columns = [Column(**c) for c in spec["columns"]]
                say(f"{rtype.label_plural}: importing {spec.get('count', 0):,} rows")
                try:
                    imp = imports.create_import(
                        actor=actor,
                        type_key=rtype.key,
                        upload=files[rtype.key],
                        filename=spec["file"],
                        batch=result.batch,
                    )
                    mapping = [_target(c, rtype, loaded, definitions) for c in columns]
                    imp = imports.set_mapping(
                        imp,
                        actor=actor,
                        mapping=mapping,
                        on_match="skip",
                        match_field="",
                        create_companies=False,
                        tag_separator=TAG_SEPARATOR,
                    )
                except imports.ImportInputError as exc:
                    raise FullExportError(f"{spec['file']}: {exc.field}: {exc.message}") from None
                imp = imports.run_now(imp, check=False)  # the import validates each row once
                result.imports.append(
                    {
                        "type": rtype.key,
                        "import": imp.pk,
                        "status": imp.status,
                        "created": imp.created,
                        "rejected": imp.rejected,
                    }
                )
                for r in imp.rejections.order_by("line", "id")[:MAX_PROBLEMS]:
                    where = f", {r.column}" if r.column else ""
                    result.problem(f"{spec['file']} line {r.line}{where}: {r.reason}")
                if imp.error:
                    result.problem(f"{spec['file']}: {imp.error}")
                loaded.add(rtype.key)
            ids = _SourceIds(result.batch)
            order = [t.key for t, _ in types]
            for position, (rtype, spec) in enumerate(types):
                columns = [Column(**c) for c in spec["columns"]]
                earlier = set(order[:position])
                deferred = [c for c in columns if _deferred(c, earlier, definitions.get(rtype.key, {}))]
                if deferred:
                    say(f"{rtype.label_plural}: writing links and child rows")
                    result.related_written += _write_deferred(
                        rtype, columns, deferred, files[rtype.key], ids, users, definitions, actor, result
                    )
    return result


# --- the zip --------------------------------------------------------------------------------------------


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise FullExportError("This zip is not a Rapport full export (it has no manifest.json).") from None
    except ValueError:
        raise FullExportError("The zip's manifest.json cannot be read.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise FullExportError("This zip is not a Rapport full export.")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise FullExportError(
            f"This export is of format version {manifest.get('version')}; this Rapport reads up to version {VERSION}."
        )
    return manifest


def _types(manifest: dict[str, Any]) -> list[tuple[RecordType, dict[str, Any]]]:
    out = []
    for spec in manifest.get("types") or []:
        rtype = registry.find(str(spec.get("key")))
        if rtype is None:
            raise FullExportError(
                f"The export holds {spec.get('key')!r}, a record type this installation does not have."
            )
        out.append((rtype, spec))
    return out


def _check_empty(types: list[tuple[RecordType, dict[str, Any]]]) -> None:
    for rtype, _ in types:
        count = rtype.model.objects.live().count()
        if count:
            raise FullExportError(
                f"This installation already holds {count:,} {rtype.label_plural.lower()}: a full export loads into"
                " an empty installation only."
            )


def _plain_copy(archive: zipfile.ZipFile, name: str, target: Path) -> None:
    """The member as a CSV file with the export's formula quotes taken off, streamed."""
    try:
        member = archive.open(name)
    except KeyError:
        raise FullExportError(f"The zip has no {name}, which its manifest lists.") from None
    with member, open(target, "w", encoding="utf-8", newline="") as out:
        reader = csv.reader(io.TextIOWrapper(member, encoding="utf-8", newline=""))
        writer = csv.writer(out)
        for row in reader:
            writer.writerow([unsafe(cell) for cell in row])


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


# --- what records refer to -----------------------------------------------------------------------------


def _ensure_users(archive: zipfile.ZipFile, manifest: dict[str, Any], actor: Any, result: LoadResult) -> dict[str, int]:
    """Source user id → this installation's user id, creating missing users by user name."""
    from rapport.accounts import services as accounts
    from rapport.accounts.models import Role, Team

    user_model = get_user_model()
    out: dict[str, int] = {}
    name = manifest.get("users") or USERS_FILE
    if name not in archive.namelist():
        return out
    with archive.open(name) as member:
        for row in csv.DictReader(io.TextIOWrapper(member, encoding="utf-8", newline="")):
            row = {k: unsafe(v or "") for k, v in row.items()}
            user = user_model.objects.filter(username=row["username"]).first()
            if user is None:
                team = None
                if row.get("team"):
                    team = Team.objects.filter(name=row["team"]).first() or accounts.create_team(
                        name=row["team"], actor=actor
                    )
                role = Role.objects.filter(name=row.get("role", "")).first() if row.get("role") else None
                user = accounts.create_user(
                    username=row["username"],
                    password=None,
                    actor=actor,
                    email=row.get("email", ""),
                    first_name=row.get("first_name", ""),
                    last_name=row.get("last_name", ""),
                    role=role,
                    team=team,
                )
                if row.get("is_active") == "false":
                    accounts.deactivate_user(user, actor=actor)
                result.users_created.append(user.username)
            if row.get("id"):
                out[row["id"]] = user.pk
    return out


def _ensure_settings(settings: dict[str, Any], actor: Any, result: LoadResult) -> dict[str, dict[str, str]]:
    """Create the custom fields, pipelines, stages and lost reasons records name; returns each type's
    custom field kinds ({type: {key: field_type}})."""
    from rapport.deals import pipelines
    from rapport.deals.models import LostReason, Pipeline

    kinds: dict[str, dict[str, str]] = {}
    for d in settings.get("custom_fields") or []:
        kinds.setdefault(d["record_type"], {})[d["key"]] = d["field_type"]
        if registry.find(d["record_type"]) is None:
            continue
        if not CustomField.objects.filter(record_type=d["record_type"], key=d["key"]).exists():
            data = {k: v for k, v in d.items() if k not in ("record_type", "key")}
            customfields.create_field(d["record_type"], d["key"], data, actor=actor)
            result.settings_created.append(f"custom field {d['label']} ({d['record_type']})")
    for name in settings.get("lost_reasons") or []:
        if not LostReason.objects.filter(name=name).exists():
            pipelines.add_lost_reason(name, actor=actor)
            result.settings_created.append(f"lost reason {name}")
    for p in settings.get("pipelines") or []:
        pipeline = Pipeline.objects.filter(name=p["name"]).first()
        if pipeline is None:
            pipeline = pipelines.create_pipeline(p["name"], actor=actor)
            result.settings_created.append(f"pipeline {p['name']}")
        have = set(pipeline.stages.values_list("name", flat=True))
        for s in p.get("stages") or []:
            if s["name"] not in have:
                pipelines.add_stage(
                    pipeline,
                    name=s["name"],
                    probability=s.get("probability", 0),
                    rotting_days=s.get("rotting_days"),
                    kind=s.get("kind", "open"),
                    actor=actor,
                )
                result.settings_created.append(f"stage {s['name']} ({p['name']})")
    return kinds


# --- the two passes ------------------------------------------------------------------------------------


def _target(col: Column, rtype: RecordType, loaded: set[str], kinds: dict[str, dict[str, str]]) -> str:
    """The import target of an export column in the first pass ("" = not imported, or written later)."""
    if col.kind == "id":
        return "source_id"
    if col.kind in ("field", "user", "setting", "tags", "list_text"):
        return col.key
    if col.kind == "link":
        return f"{col.key}:source_id" if col.link_type in loaded and col.link_type != rtype.key else ""
    if col.kind == "custom":
        exact = kinds.get(rtype.key, {}).get(col.key) in EXACT_CUSTOM_KINDS
        return "" if exact else f"cf_{col.key}"
    return ""  # children, custom_json: the second pass


def _deferred(col: Column, earlier: set[str], kinds: dict[str, str]) -> bool:
    if col.kind == "link":
        return col.link_type not in earlier
    if col.kind == "children":
        return True
    return col.kind == "custom_json" and any(k in EXACT_CUSTOM_KINDS for k in kinds.values())


class _SourceIds:
    """Source id → new record id, per type, from the batch's import changes."""

    def __init__(self, batch: str) -> None:
        self.batch = batch

    def lookup(self, type_key: str, source_ids: set[str]) -> dict[str, int]:
        from .models import ImportChange

        wanted = {s for s in source_ids if s}
        if not wanted:
            return {}
        rows = ImportChange.objects.filter(job__batch=self.batch, type_key=type_key, source_id__in=wanted)
        return {s: int(r) for s, r in rows.values_list("source_id", "record_id")}


def _child_links(rtype: RecordType, name: str) -> tuple[dict[str, str], bool]:
    """A child list's link fields ({field: linked type}) and whether its entries link any type (type+id)."""
    serializer = rtype.get_serializer_class()(context={"actor": None})
    child = getattr(serializer.fields[name], "child", None)
    if child is None or not hasattr(child, "fields"):
        return {}, False
    links = {k: registry.for_model(f.model).key for k, f in child.fields.items() if isinstance(f, RecordLinkField)}
    return links, bool(getattr(child, "any_record_link", False))


def _write_deferred(
    rtype: RecordType,
    columns: list[Column],
    deferred: list[Column],
    path: Path,
    ids: _SourceIds,
    users: dict[str, int],
    definitions: dict[str, dict[str, str]],
    actor: Any,
    result: LoadResult,
) -> int:
    """The second pass over one type's file: links, child rows and exact custom values, per chunk of rows."""
    kinds = definitions.get(rtype.key, {})
    references = {
        d.key: d.reference_type for d in CustomField.objects.filter(record_type=rtype.key, field_type="reference")
    }
    child_links = {c.key: _child_links(rtype, c.key) for c in deferred if c.kind == "children"}
    written = 0
    chunk: list[dict[str, str]] = []

    def flush() -> int:
        wanted: dict[str, set[str]] = {rtype.key: {r["id"] for r in chunk}}
        parsed: list[dict[str, Any]] = []
        for row in chunk:
            item: dict[str, Any] = {}
            for col in deferred:
                cell = row.get(col.header, "")
                if col.kind == "link":
                    item[col.key] = cell
                    wanted.setdefault(col.link_type, set()).add(cell)
                elif col.kind == "children":
                    entries = json.loads(cell) if cell else []
                    links, any_type = child_links[col.key]
                    for entry in entries:
                        if not isinstance(entry, dict):
                            continue
                        if any_type and "type" in entry:
                            wanted.setdefault(str(entry["type"]), set()).add(str(entry.get("id")))
                        for key, linked in links.items():
                            if entry.get(key) is not None:
                                wanted.setdefault(linked, set()).add(str(entry[key]))
                    item[col.key] = entries
                else:
                    custom = json.loads(cell) if cell else {}
                    for key, value in custom.items():
                        if key in references and value is not None:
                            wanted.setdefault(references[key], set()).add(str(value))
                    item["custom"] = custom
            parsed.append(item)
        found = {key: ids.lookup(key, values) for key, values in wanted.items()}
        mine = found[rtype.key]
        queryset = rtype.model.objects.live().filter(pk__in=mine.values())
        if rtype.prefetch_related:
            queryset = queryset.prefetch_related(*rtype.prefetch_related)
        records = {r.pk: r for r in queryset}
        done = 0
        with transaction.atomic():
            for row, item in zip(chunk, parsed, strict=True):
                record = records.get(mine.get(row["id"], 0))
                if record is None:
                    continue  # the row was rejected by the import: reported there
                where = f"{rtype.key}.csv id {row['id']}"
                payload = _payload(item, deferred, found, users, kinds, references, child_links, where, result)
                serializer = rtype.get_serializer_class()(record, data=payload, partial=True, context={"actor": actor})
                if not serializer.is_valid():
                    result.problem(f"{where}: {json.dumps(serializer.errors, ensure_ascii=False)[:300]}")
                    continue
                services.update_record(record, serializer.validated_data, actor=actor, source="import")
                done += 1
        return done

    for row in _rows(path):
        chunk.append(row)
        if len(chunk) >= CHUNK:
            written += flush()
            chunk = []
    if chunk:
        written += flush()
    return written


def _payload(
    item: dict[str, Any],
    deferred: list[Column],
    found: dict[str, dict[str, int]],
    users: dict[str, int],
    kinds: dict[str, str],
    references: dict[str, str],
    child_links: dict[str, tuple[dict[str, str], bool]],
    where: str,
    result: LoadResult,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for col in deferred:
        if col.kind == "link":
            cell = item[col.key]
            new = found.get(col.link_type, {}).get(cell) if cell else None
            if cell and new is None:
                result.problem(f"{where}, {col.key}: the linked record #{cell} was not loaded.")
                continue
            payload[col.key] = new
        elif col.kind == "children":
            links, any_type = child_links[col.key]
            entries = []
            for entry in item[col.key]:
                if isinstance(entry, dict):
                    entry = dict(entry)
                    missing = False
                    if any_type and "type" in entry:
                        new = found.get(str(entry["type"]), {}).get(str(entry.get("id")))
                        missing = new is None
                        entry["id"] = new
                    for key, linked in links.items():
                        if entry.get(key) is not None:
                            new = found.get(linked, {}).get(str(entry[key]))
                            missing = missing or new is None
                            entry[key] = new
                    if missing:
                        result.problem(f"{where}, {col.key}: an entry links a record that was not loaded.")
                        continue
                entries.append(entry)
            payload[col.key] = entries
        else:
            custom = dict(item.get("custom") or {})
            for key, value in list(custom.items()):
                if value is None:
                    continue
                if kinds.get(key) == "user":
                    custom[key] = users.get(str(value))
                elif key in references:
                    custom[key] = found.get(references[key], {}).get(str(value))
                if custom[key] is None:
                    result.problem(f"{where}, custom field {key}: the linked record or user #{value} was not loaded.")
                    del custom[key]
            payload["custom"] = custom
    return payload


__all__ = ["LoadResult", "is_full_export", "load_full_export"]
