"""Backup and restore of a whole installation: the database (SQLite's online backup API, or
``pg_dump``'s custom format from one exported snapshot), the files in the data folder, and a
manifest with each table's row count and each file's SHA-256, all counted in the same snapshot
the database copy was taken from. ``rapport backup`` / ``rapport restore`` and the scheduled
backup job call these; docs/operations.md is the user's guide."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connections
from django.db.migrations.loader import MigrationLoader

FORMAT = 1
PREFIX = "rapport-backup-"
SUFFIX = ".tar.gz"
# What of the data folder belongs in a backup: the secret key (sessions, signed links) and files
# users uploaded. The database file itself is copied through SQLite's backup API, never as a file
# (a copy without its WAL loses acknowledged writes).
DATA_ITEMS = ("secret_key", "files")


class BackupError(Exception):
    """A backup or restore that cannot proceed; the message says why and what to do."""


@dataclass
class Manifest:
    data: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.data["counts"])

    @property
    def migrations(self) -> dict[str, list[str]]:
        return {app: list(names) for app, names in self.data["migrations"].items()}


def _version() -> str:
    try:
        return metadata.version("rapport")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _vendor(alias: str = "default") -> str:
    vendor = connections[alias].vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tables() -> list[str]:
    """Every table of an installed model (and Django's migration record), sorted."""
    names = {m._meta.db_table for m in apps.get_models(include_auto_created=True) if m._meta.managed}
    names.add("django_migrations")
    return sorted(names)


def _count(cursor: Any, tables: Iterable[str], quote: Callable[[str], str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - names from the app registry
        counts[table] = int(cursor.fetchone()[0])
    return counts


def _applied(cursor: Any) -> dict[str, list[str]]:
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, id")
    out: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        out.setdefault(app, []).append(name)
    return out


def _sqlite_copy(dest: Path, alias: str = "default") -> tuple[dict[str, int], dict[str, list[str]]]:
    """Copy the live database with SQLite's online backup API (consistent even while others write),
    then count its tables in the copy itself: the counts are the copy's, whatever happens next."""
    source = sqlite3.connect(str(connections[alias].settings_dict["NAME"]), timeout=60)
    target = sqlite3.connect(str(dest))
    try:
        source.backup(target)
    finally:
        source.close()
    try:
        cur = target.cursor()
        tables = [t for t in _tables() if _sqlite_has_table(cur, t)]
        counts = _count(cur, tables, lambda n: '"' + n.replace('"', '""') + '"')
        applied = _applied(cur)
    finally:
        target.close()
    return counts, applied


def _sqlite_has_table(cur: Any, table: str) -> bool:
    cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table])
    return cur.fetchone() is not None


def _pg_env(settings_dict: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if settings_dict.get(key):
            env[var] = str(settings_dict[key])
    return env


def _pg_copy(dest: Path, alias: str = "default") -> tuple[dict[str, int], dict[str, list[str]]]:
    """``pg_dump -Fc`` of one snapshot, exported by a repeatable-read transaction that also counts
    the tables: the counts are exactly what the dump holds, however many writes run meanwhile."""
    conn = connections[alias]
    conn.ensure_connection()
    raw = conn.connection
    assert raw is not None
    previous_autocommit = raw.autocommit
    raw.autocommit = False
    try:
        with raw.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            dump = subprocess.run(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    "--file",
                    str(dest),
                    str(conn.settings_dict["NAME"]),
                ],
                env=_pg_env(conn.settings_dict),
                capture_output=True,
                text=True,
                check=False,
            )
            if dump.returncode != 0:
                raise BackupError(f"pg_dump failed: {dump.stderr.strip()}")
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY(%s)",
                [_tables()],
            )
            tables = sorted(r[0] for r in cur.fetchall())
            counts = _count(cur, tables, conn.ops.quote_name)
            applied = _applied(cur)
        raw.rollback()
    finally:
        raw.autocommit = previous_autocommit
    return counts, applied


def table_counts(alias: str = "default") -> dict[str, int]:
    """Row counts of every table of the installation, now (outside any snapshot)."""
    conn = connections[alias]
    with conn.cursor() as cur:
        present = set(conn.introspection.table_names(cur))
        return _count(cur, [t for t in _tables() if t in present], conn.ops.quote_name)


