"""Rapport import benchmark (not a test): import N people from CSV into a database that already holds
N people, matching on email, with 2 % of the rows invalid and 5 % matching existing people; rows/s end
to end (parse, validate, match, write, history, search index: the dry run and the import, as
``rapport import`` does them) next to the raw load of the same final rows into the same tables in the
same run (PostgreSQL ``COPY``, SQLite ``executemany``), and the import process's peak memory.

    .venv/bin/python bench/imports.py --db sqlite   --people 50000
    .venv/bin/python bench/imports.py --db postgres --people 50000

Steps: a fresh database (PostgreSQL: ``$RAPPORT_BENCH_PG_DB``, default ``rapport_bench_imports``) with N
people from ``rapport demo --people N``; a CSV of N rows (first name, last name, email, phone, job
title); the import in a child process (its peak RSS from ``getrusage``); then the reference: the rows the
import wrote (people, their emails and phones, events, search entries) read back and loaded again, in the
same run, into empty copies of the same tables with the same indexes, by COPY / executemany in one
transaction. Targets (issue 9): import ≥ 0.5× the reference's rows/s; peak memory ≤ 300 MB. Results as
JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, log, machine, run_command  # noqa: E402

PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_imports")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TABLES = ["contacts_person", "contacts_personemail", "contacts_personphone", "core_event", "core_searchentry"]
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret", "Ken"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Hamilton", "Thompson"]


def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def write_csv(path: Path, n: int, existing: list[str], seed: int = 9) -> dict[str, int]:
    rng = random.Random(seed)
    matching = set(rng.sample(range(n), n * 5 // 100))
    invalid = set(rng.sample(sorted(set(range(n)) - matching), n * 2 // 100))
    with open(path, "w", encoding="utf-8") as f:
        f.write("First name,Last name,Email,Phone,Job title\n")
        for i in range(n):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            if i in matching:
                email = existing[i % len(existing)]
            elif i in invalid:
                email = f"{first}.{last}.{i}-at-example.com"  # no @: refused
            else:
                email = f"{first}.{last}.{i}@import.example".lower()
            phone = f"+1 415 555 {i % 10000:04d}"
            f.write(f"{first},{last},{email},{phone},Engineer\n")
    return {"rows": n, "matching": len(matching), "invalid": len(invalid), "new": n - len(matching) - len(invalid)}


def child_import(argv: list[str]) -> None:
    """``bench/imports.py child FILE``: the import, in its own process (for its peak memory)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "rapport.settings.base"
    import django

    django.setup()
    from rapport.accounts.models import User
    from rapport.imports import services
    from rapport.imports.models import Import

    path = Path(argv[0])
    actor = User.objects.get(username="bench-importer")
    started = time.perf_counter()
    imp = services.create_import(actor=actor, type_key="people", upload=path, filename=path.name)
    imp = services.set_mapping(imp, actor=actor, match_field="email", on_match="skip")
    imp.status = Import.CHECKING
    imp.save()
    t0, c0 = time.perf_counter(), time.process_time()
    imp = services.run_check(imp.pk)
    t1, c1 = time.perf_counter(), time.process_time()
    imp = services.run_now(imp)  # checked: straight to the import
    t2, c2 = time.perf_counter(), time.process_time()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "RESULT "
        + json.dumps(
            {
                "import_id": imp.pk,
                "status": imp.status,
                "counts": imp.counts(),
                "upload_s": t0 - started,
                "check_s": t1 - t0,
                "run_s": t2 - t1,
                "check_cpu_s": c1 - c0,  # this process only (not the database server's)
                "run_cpu_s": c2 - c1,
                "peak_rss_mb": round(peak_mb, 1),
            }
        ),
        flush=True,
    )


