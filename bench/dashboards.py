"""Rapport dashboards benchmark (not a test): a database with ``--people`` people (``rapport demo``)
and ``--deals`` deals in bulk (``bench/sales.py load-deals``), then, in one process through Django's
request handling (test Client: middleware, session, view, template), the default Sales dashboard page
and a builder report grouped by month over all deals, as an administrator and as a team member.

    .venv/bin/python bench/dashboards.py --db sqlite   --deals 200000
    .venv/bin/python bench/dashboards.py --db postgres --deals 200000

The report summaries are rebuilt first (``reports.summaries.rebuild``: the loaders write in bulk, as
an import would, and the reconcile job would do the same within a minute), timed. "cold": every
request on a new database connection and with an empty cache (SQLite's page cache and PostgreSQL's
backend caches start empty; the OS file cache stays warm); "warm": repeated identical requests on one
connection (the dashboard's widgets then come from the cache, keyed by viewer scope and data version).
Targets (issue 12): dashboard p95 <= 300 ms cold and <= 100 ms warm, builder report p95 <= 500 ms.
Prints a Markdown table and writes JSON into bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, log, machine, run_command  # noqa: E402

PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_dashboards")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TARGETS = {"dashboard_cold": 300.0, "dashboard_warm": 100.0, "builder_month": 500.0}
BUILDER = "/reports/builder/preview/?r_type=deals&r_group1=created_at&r_gran1=month&r_op=sum&r_measure=amount"


def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(samples), "p50": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def measure(env: dict[str, str], samples: int) -> dict[str, Any]:
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from rapport.accounts.models import User
    from rapport.deals.models import Deal
    from rapport.reports import services

    settings.ALLOWED_HOSTS = ["*"]
    from rapport.accounts.models import Role

    admin = User.objects.filter(role__key="admin").first()
    if admin is None:  # the bulk demo has sellers only
        admin = User.objects.create_user("bench-admin", password=None, role=Role.objects.get(key="admin"))
    member = User.objects.filter(role__key="member", team__isnull=False).order_by("pk").first()
    from django.core.cache import cache

    from rapport.reports import summaries
    from rapport.reports.models import DealSummary

    board = services.default_dashboard()
    started = time.perf_counter()
    # What the reconcile job does: a full rebuild on a database loaded in bulk (its events were never
    # dispatched to the summaries), else only the deals changed since its last run.
    summaries.reconcile()
    out: dict[str, Any] = {
        "total_deals": Deal.objects.count(),
        "open_deals": Deal.objects.filter(status="open").count(),
        "summary_reconcile_seconds": round(time.perf_counter() - started, 1),
        "summary_rows": DealSummary.objects.count(),
    }
    log(f"summaries rebuilt: {out['summary_rows']:,} rows in {out['summary_reconcile_seconds']} s")

    cpu: list[float] = []

    def timed(client: Client, path: str, cold: bool) -> float:
        if cold:  # a new connection and nothing cached
            connection.close()
            cache.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        cpu.append((time.process_time() - cpu_started) * 1000)  # this process only (SQLite's work included)
        assert response.status_code == 200, (path, response.status_code)
        return elapsed

    for who, user in (("admin", admin), ("member", member)):
        client = Client()
        client.force_login(user)
        for name, path in (("dashboard", f"/reports/dashboards/{board.pk}/"), ("builder_month", BUILDER)):
            timed(client, path, False)  # templates compiled, URLconf loaded
            for mode in ("cold", "warm"):
                key = f"{name}_{mode}" + ("" if who == "admin" else "_member")
                cpu.clear()
                out[key] = percentiles([timed(client, path, mode == "cold") for _ in range(samples)])
                out[key]["cpu_p50"] = round(statistics.median(cpu), 1)
                out[key]["cpu_p95"] = percentiles(cpu)["p95"]
                out[key]["load_average"] = round(os.getloadavg()[0], 1)
                log(f"{key}: {out[key]}")
    # The same requests with the summaries set aside (every widget and the builder read the deals), as an
    # administrator, in the same run: the ratio holds whatever else the machine is doing.
    summaries.usable = lambda *args, **kwargs: None  # type: ignore[assignment]
    client = Client()
    client.force_login(admin)
    for name, path in (("dashboard", f"/reports/dashboards/{board.pk}/"), ("builder_month", BUILDER)):
        for mode in ("cold", "warm"):
            key = f"{name}_{mode}_live"
            cpu.clear()
            out[key] = percentiles([timed(client, path, mode == "cold") for _ in range(max(5, samples // 3))])
            out[key]["cpu_p50"] = round(statistics.median(cpu), 1)
            out[key]["cpu_p95"] = percentiles(cpu)["p95"]
            out[key]["load_average"] = round(os.getloadavg()[0], 1)
            log(f"{key}: {out[key]}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--open-in-pipeline", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=0, help="Activities loaded by bench/activities.py load.")
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--data-dir", help="Reuse this data folder (skips the load if it holds a database).")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-only", action="store_true", help="Load the data folder and stop.")
    opts = parser.parse_args()

    data_dir = Path(opts.data_dir) if opts.data_dir else Path(tempfile.mkdtemp(prefix=f"rapport-dash-{opts.db}-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        RAPPORT_DATA_DIR=str(data_dir),
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_SETTINGS_MODULE="rapport.settings.base",
        PYTHONPATH=str(ROOT),
    )
    if opts.db == "postgres":
        env["RAPPORT_DATABASE_URL"] = PG_URL
    else:
        env.pop("RAPPORT_DATABASE_URL", None)
    if opts.measure_only:
        print(json.dumps(measure(env, opts.samples)))
        return
    reuse = (data_dir / "loaded").exists()
    if opts.db == "postgres" and not reuse:
        fresh_postgres()
    logfile = data_dir / "bench.log"
    rapport = str(VENV_BIN / "rapport")
    run_command([rapport, "migrate", "--noinput", "-v0"], env, logfile)
    if not reuse:
        log(f"rapport demo --people {opts.people} --companies {opts.companies}")
        people_s = run_command(
            [rapport, "demo", "--people", str(opts.people), "--companies", str(opts.companies)], env, logfile
        )
        log(f"load-deals --deals {opts.deals}")
        deals_s = run_command(
            [str(VENV_BIN / "python"), str(ROOT / "bench" / "sales.py"), "load-deals", "--deals", str(opts.deals),
             "--open-in-pipeline", str(opts.open_in_pipeline)],
            env,
            logfile,
        )  # fmt: skip
        activities_s = 0.0
        if opts.activities:
            log(f"bench/activities.py load --activities {opts.activities}")
            activities_s = run_command(
                [str(VENV_BIN / "python"), str(ROOT / "bench" / "activities.py"), "load", "--company-people", "50",
                 "--activities", str(opts.activities), "--open-tasks", "5000"],
                env,
                logfile,
            )  # fmt: skip
        (data_dir / "loaded").write_text(
            json.dumps(
                {
                    "people_seconds": round(people_s, 1),
                    "deals_seconds": round(deals_s, 1),
                    "activities_seconds": round(activities_s, 1),
                }
            )
        )
    gen = json.loads((data_dir / "loaded").read_text())
    if opts.load_only:
        log(f"loaded: {gen}")
        return
    run_command([rapport, "collectstatic", "--noinput", "-v0"], env, logfile)  # the pages' hashed static names
    log("measuring")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": opts.db,
        "people": opts.people,
        "deals": opts.deals,
        "machine": machine(),
        "generation": gen,
    }
    result.update(measure(env, opts.samples))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"dashboards-{opts.db}-{result['date'][:19].replace(':', '')}.json").write_text(
        json.dumps(result, indent=2)
    )
    print(f"\n{opts.db}: {result['total_deals']:,} deals ({result['open_deals']:,} open), {opts.people:,} people")
    print("| Scenario | p50 ms | p95 ms | CPU p50 / p95 ms | load | target |\n|---|---|---|---|---|---|")
    for key, value in result.items():
        if isinstance(value, dict) and "p95" in value:
            base = key.removesuffix("_member").removesuffix("_live")
            target = TARGETS["builder_month"] if base.startswith("builder_month") else TARGETS.get(base, "")
            print(
                f"| {key} | {value['p50']} | {value['p95']} | {value['cpu_p50']} / {value['cpu_p95']} "
                f"| {value['load_average']} | {target or '—'} |"
            )


if __name__ == "__main__":
    main()
