"""Rapport standard-reports benchmark (not a test): a fresh database with people and companies from
``rapport demo``, then ``--deals N`` deals in bulk (``bench/sales.py load-deals``: each with its created
event and first stage change, closed ones over the past year); served by gunicorn and measured through
real HTTP: every standard report's page and API, as an administrator (every deal) and a member (their
team's), with each report's default period and the last 12 months.

    .venv/bin/python bench/reports.py --db sqlite   --deals 200000
    .venv/bin/python bench/reports.py --db postgres --deals 200000

"Cold" is the first request for a report after the server started (one sample each: the report's
queries have not run in that process nor, for that statement, in the database); "warm" is p50/p95 over
``--requests`` sequential requests. Prints a Markdown table and writes JSON into bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, Server, free_port, log, machine, run_command  # noqa: E402
from bench.sales import Client, django_setup, measure  # noqa: E402

PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_reports")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
PASSWORD = "bench-reports-password-1"  # noqa: S105 - a throwaway user of a throwaway database


def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def prepare(env: dict[str, str]) -> dict[str, Any]:
    django_setup(env)
    from django.db import connection

    from rapport.accounts.models import ApiToken, Role, User
    from rapport.deals.bulk import sellers
    from rapport.deals.models import Deal
    from rapport.reports import standard

    def user(username: str, role: str, team_id: int | None) -> User:
        found = User.objects.filter(username=username).first()
        if found is None:
            found = User.objects.create_user(
                username, password=PASSWORD, role=Role.objects.get(key=role), team_id=team_id, first_name="Bench"
            )
        return found

    admin = user("bench-reports-admin", "admin", None)
    _, member_team = sellers()[0]
    member = user("bench-reports-member", "member", member_team)
    _, admin_token = ApiToken.issue(admin, name="bench", scope=ApiToken.SCOPE_READ)
    _, member_token = ApiToken.issue(member, name="bench", scope=ApiToken.SCOPE_READ)
    fx = {
        "admin_token": admin_token,
        "member_token": member_token,
        "reports": [(r.key, r.team_leads) for r in standard.load().values()],
        "total_deals": Deal.objects.live().count(),
        "member_team_deals": Deal.objects.live().filter(team_id=member_team).count(),
    }
    connection.close()
    return fx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--open-in-pipeline", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20, help="Warm requests per scenario.")
    parser.add_argument("--budget", type=float, default=15, help="Seconds at most per scenario.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", help="Reuse this data folder (skips the load if it holds a database).")
    opts = parser.parse_args()

    data_dir = Path(opts.data_dir) if opts.data_dir else Path(tempfile.mkdtemp(prefix=f"rapport-reports-{opts.db}-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "bench.log"
    env = dict(
        os.environ,
        RAPPORT_DATA_DIR=str(data_dir),
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_SETTINGS_MODULE="rapport.settings.base",
        PYTHONPATH=str(ROOT),
    )
    if opts.db == "postgres":
        env["RAPPORT_DATABASE_URL"] = PG_URL
        reuse = bool(opts.data_dir) and (data_dir / "loaded").exists()
        if not reuse:
            fresh_postgres()
    else:
        env.pop("RAPPORT_DATABASE_URL", None)
        reuse = (data_dir / "rapport.sqlite3").exists() and (data_dir / "loaded").exists()
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": opts.db,
        "people": opts.people,
        "deals": opts.deals,
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "server": f"gunicorn gthread, {opts.workers} workers x {opts.threads} threads",
    }
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
        (data_dir / "loaded").write_text(json.dumps({"people_seconds": people_s, "deals_seconds": deals_s}))
    result["generation"] = json.loads((data_dir / "loaded").read_text())
    run_command([rapport, "collectstatic", "--noinput", "-v0"], env, logfile)
    fx = prepare(env)
    result["total_deals"], result["member_team_deals"] = fx["total_deals"], fx["member_team_deals"]
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    server = Server(env, port, opts.workers, opts.threads, logfile)
    rows: dict[str, Any] = {}
    try:
        admin_page, member_page = Client(port), Client(port)
        admin_page.login("bench-reports-admin", PASSWORD)
        member_page.login("bench-reports-member", PASSWORD)
        admin_api, member_api = Client(port, fx["admin_token"]), Client(port, fx["member_token"])
        for client in (admin_page, member_page):
            client.get("/reports/")  # the URLconf and templates loaded in the workers
        for key, leads in fx["reports"]:
            twelve = "?period=last_12_months" if key != "data-quality" else ""
            scenarios = [
                ("admin page", admin_page, f"/reports/{key}/"),
                ("admin api", admin_api, f"/api/v1/reports/{key}/"),
                ("admin api 12 months", admin_api, f"/api/v1/reports/{key}/{twelve}"),
            ]
            if not leads:  # adoption and data quality: team leads only
                scenarios.append(("member api", member_api, f"/api/v1/reports/{key}/"))
            for label, client, path in scenarios:
                started = time.perf_counter()
                status, body = client.get(path)
                cold = round((time.perf_counter() - started) * 1000, 1)
                if status != 200:
                    raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
                warm = measure(lambda i, c=client, p=path: c.get(p), opts.requests, opts.budget, warmup=1)
                name = f"{key} {label}"
                rows[name] = {"cold_ms": cold, **warm}
                log(f"{name}: cold {cold} ms, warm p50 {warm['p50_ms']} p95 {warm['p95_ms']} ms ({warm['requests']})")
    finally:
        server.stop()
    result["latency"] = rows
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = ROOT / "bench" / "results" / f"reports-{opts.db}-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("| scenario | cold ms | warm p50 ms | warm p95 ms |\n|---|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['cold_ms']} | {r['p50_ms']} | {r['p95_ms']} |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