def reference(import_id: int) -> dict[str, Any]:
    """The rows the import wrote, loaded again into empty copies of the same tables (same columns and
    indexes) with COPY / executemany in one transaction: what writing them has to cost at least."""
    from django.db import connection, transaction

    from rapport.core import bulk
    from rapport.imports.models import ImportChange

    ids = list(ImportChange.objects.filter(job_id=import_id, action="created").values_list("record_id", flat=True))
    where = {
        "contacts_person": ("id", ids),
        "contacts_personemail": ("person_id", ids),
        "contacts_personphone": ("person_id", ids),
        "core_event": ("record_id", ids),
        "core_searchentry": ("record_id", ids),
    }
    extra = {"core_event": " AND type_key = 'people'", "core_searchentry": " AND type_key = 'people'"}
    data: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    with connection.cursor() as cur:
        for table, (col, values) in where.items():
            rows: list[tuple[Any, ...]] = []
            for start in range(0, len(values), 5000):
                chunk = values[start : start + 5000]
                marks = ", ".join(["%s"] * len(chunk))
                cur.execute(f"SELECT * FROM {table} WHERE {col} IN ({marks}){extra.get(table, '')}", chunk)  # noqa: S608
                rows += cur.fetchall()
            names = [d[0] for d in cur.description]
            if connection.vendor == "postgresql":  # generated columns (the search entry's tsvector) are computed
                cur.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = %s AND is_generated = 'ALWAYS'",
                    [table],
                )
                generated = {r[0] for r in cur.fetchall()}
                keep = [i for i, n in enumerate(names) if n not in generated]
                names = [names[i] for i in keep]
                rows = [tuple(r[i] for i in keep) for r in rows]
            data[table] = (names, [tuple(bulk.sql_value(v) for v in r) for r in rows])
    copies = {t: f"bench_copy_{t}" for t in TABLES}
    with connection.cursor() as cur:
        for table, copy in copies.items():
            cur.execute(f"DROP TABLE IF EXISTS {copy}")
            if connection.vendor == "postgresql":
                cur.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
            else:
                cur.execute(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = %s AND type IN ('table', 'index')"
                    " AND sql IS NOT NULL",
                    [table],
                )
                for (sql,) in cur.fetchall():
                    cur.execute(
                        sql.replace(f'"{table}"', f'"{copy}"', 1).replace(' INDEX "', f' INDEX "c_{table[:8]}_', 1)
                    )
    total_rows = sum(len(rows) for _, rows in data.values())
    started = time.perf_counter()
    with transaction.atomic():
        for table, (names, rows) in data.items():
            bulk.insert_rows(copies[table], names, rows)
    seconds = time.perf_counter() - started
    with connection.cursor() as cur:
        for copy in copies.values():
            cur.execute(f"DROP TABLE IF EXISTS {copy}")
    return {"records": len(ids), "table_rows": total_rows, "seconds": seconds}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child_import(sys.argv[2:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=50_000)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rapport-bench-imports-"))
    env = {**os.environ, "RAPPORT_DATA_DIR": str(tmp), "DJANGO_SETTINGS_MODULE": "rapport.settings.base"}
    if opts.db == "postgres":
        fresh_postgres()
        env["RAPPORT_DATABASE_URL"] = PG_URL
    else:
        env["RAPPORT_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.update(env)
    try:
        run_command([str(VENV_BIN / "rapport"), "migrate", "-v0"], env, tmp / "setup.log")
        log(f"loading {opts.people:,} existing people")
        run_command(
            [str(VENV_BIN / "rapport"), "demo", "--people", str(opts.people), "--companies", "1000"],
            env,
            tmp / "setup.log",
        )
        import django

        django.setup()
        from rapport.accounts.models import Role, User
        from rapport.contacts.models import Person

        User.objects.get_or_create(username="bench-importer", defaults={"role": Role.objects.get(key="admin")})
        existing = list(Person.objects.order_by("?").values_list("primary_email", flat=True)[: opts.people // 10])
        csv_path = tmp / "people.csv"
        shape = write_csv(csv_path, opts.people, [e for e in existing if e])
        log(f"CSV: {shape} ({csv_path.stat().st_size / 1e6:.1f} MB)")
        from django.db import connection

        connection.close()
        uptime = Path("/proc/loadavg").read_text().split()[:3]
        proc = subprocess.run(
            [sys.executable, __file__, "child", str(csv_path)], env=env, capture_output=True, text=True, check=False
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"the import failed:\n{proc.stdout}\n{proc.stderr}")
        result = json.loads(line[7:])
        log(f"import: {result}")
        ref = reference(result["import_id"])
        log(f"reference: {ref}")
        total_s = result["check_s"] + result["run_s"]
        import_rps = opts.people / total_s
        ref_rps = ref["records"] / ref["seconds"] if ref["seconds"] else 0.0
        out = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "db": opts.db,
            "machine": machine(),
            "load_before": uptime,
            "shape": shape,
            "import": result,
            "import_rows_per_s": round(import_rps, 1),
            "run_phase_rows_per_s": round(opts.people / result["run_s"], 1),
            "reference": ref,
            "reference_rows_per_s": round(ref_rps, 1),
            "ratio": round(import_rps / ref_rps, 4) if ref_rps else None,
            "peak_rss_mb": result["peak_rss_mb"],
        }
        results = ROOT / "bench" / "results"
        results.mkdir(exist_ok=True)
        name = results / f"imports-{opts.db}-{opts.people}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        name.write_text(json.dumps(out, indent=2, default=str))
        print(
            json.dumps(
                {
                    k: out[k]
                    for k in (
                        "db",
                        "import_rows_per_s",
                        "run_phase_rows_per_s",
                        "reference_rows_per_s",
                        "ratio",
                        "peak_rss_mb",
                    )
                }
            )
        )
        print(f"written to {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
