"""Rapport write benchmark (not a test): writes/s of creating and updating people and deals through
the API, next to a raw SQL reference that writes the same rows, in the same run.

    .venv/bin/python bench/writes.py --db sqlite   --people 100000 --companies 10000
    .venv/bin/python bench/writes.py --db postgres --people 100000 --companies 10000

A fresh database (PostgreSQL: ``$RAPPORT_BENCH_PG_DB``, default ``rapport_bench_writes``) is loaded
with ``rapport demo``; then, in one process and one thread, rounds of each write alternate with
rounds of its reference (so that background load on a shared machine hits both alike):

- the API path: ``POST /api/v1/people/`` (a person with two emails and two phones), ``PATCH`` of a
  person (job title, with If-Match), ``POST /api/v1/deals/`` (a deal with two contacts), ``PATCH`` of a
  deal (amount, with If-Match). Django's test client with an API token: middleware, token
  authentication, JSON parsing, the write serializer, the write services, the JSON answer — in
  process, without an HTTP server (the HTTP stack is measured by bench/run.py);
- the reference: plain Django views (``/bench/reference/writes/…``, bench/urls.py) that write the same
  rows with raw SQL in one transaction per write (person, its two emails and two phones, the event,
  the search entry; a deal, its two contacts, its stage change, the event, the search entry; an
  update: the row, the event, the search entry) and answer the id with orjson, called through the same
  client and middleware — no authentication, validation, history diffs, DRF or ORM: what a write has
  to cost at least, as bench/reference.py is for the people list.

The ratio is API writes/s ÷ reference writes/s (target ≥ 0.3). Results as JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, log, machine, run_command  # noqa: E402

PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_writes")
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
TARGET = 0.3


def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


# --- the measurement (runs in a child process with Django set up) ------------------------------
class Writes:
    def __init__(self) -> None:
        from django.conf import settings
        from django.test import Client

        from rapport.accounts.models import ApiToken, Role, User
        from rapport.deals.models import Pipeline

        settings.ALLOWED_HOSTS = ["*"]
        role = Role.objects.get(key="admin")
        self.user, _ = User.objects.get_or_create(username="bench-writes", defaults={"role": role})
        _, raw = ApiToken.issue(self.user, name="bench-writes", scope=ApiToken.SCOPE_WRITE)
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        self.pipeline = Pipeline.objects.get(name="Sales pipeline")
        self.stage = self.pipeline.stages.filter(kind="open").order_by("position").first()
        self.n = int(time.time() * 1000) % 10**12  # unique addresses in a reused database too
        self.people: list[tuple[str, int]] = []  # (url, version) of people created through the API
        self.deals: list[tuple[str, int]] = []
        self.ref_people: list[int] = []
        self.ref_deals: list[int] = []
        self.contacts = list(
            __import__("rapport.contacts.models", fromlist=["Person"])
            .Person.objects.order_by("id")
            .values_list("id", flat=True)[:2000]
        )

    def unique(self) -> int:
        self.n += 1
        return self.n

    def _send(self, method: str, url: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        response = getattr(self.client, method)(url, json.dumps(data), content_type="application/json", **extra)
        if response.status_code not in (200, 201):
            raise SystemExit(f"{method.upper()} {url}: {response.status_code} {response.content[:300]!r}")
        return response.json()

    # API writes
    def api_person_create(self) -> None:
        n = self.unique()
        body = self._send(
            "post",
            "/api/v1/people/",
            {
                "first_name": "Bench",
                "last_name": f"Writer {n}",
                "emails": [{"email": f"bench.writer.{n}@example.org", "primary": True}, f"bw{n}@example.com"],
                "phones": [{"number": f"+1212555{n % 10000:04d}", "kind": "mobile"}, "+442079460000"],
                "tags": ["bench"],
            },
        )
        self.people.append((body["url"], body["version"]))

    def api_person_update(self) -> None:
        i = self.unique() % len(self.people)
        url, version = self.people[i]
        body = self._send(
            "patch", url, {"job_title": f"Title {self.n}"}, HTTP_IF_MATCH=f'"{url.split("/")[-2]}-{version}"'
        )
        self.people[i] = (url, body["version"])

    def api_deal_create(self) -> None:
        n = self.unique()
        a, b = self.contacts[n % len(self.contacts)], self.contacts[(n + 1) % len(self.contacts)]
        body = self._send(
            "post",
            "/api/v1/deals/",
            {
                "title": f"Bench deal {n}",
                "stage": self.stage.pk,
                "amount": "1200.00",
                "currency": "EUR",
                "expected_close_date": "2026-12-15",
                "contacts": [{"person": a, "role": "champion"}, {"person": b}],
            },
        )
        self.deals.append((body["url"], body["version"]))

    def api_deal_update(self) -> None:
        i = self.unique() % len(self.deals)
        url, version = self.deals[i]
        body = self._send(
            "patch", url, {"amount": f"{1000 + self.n % 500}.00"}, HTTP_IF_MATCH=f'"{url.split("/")[-2]}-{version}"'
        )
        self.deals[i] = (url, body["version"])

    # the raw SQL reference, through the same client and middleware (views below)
    def _ref(self, url: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(url, json.dumps(data), content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"POST {url}: {response.status_code} {response.content[:300]!r}")
        return response.json()

    def ref_person_create(self) -> None:
        self.ref_people.append(self._ref("/bench/reference/writes/people/", {"n": self.unique()})["id"])

    def ref_person_update(self) -> None:
        n = self.unique()
        self._ref("/bench/reference/writes/people/update/", {"id": self.ref_people[n % len(self.ref_people)], "n": n})

    def ref_deal_create(self) -> None:
        n = self.unique()
        a, b = self.contacts[n % len(self.contacts)], self.contacts[(n + 1) % len(self.contacts)]
        self.ref_deals.append(self._ref("/bench/reference/writes/deals/", {"n": n, "contacts": [a, b]})["id"])

    def ref_deal_update(self) -> None:
        n = self.unique()
        self._ref("/bench/reference/writes/deals/update/", {"id": self.ref_deals[n % len(self.ref_deals)], "n": n})


# --- reference views: the same rows with raw SQL, one transaction, no validation or framework -----
def _bench_user() -> Any:
    from rapport.accounts.models import User

    return User.objects.only("id", "team_id").get(username="bench-writes")


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _event(cur: Any, user: Any, type_key: str, rid: int, title: str, kind: str, changes: str) -> None:
    cur.execute(
        "INSERT INTO core_event (occurred_at, type_key, record_id, record_title, kind, actor_id, source, "
        "request_id, changes) VALUES (%s, %s, %s, %s, %s, %s, 'api', '', %s)",
        [_now(), type_key, rid, title, kind, user.pk, changes],
    )


def _answer(data: dict[str, Any]) -> Any:
    import orjson
    from django.http import HttpResponse

    return HttpResponse(orjson.dumps(data), content_type="application/json")


def ref_person_create(request: Any) -> Any:
    from django.db import connection, transaction

    n = json.loads(request.body)["n"]
    user, now = _bench_user(), _now()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO contacts_person (owner_id, team_id, tags, custom, notes, created_at, updated_at, "
            "created_by_id, version, first_name, last_name, primary_email, primary_phone, job_title, "
            "lifecycle_stage, lead_status, source) VALUES (%s, %s, '[\"bench\"]', '{}', '', %s, %s, %s, 1, "
            "'Bench', %s, %s, %s, '', 'lead', '', '') RETURNING id",
            [user.pk, user.team_id, now, now, user.pk, f"Ref {n}", f"ref.{n}@example.org", "+12125550000"],
        )
        pid = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO contacts_personemail (person_id, email, is_primary, position, live) "
            "VALUES (%s, %s, true, 0, true), (%s, %s, false, 1, true)",
            [pid, f"ref.{n}@example.org", pid, f"rf{n}@example.com"],
        )
        cur.execute(
            "INSERT INTO contacts_personphone (person_id, number, kind, is_primary, position) "
            "VALUES (%s, '+12125550000', 'mobile', true, 0), (%s, '+442079460000', 'work', false, 1)",
            [pid, pid],
        )
        _event(cur, user, "people", pid, f"Bench Ref {n}", "created", '{"first_name": [null, "Bench"]}')
        cur.execute(
            "INSERT INTO core_searchentry (type_key, record_id, owner_id, team_id, title, body, identifiers) "
            "VALUES ('people', %s, %s, %s, %s, %s, %s)",
            [pid, user.pk, user.team_id, f"Bench Ref {n}", f"ref.{n}@example.org", f"ref.{n}@example.org 2125550000"],
        )
    return _answer({"id": pid, "version": 1})


def ref_person_update(request: Any) -> Any:
    from django.db import connection, transaction

    body = json.loads(request.body)
    user, pid, n = _bench_user(), body["id"], body["n"]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE contacts_person SET job_title = %s, version = version + 1, updated_at = %s WHERE id = %s",
            [f"Title {n}", _now(), pid],
        )
        _event(cur, user, "people", pid, "Bench Ref", "updated", '{"job_title": ["", "x"]}')
        cur.execute(
            "UPDATE core_searchentry SET body = %s WHERE type_key = 'people' AND record_id = %s", [f"Title {n}", pid]
        )
    return _answer({"id": pid})


def ref_deal_create(request: Any) -> Any:
    from django.db import connection, transaction

    from rapport.deals.models import Pipeline

    body = json.loads(request.body)
    n, (a, b) = body["n"], body["contacts"]
    user, now = _bench_user(), _now()
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    stage = pipeline.stages.filter(kind="open").order_by("position").first()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "INSERT INTO sales_deal (owner_id, team_id, tags, custom, notes, created_at, updated_at, created_by_id, "
            "version, title, pipeline_id, stage_id, status, amount, currency, expected_close_date, probability, "
            "probability_overridden, forecast_category, source, stage_entered_at) VALUES (%s, %s, '[]', '{}', '', "
            "%s, %s, %s, 1, %s, %s, %s, 'open', 1200, 'EUR', '2026-12-15', %s, false, 'pipeline', '', %s) "
            "RETURNING id",
            [user.pk, user.team_id, now, now, user.pk, f"Ref deal {n}", pipeline.pk, stage.pk, stage.probability, now],
        )
        did = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO sales_dealcontact (deal_id, person_id, role) VALUES (%s, %s, 'champion'), (%s, %s, 'other')",
            [did, a, did, b],
        )
        cur.execute(
            "INSERT INTO sales_stagechange (deal_id, to_stage_id, changed_at, actor_id) VALUES (%s, %s, %s, %s)",
            [did, stage.pk, now, user.pk],
        )
        _event(cur, user, "deals", did, f"Ref deal {n}", "created", '{"title": [null, "Ref"]}')
        cur.execute(
            "INSERT INTO core_searchentry (type_key, record_id, owner_id, team_id, title, body, identifiers) "
            "VALUES ('deals', %s, %s, %s, %s, '', '')",
            [did, user.pk, user.team_id, f"Ref deal {n}"],
        )
    return _answer({"id": did, "version": 1})


def ref_deal_update(request: Any) -> Any:
    from django.db import connection, transaction

    body = json.loads(request.body)
    user, did, n = _bench_user(), body["id"], body["n"]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE sales_deal SET amount = %s, version = version + 1, updated_at = %s WHERE id = %s",
            [1000 + n % 500, _now(), did],
        )
        _event(cur, user, "deals", did, "Ref deal", "updated", '{"amount": ["1200.00", "1000.00"]}')
        cur.execute("UPDATE core_searchentry SET body = '' WHERE type_key = 'deals' AND record_id = %s", [did])
    return _answer({"id": did})


def rate(fn: Callable[[], None], seconds: float) -> tuple[float, float]:
    """(writes/s, CPU ms per write) over ``seconds``."""
    count = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        fn()
        count += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return count / wall, cpu * 1000 / count


def measure_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/writes.py measure")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", required=True)
    opts = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from rapport.core.services import request_context

    w = Writes()
    pairs = {
        "person_create": (w.api_person_create, w.ref_person_create),
        "person_update": (w.api_person_update, w.ref_person_update),
        "deal_create": (w.api_deal_create, w.ref_deal_create),
        "deal_update": (w.api_deal_update, w.ref_deal_update),
    }
    for api, ref in pairs.values():  # warm up, and something to update
        for _ in range(20):
            with request_context():
                api()
            ref()
    out: dict[str, Any] = {}
    for name, (api, ref) in pairs.items():
        api_rates, ref_rates, api_cpu, ref_cpu = [], [], [], []
        for _ in range(opts.rounds):
            r, c = rate(api, opts.seconds)
            api_rates.append(r)
            api_cpu.append(c)
            r, c = rate(ref, opts.seconds)
            ref_rates.append(r)
            ref_cpu.append(c)
        a, b = sum(api_rates) / len(api_rates), sum(ref_rates) / len(ref_rates)
        out[name] = {
            "api_writes_per_s": round(a, 1),
            "reference_writes_per_s": round(b, 1),
            "ratio": round(a / b, 3),
            "api_cpu_ms_per_write": round(statistics.median(api_cpu), 2),
            "reference_cpu_ms_per_write": round(statistics.median(ref_cpu), 2),
            "rounds_api": [round(x, 1) for x in api_rates],
            "rounds_reference": [round(x, 1) for x in ref_rates],
        }
        log(f"  {name}: API {a:.0f}/s, reference {b:.0f}/s, ratio {a / b:.2f}")
    Path(opts.out).write_text(json.dumps(out))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        measure_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5, help="Seconds per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", help="Reuse this data folder (skips the load if it holds a database).")
    parser.add_argument("--keep", action="store_true")
    opts = parser.parse_args()
    data_dir = Path(opts.data_dir) if opts.data_dir else Path(tempfile.mkdtemp(prefix=f"rapport-writes-{opts.db}-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "bench.log"
    env = dict(
        os.environ,
        RAPPORT_DATA_DIR=str(data_dir),
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_SETTINGS_MODULE="rapport.settings.base",
        PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",  # this checkout's code, also from a worktree
    )
    loaded = (data_dir / "loaded").exists()
    if opts.db == "postgres":
        env["RAPPORT_DATABASE_URL"] = PG_URL
        if not loaded:
            fresh_postgres()
    else:
        env.pop("RAPPORT_DATABASE_URL", None)
    rapport = str(VENV_BIN / "rapport")
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": opts.db,
        "people": opts.people,
        "companies": opts.companies,
        "machine": machine(),
        "path": "API in process (Django test client, token auth, JSON in and out; no HTTP server)",
    }
    run_command([rapport, "migrate", "--noinput", "-v0"], env, logfile)
    if not loaded:
        log(f"rapport demo --people {opts.people} --companies {opts.companies}")
        seconds = run_command(
            [rapport, "demo", "--people", str(opts.people), "--companies", str(opts.companies)], env, logfile
        )
        (data_dir / "loaded").write_text(json.dumps({"demo_seconds": round(seconds, 1)}))
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    out = data_dir / "writes.json"
    log("measuring (API and reference rounds alternate)")
    run_command(
        [str(VENV_BIN / "python"), str(Path(__file__)), "measure", "--seconds", str(opts.seconds),
         "--rounds", str(opts.rounds), "--out", str(out)],
        env,
        logfile,
    )  # fmt: skip
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["writes"] = json.loads(out.read_text())
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"writes-{opts.db}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    log(f"results written to {path}")
    if not opts.keep and not opts.data_dir:
        if opts.db == "postgres":
            fresh_postgres()
        shutil.rmtree(data_dir, ignore_errors=True)


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"### writes, {result['db']}: {result['people']:,} people ({result['date']})",
        "",
        f"Path: {result['path']}. Load average before/after: {result['load_average_before']} / "
        f"{result['load_average_after']}",
        "",
        "| Write | API writes/s | reference writes/s | ratio | target | API CPU ms/write | reference CPU ms/write |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for name, v in result["writes"].items():
        met = "met" if v["ratio"] >= TARGET else "MISSED"
        lines.append(
            f"| {name} | {v['api_writes_per_s']} | {v['reference_writes_per_s']} | {v['ratio']} | ≥ {TARGET} {met} | "
            f"{v['api_cpu_ms_per_write']} | {v['reference_cpu_ms_per_write']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