def make_backup(directory: Path | str, *, alias: str = "default", now: dt.datetime | None = None) -> Path:
    """Write one archive of the installation into ``directory``; returns its path."""
    vendor = _vendor(alias)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    name = PREFIX + now.strftime("%Y%m%dT%H%M%S%fZ") + SUFFIX
    with tempfile.TemporaryDirectory(dir=directory, prefix=".backup-") as tmp:
        work = Path(tmp)
        db_name = "database.sqlite3" if vendor == "sqlite" else "database.pgdump"
        counts, applied = (_sqlite_copy if vendor == "sqlite" else _pg_copy)(work / db_name, alias)
        members = [db_name]
        data_dir = Path(settings.DATA_DIR)
        for item in DATA_ITEMS:
            source = data_dir / item
            if source.is_file():
                shutil.copy2(source, work / item)
                members.append(item)
            elif source.is_dir():
                shutil.copytree(source, work / item)
                members += [str(p.relative_to(work)) for p in sorted((work / item).rglob("*")) if p.is_file()]
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "rapport_version": _version(),
            "database": vendor,
            "migrations": applied,
            "counts": counts,
            "files": {m: {"sha256": _sha256(work / m), "size": (work / m).stat().st_size} for m in members},
        }
        partial = directory / (name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(body)
            info.mtime = int(now.timestamp())
            tar.addfile(info, io.BytesIO(body))
            for member in members:
                tar.add(work / member, arcname=member, recursive=False)
        partial.chmod(0o600)  # password hashes and the secret key are inside
        final = directory / name
        partial.rename(final)  # an archive that exists is complete
    return final


def read_manifest(archive: Path | str) -> Manifest:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise KeyError("manifest.json")
            data = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{archive} is not a Rapport backup ({exc}).") from exc
    if data.get("format") != FORMAT:
        raise BackupError(f"{archive} has backup format {data.get('format')!r}; this Rapport reads format {FORMAT}.")
    return Manifest(data)


def _unpack(archive: Path, manifest: Manifest, work: Path) -> None:
    """Extract and verify every file against the manifest's size and checksum."""
    expected = manifest.data["files"]
    with tarfile.open(archive, "r:gz") as tar:
        names = [m for m in tar.getnames() if m != "manifest.json"]
        unknown = sorted(set(names) - set(expected))
        if unknown:
            raise BackupError(f"The archive holds files its manifest does not list: {', '.join(unknown)}.")
        members = [tar.getmember(n) for n in names]
        for member in members:  # regular files with plain relative names only (no links, no ../)
            if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise BackupError(f"The archive holds an entry that is not a plain file: {member.name}.")
        tar.extractall(work, members=members)  # noqa: S202 - every member checked above
    for name, meta in expected.items():
        path = work / name
        if not path.is_file():
            raise BackupError(f"The archive lacks {name}.")
        if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
            raise BackupError(f"{name} in the archive does not match its checksum: the backup is damaged.")


def _check_schema(manifest: Manifest, alias: str) -> None:
    """Refuse a backup made by a newer Rapport: one that applied migrations this code lacks."""
    loader = MigrationLoader(connections[alias], ignore_no_migrations=True, load=True)
    known = set(loader.disk_migrations)
    newer = sorted(
        f"{app}.{name}" for app, names in manifest.migrations.items() for name in names if (app, name) not in known
    )
    if newer:
        raise BackupError(
            "This backup was made by a newer Rapport (it has migrations this version lacks: "
            + ", ".join(newer[:5])
            + ("…" if len(newer) > 5 else "")
            + "). Upgrade Rapport first, then restore."
        )


def _ensure_empty(alias: str) -> None:
    tables = connections[alias].introspection.table_names()
    if tables:
        raise BackupError(
            "Restore goes into an empty installation, and this database already has tables "
            f"({len(tables)}). Point RAPPORT_DATABASE_URL (or RAPPORT_DATA_DIR) at a new, empty one."
        )


def _sqlite_restore(source: Path, alias: str) -> dict[str, int]:
    conn = connections[alias]
    conn.close()
    target_path = Path(conn.settings_dict["NAME"])
    target_path.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(str(source))
    dst = sqlite3.connect(str(target_path))
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
        cur = dst.cursor()
        tables = [t for t in _tables() if _sqlite_has_table(cur, t)]
        return _count(cur, tables, lambda n: '"' + n.replace('"', '""') + '"')
    finally:
        src.close()
        dst.close()


def _pg_restore(source: Path, alias: str) -> dict[str, int]:
    conn = connections[alias]
    done = subprocess.run(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            str(conn.settings_dict["NAME"]),
            str(source),
        ],
        env=_pg_env(conn.settings_dict),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()}")
    conn.close()
    with conn.cursor() as cur:
        tables = [t for t in _tables() if t in set(conn.introspection.table_names(cur))]
        return _count(cur, tables, conn.ops.quote_name)


def restore_backup(archive: Path | str, *, alias: str = "default") -> Manifest:
    """Restore ``archive`` into this (empty) installation, after checking it completely; the counts
    of the restored tables must equal the manifest's. Migrations newer than the backup are applied
    afterwards by the caller (``rapport restore`` runs ``migrate``)."""
    archive = Path(archive)
    manifest = read_manifest(archive)
    vendor = _vendor(alias)
    if manifest.data["database"] != vendor:
        raise BackupError(
            f"This backup is of a {manifest.data['database']} database and this installation uses {vendor}."
        )
    _check_schema(manifest, alias)
    with tempfile.TemporaryDirectory(prefix="rapport-restore-") as tmp:
        work = Path(tmp)
        _unpack(archive, manifest, work)  # the whole archive is checked before anything is written
        _ensure_empty(alias)
        db_name = "database.sqlite3" if vendor == "sqlite" else "database.pgdump"
        restored = (_sqlite_restore if vendor == "sqlite" else _pg_restore)(work / db_name, alias)
        if restored != manifest.counts:
            differ = sorted(
                t for t in set(restored) | set(manifest.counts) if restored.get(t) != manifest.counts.get(t)
            )
            raise BackupError("The restored database does not match the manifest's counts: " + ", ".join(differ))
        data_dir = Path(settings.DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True)
        for item in DATA_ITEMS:
            source = work / item
            if source.is_file():
                shutil.copy2(source, data_dir / item)
                (data_dir / item).chmod(0o600)
            elif source.is_dir():
                shutil.copytree(source, data_dir / item, dirs_exist_ok=True)
    return manifest


def prune_backups(directory: Path | str, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest archives in ``directory`` (names sort by time)."""
    archives = sorted(Path(directory).glob(PREFIX + "*" + SUFFIX))
    doomed = archives[: max(len(archives) - keep, 0)]
    for path in doomed:
        path.unlink()
    return doomed
