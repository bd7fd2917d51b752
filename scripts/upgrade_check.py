"""CI: an installation made by an earlier Rapport upgrades to this one without losing anything.

The code of a fixed earlier commit (BASELINE, checked out with `git worktree`) creates a database
with demo data; this code's `rapport upgrade` then takes its backup, migrates and checks; the
script compares every table's row count and a sample of records before and after. Move BASELINE
forward at each release (docs/operations.md)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

# main when issue 13 (operations) was taken up; move forward at each release.
BASELINE = "b25adb9"
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {
    "contacts_person": "SELECT id, first_name, last_name, job_title, custom, version FROM contacts_person",
    "contacts_company": "SELECT id, name, domain, version FROM contacts_company",
    "sales_deal": "SELECT id, title, amount, currency, stage_id, status, version FROM sales_deal",
    "core_event": "SELECT id, type_key, record_id, kind, changes FROM core_event",
}


def run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def snapshot(db: Path) -> tuple[dict[str, int], dict[str, list[tuple[object, ...]]]]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}  # noqa: S608
        # Every 7th row of each sampled table, in id order: the same rows before and after.
        samples = {t: conn.execute(f"{sql} WHERE id % 7 = 0 ORDER BY id").fetchall() for t, sql in SAMPLES.items()}
    finally:
        conn.close()
    return counts, samples


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="rapport-upgrade-") as tmp:
        old = Path(tmp) / "old"
        run(["git", "worktree", "add", "--detach", str(old), BASELINE], dict(os.environ))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
            env |= {"RAPPORT_DATA_DIR": str(Path(tmp) / "data"), "DJANGO_SETTINGS_MODULE": "rapport.settings.base"}
            old_env = {**env, "PYTHONPATH": str(old / "src")}  # the old code, with this venv's libraries
            run([sys.executable, "-m", "rapport", "migrate", "--noinput", "-v0"], old_env, cwd=old)
            run([sys.executable, "-m", "rapport", "demo"], old_env, cwd=old)
            db = Path(tmp) / "data" / "rapport.sqlite3"
            counts_before, samples_before = snapshot(db)
            print(f"baseline {BASELINE}: {sum(counts_before.values()):,} rows in {len(counts_before)} tables")
            out = run([sys.executable, "-m", "rapport", "upgrade"], env)
            print(out, end="")
            counts_after, samples_after = snapshot(db)
            lost = {
                t: (n, counts_after.get(t))
                for t, n in counts_before.items()
                if t != "django_migrations" and counts_after.get(t, -1) < n
            }
            if lost:
                sys.exit(f"rows lost in the upgrade: {lost}")
            for table, rows in samples_before.items():
                if samples_after[table] != rows:
                    sys.exit(f"records of {table} changed in the upgrade")
            backups = list((Path(tmp) / "data" / "backups").glob("rapport-backup-*.tar.gz"))
            if len(backups) != (0 if "Pending migrations: 0" in out else 1):
                sys.exit(f"expected the pre-upgrade backup, found {backups}")
            sampled = sum(map(len, samples_before.values()))
            print(f"upgrade from {BASELINE}: every table kept its rows, {sampled} sampled records identical")
        finally:
            run(["git", "worktree", "remove", "--force", str(old)], dict(os.environ))


if __name__ == "__main__":
    main()
