"""Backup and restore, as an operator relies on them: a backup taken while people write holds every
write acknowledged before it began, restores into a fresh installation with identical counts and
checksums, and a damaged, newer or misdirected backup is refused before anything is written."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from rapport.contacts.models import Company
from rapport.core import backup, services

pytestmark = pytest.mark.django_db(transaction=True)


def _write_while(stop: threading.Event, acknowledged: list[tuple[float, int]], prefix: str) -> None:
    """Create companies until ``stop``; each (acknowledged time, id) is kept once its commit returned."""
    try:
        n = 0
        while not stop.is_set():
            n += 1
            company = services.create_record(Company, {"name": f"{prefix} {n}"}, actor=None, source="system")
            acknowledged.append((time.monotonic(), company.pk))
    finally:
        connection.close()


def _restore_in_fresh_installation(archive: Path, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Run ``rapport restore`` in a new process against a new, empty installation; its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_") and k != "DJANGO_SETTINGS_MODULE"}
    env["RAPPORT_DATA_DIR"] = str(tmp_path / "fresh")
    env["DJANGO_SETTINGS_MODULE"] = "rapport.settings.base"
    if connection.vendor == "postgresql":
        name = f"rapport_restore_{uuid.uuid4().hex[:10]}"
        with connection.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        params = connection.settings_dict
        env["RAPPORT_DATABASE_URL"] = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT'] or 5432}/{name}"
    done = subprocess.run(
        [sys.executable, "-m", "rapport", "restore", str(archive)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return env, done.stdout


def _query_fresh(env: dict[str, str], sql: str) -> list[tuple[Any, ...]]:
    if "RAPPORT_DATABASE_URL" in env:
        import psycopg

        with psycopg.connect(env["RAPPORT_DATABASE_URL"]) as conn:
            return list(conn.execute(sql).fetchall())
    db = sqlite3.connect(Path(env["RAPPORT_DATA_DIR"]) / "rapport.sqlite3")
    try:
        return list(db.execute(sql).fetchall())
    finally:
        db.close()


def _drop_fresh(env: dict[str, str]) -> None:
    if "RAPPORT_DATABASE_URL" in env:
        name = env["RAPPORT_DATABASE_URL"].rsplit("/", 1)[1]
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_taken_during_writes_restores_everything_acknowledged_before_it(tmp_path):
    for n in range(1, 31):
        services.create_record(Company, {"name": f"Before {n}"}, actor=None, source="system")
    stop, acknowledged = threading.Event(), []
    writers = [threading.Thread(target=_write_while, args=(stop, acknowledged, f"W{i}")) for i in range(2)]
    for t in writers:
        t.start()
    while len(acknowledged) < 20:  # the writers are well under way
        time.sleep(0.01)
    began = time.monotonic()
    archive = backup.make_backup(tmp_path / "backups")
    time.sleep(0.05)
    stop.set()
    for t in writers:
        t.join()
    must_have = {pk for at, pk in acknowledged if at < began}
    assert len(must_have) >= 20

    manifest = backup.read_manifest(archive)
    assert manifest.counts["contacts_company"] >= 30 + len(must_have)
    assert manifest.counts["contacts_company"] < Company.objects.count() + 1  # nothing invented
    env, out = _restore_in_fresh_installation(archive, tmp_path)
    try:
        assert "every count and checksum verified" in out
        restored = {row[0] for row in _query_fresh(env, "SELECT id FROM contacts_company")}
        assert must_have <= restored
        assert len(restored) == manifest.counts["contacts_company"]
        # The restored database has what the manifest says, table by table, and its history with it.
        for table in ("contacts_company", "core_event", "accounts_user"):
            assert _query_fresh(env, f"SELECT COUNT(*) FROM {table}")[0][0] == manifest.counts[table], table
        events = _query_fresh(env, "SELECT COUNT(*) FROM core_event WHERE type_key = 'companies' AND kind = 'created'")
        assert events[0][0] == len(restored)
        # The secret key came along: sessions and signed links of the old installation stay valid.
        assert (Path(env["RAPPORT_DATA_DIR"]) / "secret_key").read_text() == (
            Path(os.environ["RAPPORT_DATA_DIR"]) / "secret_key"
        ).read_text()
    finally:
        _drop_fresh(env)


def _rewrite(archive: Path, target: Path, *, manifest: Any = None, replace: dict[str, bytes] | None = None) -> Path:
    """A copy of ``archive`` with its manifest or some members changed."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json" and manifest is not None:
                data = json.dumps(manifest(json.loads(data))).encode()
            if replace and member.name in replace:
                data = replace[member.name]
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return target


def test_a_damaged_newer_or_misdirected_backup_is_refused_before_anything_is_written(tmp_path):
    services.create_record(Company, {"name": "Kept"}, actor=None, source="system")
    archive = backup.make_backup(tmp_path)
    before = Company.objects.count()

    damaged = _rewrite(archive, tmp_path / "damaged.tar.gz", replace={"secret_key": b"not the key"})
    with pytest.raises(backup.BackupError, match="secret_key in the archive does not match its checksum"):
        backup.restore_backup(damaged)

    def from_the_future(m: dict[str, Any]) -> dict[str, Any]:
        m["migrations"]["core"].append("9999_from_the_future")
        return m

    newer = _rewrite(archive, tmp_path / "newer.tar.gz", manifest=from_the_future)
    with pytest.raises(backup.BackupError, match=r"newer Rapport .*core\.9999_from_the_future"):
        backup.restore_backup(newer)

    other = "postgresql" if connection.vendor == "sqlite" else "sqlite"
    elsewhere = _rewrite(archive, tmp_path / "other.tar.gz", manifest=lambda m: {**m, "database": other})
    with pytest.raises(backup.BackupError, match=f"backup is of a {other} database"):
        backup.restore_backup(elsewhere)

    # A sound backup still refuses to overwrite an installation that has data.
    with pytest.raises(backup.BackupError, match="empty installation"):
        backup.restore_backup(archive)
    with pytest.raises(backup.BackupError, match="not a Rapport backup"):
        backup.restore_backup(tmp_path / "secret_key")
    assert Company.objects.count() == before


def test_the_backup_command_writes_an_archive_and_keeps_the_newest(tmp_path):
    out = io.StringIO()
    for _ in range(3):
        call_command("backup", "--output", str(tmp_path), "--keep", "2", stdout=out)
    archives = sorted(tmp_path.glob("rapport-backup-*.tar.gz"))
    assert len(archives) == 2
    assert out.getvalue().count("Backup written:") == 3
    assert out.getvalue().count("Deleted old backup") == 1
    assert oct(archives[0].stat().st_mode & 0o777) == "0o600"  # password hashes and the secret key inside
    with tarfile.open(archives[-1], "r:gz") as tar:
        names = set(tar.getnames())
    db = "database.sqlite3" if connection.vendor == "sqlite" else "database.pgdump"
    assert {"manifest.json", db, "secret_key"} <= names
    assert not list(tmp_path.glob("*.partial"))
