"""Workflow rules benchmark (not a test): what rules cost a write, how fast a rule's webhook reaches a receiver,
and how many events per second go through rules and webhook delivery.

    .venv/bin/python bench/automation.py cost       [--db sqlite|postgres] [--writes 300]
    .venv/bin/python bench/automation.py latency    [--db sqlite|postgres] [--writes 200]
    .venv/bin/python bench/automation.py throughput [--events 5000] [--workers 4] [--redis-db 11] [--no-fork]
    .venv/bin/python bench/automation.py cpu        [--db sqlite|postgres] [--events 1000]

Each part migrates a fresh database (a temporary folder; PostgreSQL: ``$RAPPORT_BENCH_PG_DB``, default
``rapport_bench_automation``) and writes JSON into bench/results/.

- **cost** (in process, one thread): rounds of 50 person updates through the write service, each followed by
  what the worker does for its event (``dispatch_pending``: every consumer, automation's included), alternating
  between no active rule and 20 active rules that do not match the change (10 on people watching other fields,
  5 on people whose conditions — a custom field and the lifecycle stage — do not hold, 5 on deals). Two ratios
  (rules ÷ none, medians of the rounds): the write alone (the request: rules never run there) and the write with
  its dispatch (all the work the change causes). Target: within 10 % (ratio ≤ 1.10).
- **latency**: one ``rapport worker`` (the default database queue); an active rule "company created → call a
  webhook" whose subscription listens to nothing else; companies are created one every 50–300 ms and the
  receiver (``http.server`` on loopback) notes when each rule's delivery arrives. Latency = arrival − commit,
  three jobs later (dispatch, the rule's run, the sender). Target: p95 < 2 s.
- **throughput** (PostgreSQL and RQ on Redis ``127.0.0.1:6379/<redis-db>``): ``--events`` companies are created
  in bulk (one event each, one transaction), with the same rule; ``--workers`` RQ workers dispatch, run the rules
  and send the deliveries to a threaded receiver. Events/s = events ÷ (last delivery − commit). Target: 1,000/s.
- **cpu** (one process, no queue): the same rule and ``--events`` companies made in bulk, then the dispatch, the
  runs and the sender done here one stage after the other: CPU (``time.process_time``), wall time and statements
  per event per stage — the steadier figure on a shared machine, and the bound on events/s per core.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import log, machine  # noqa: E402

PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_automation")
TARGETS = {"cost_ratio": 1.10, "latency_p95_s": 2.0, "events_per_s": 1000.0}

arrivals: dict[int, float] = {}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        now = time.time()
        data = json.loads(body).get("data", {})
        if "record_id" in data:
            with lock:
                arrivals.setdefault(int(data["record_id"]), now)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def start_receiver() -> tuple[Server, int]:
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, server.server_address[1]


def environment(db: str, port: int = 0, broker: str = "") -> dict[str, str]:
    data_dir = Path(tempfile.mkdtemp(prefix="rapport-bench-automation-"))
    env = {
        **os.environ,
        "RAPPORT_DATA_DIR": str(data_dir),
        "RAPPORT_SECRET_KEY": "bench-" + "x" * 50,
        "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
    }
    if port:
        env["RAPPORT_HTTP_ALLOWED_PORTS"] = str(port)
        env["RAPPORT_HTTP_ALLOW_PRIVATE"] = "127.0.0.1/32"
    env.pop("RAPPORT_DATABASE_URL", None)
    env.pop("RAPPORT_BROKER_URL", None)
    if db == "postgres":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        env["RAPPORT_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
    if broker:
        env["RAPPORT_BROKER_URL"] = broker
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "rapport", "migrate", "--noinput", "-v0"], env=env, check=True)
    import django

    django.setup()
    return env


def make_rule(admin: Any, data: dict[str, Any]) -> Any:
    from rapport.automation import services
    from rapport.automation.serializers import RuleSerializer

    serializer = RuleSerializer(data={"active": True, **data}, context={"actor": admin})
    serializer.is_valid(raise_exception=True)
    return services.create_rule(dict(serializer.validated_data), actor=admin)


def admin_user() -> Any:
    from rapport.accounts.models import Role, User

    return User.objects.create_user(username="bench", password="x", role=Role.objects.get(key="admin"))


# --- cost ----------------------------------------------------------------------------------------------------------


def cost(args: argparse.Namespace) -> dict[str, Any]:
    environment(args.db)
    from rapport.automation import engine
    from rapport.automation.models import Rule
    from rapport.contacts.models import Person
    from rapport.core import customfields, services
    from rapport.core.services import request_context
    from rapport.jobs.events import dispatch_pending

    admin = admin_user()
    customfields.create_field(
        "people", "region", {"label": "Region", "field_type": "choice", "choices": ["EU", "US"]}, actor=admin
    )
    tags = [{"type": "add_tags", "params": {"tags": ["x"]}}]
    watched = ["first_name", "last_name", "company", "lifecycle_stage", "lead_status", "source", "city", "country",
               "postal_code", "street"]  # fmt: skip
    for name in watched:  # the change is to job_title: these triggers do not match
        make_rule(admin, {"name": f"watch {name}", "type_key": "people", "trigger": "updated",
                          "trigger_config": {"fields": [name]}, "actions": tags})  # fmt: skip
    for i in range(5):  # these match the trigger; their conditions do not hold (one query for all five)
        make_rule(admin, {"name": f"cond {i}", "type_key": "people", "trigger": "updated",
                          "conditions": f"cf_region=EU&lifecycle_stage={'customer' if i % 2 else 'opportunity'}",
                          "actions": tags})  # fmt: skip
    for i in range(5):
        make_rule(admin, {"name": f"deals {i}", "type_key": "deals", "trigger": "updated", "actions": tags})
    Rule.objects.filter(shipped__isnull=False).update(active=False)  # "none" is none (the shipped rule is off)
    assert Rule.objects.filter(active=True).count() == 20
    people = [
        services.create_record(
            Person, {"first_name": f"P{i}", "last_name": "Bench", "custom": {"region": "US"}}, actor=admin, source="api"
        )  # fmt: skip
        for i in range(50)
    ]
    dispatch_pending()
    counter = [0]

    def round_of(with_rules: bool) -> tuple[float, float]:
        Rule.objects.filter(shipped__isnull=True).update(active=with_rules)
        engine.forget_rules()
        engine.active_rules("people")  # a running worker has its cache warm
        write_s = total_s = 0.0
        for person in people:
            counter[0] += 1
            started = time.perf_counter()
            with request_context():
                current = Person.objects.get(pk=person.pk)
                services.update_record(current, {"job_title": f"T{counter[0]}"}, actor=admin, source="api")
            written = time.perf_counter()
            dispatch_pending()
            done = time.perf_counter()
            write_s += written - started
            total_s += done - started
        return write_s / len(people), total_s / len(people)

    rounds = max(2, args.writes // len(people))
    none: list[tuple[float, float]] = []
    rules: list[tuple[float, float]] = []
    round_of(False)  # warm up
    for _ in range(rounds):
        none.append(round_of(False))
        rules.append(round_of(True))
    from rapport.automation.models import RuleRun

    assert not RuleRun.objects.exists(), "a rule matched"

    def med(rows: list[tuple[float, float]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    result = {
        "bench": "automation-cost",
        "db": args.db,
        "writes_per_side": rounds * len(people),
        "rules": 20,
        "write_ms_none": round(med(none, 0) * 1000, 3),
        "write_ms_rules": round(med(rules, 0) * 1000, 3),
        "write_ratio": round(med(rules, 0) / med(none, 0), 3),
        "write_and_dispatch_ms_none": round(med(none, 1) * 1000, 3),
        "write_and_dispatch_ms_rules": round(med(rules, 1) * 1000, 3),
        "write_and_dispatch_ratio": round(med(rules, 1) / med(none, 1), 3),
        "target_ratio": TARGETS["cost_ratio"],
    }
    return result


# --- latency -------------------------------------------------------------------------------------------------------


def latency(args: argparse.Namespace) -> dict[str, Any]:
    server, port = start_receiver()
    env = environment(args.db, port)
    from rapport.contacts.models import Company
    from rapport.core import services as core
    from rapport.webhooks import services as webhooks

    admin = admin_user()
    # Listens to nothing of its own (deleted events of no type that is written here): only the rule sends.
    hook = webhooks.create_subscription(
        {"name": "rule", "url": f"http://127.0.0.1:{port}/hook", "event_types": ["deleted"], "type_keys": ["deals"]},
        actor=admin,
    )
    make_rule(admin, {"name": "tell", "type_key": "companies", "trigger": "created",
                      "actions": [{"type": "call_webhook", "params": {"subscription": hook.pk}}]})  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "rapport", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    committed: dict[int, float] = {}
    rng = random.Random(7)
    try:
        warm = core.create_record(Company, {"name": "Warm-up"}, actor=admin, source="api")
        deadline = time.time() + 120
        while warm.pk not in arrivals and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        for i in range(args.writes):
            company = core.create_record(Company, {"name": f"Bench {i}"}, actor=admin, source="api")
            committed[company.pk] = time.time()
            time.sleep(rng.uniform(0.05, 0.3))
        deadline = time.time() + 60
        while len([pk for pk in committed if pk in arrivals]) < len(committed) and time.time() < deadline:
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(10)
        server.shutdown()
    latencies = sorted(arrivals[pk] - t for pk, t in committed.items() if pk in arrivals)
    return {
        "bench": "automation-latency",
        "db": args.db,
        "worker": "1 rapport worker (database queue)",
        "writes": args.writes,
        "delivered": len(latencies),
        "missing": len(committed) - len(latencies),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "max_s": round(latencies[-1], 3),
        "target_p95_s": TARGETS["latency_p95_s"],
    }


# --- throughput ------------------------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds of a process (user + system), with its reaped children's when ``children``; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICK


def _procs(name: str) -> list[tuple[int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
            if comm == name or comm.startswith(name + ":"):
                found.append((int(entry.name), int(rest[1])))
    return found


def cpu_snapshot(workers: list[int]) -> dict[str, float]:
    """CPU seconds so far of: the RQ workers (their reaped work horses included), this process (the receiver's
    threads, the bulk write before the clock starts), the PostgreSQL server (the postmaster's reaped backends and
    every live backend: everyone's, not only this benchmark's) and Redis."""
    postgres = _procs("postgres")
    pg_pids = {pid for pid, _ in postgres}
    postmaster = [pid for pid, ppid in postgres if ppid not in pg_pids]
    pg = sum(_proc_cpu(pid, children=False) for pid, _ in postgres) + sum(
        _proc_cpu(pid) - _proc_cpu(pid, children=False) for pid in postmaster
    )
    return {
        "workers": sum(_proc_cpu(pid) for pid in workers),
        "bench_and_receiver": time.process_time(),
        "postgresql_all": pg,
        "redis": sum(_proc_cpu(pid) for pid, _ in _procs("redis-server")),
    }


def throughput(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    broker = f"redis://127.0.0.1:6379/{args.redis_db}"
    redis.Redis.from_url(broker).flushdb()
    server, port = start_receiver()
    env = environment("postgres", port, broker)
    from rapport.contacts.models import Company
    from rapport.core import services as core
    from rapport.webhooks import services as webhooks

    admin = admin_user()
    hook = webhooks.create_subscription(
        {"name": "rule", "url": f"http://127.0.0.1:{port}/hook", "event_types": ["deleted"], "type_keys": ["deals"]},
        actor=admin,
    )
    make_rule(admin, {"name": "tell", "type_key": "companies", "trigger": "created",
                      "actions": [{"type": "call_webhook", "params": {"subscription": hook.pk}}]})  # fmt: skip
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "rapport", "worker", *(["--no-fork"] if args.no_fork else [])],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for _ in range(args.workers)
    ]
    try:
        warm = core.create_record(Company, {"name": "Warm-up"}, actor=admin, source="api")
        deadline = time.time() + 120
        while warm.pk not in arrivals and time.time() < deadline:
            time.sleep(0.1)
        log(f"{args.workers} RQ workers up; creating {args.events} companies in bulk")
        records = [Company(name=f"Bench {i}") for i in range(args.events)]
        started = time.time()
        made = core.create_records_in_bulk(records, actor=admin, source="import")
        committed = time.time()
        cpu_before = cpu_snapshot([w.pid for w in workers])
        load_at_commit = os.getloadavg()[0]
        ids = {r.pk for r in made}
        deadline = committed + max(120, args.events / 20)
        while time.time() < deadline:
            with lock:
                got = len(ids & arrivals.keys())
            if got == len(ids):
                break
            time.sleep(0.2)
        with lock:
            times = sorted(arrivals[pk] for pk in ids if pk in arrivals)
        log(f"{len(times)} of {len(ids)} delivered")
        time.sleep(1.0)  # the last jobs end and their horses are reaped
        cpu_after = cpu_snapshot([w.pid for w in workers])
        load_at_end = os.getloadavg()[0]
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        server.shutdown()
    delivered = len(times)
    elapsed = (times[-1] - committed) if times else float("nan")
    return {
        "bench": "automation-throughput",
        "db": "postgres",
        "broker": f"RQ on Redis db {args.redis_db}",
        "workers": args.workers,
        "worker_mode": "--no-fork (jobs in the worker process)" if args.no_fork else "RQ default (fork per job)",
        "events": args.events,
        "delivered": delivered,
        "bulk_write_s": round(committed - started, 3),
        "first_delivery_s": round(times[0] - committed, 3) if times else None,
        "last_delivery_s": round(elapsed, 3),
        "events_per_s": round(delivered / elapsed, 1) if times else 0,
        "target_events_per_s": TARGETS["events_per_s"],
        "cpu_ms_per_event": {k: round((cpu_after[k] - cpu_before[k]) * 1000 / max(1, delivered), 3) for k in cpu_after},
        "load_1min_at_commit_and_end": [round(load_at_commit, 2), round(load_at_end, 2)],
    }


# --- CPU per event, in one process ---------------------------------------------------------------------------------


def cpu(args: argparse.Namespace) -> dict[str, Any]:
    """The work of ``--events`` events through the same rule, done in this process stage by stage (what the
    workers do, without a queue): CPU (``time.process_time``), wall time and statements per event for the
    dispatch (consumers: the rule's runs, webhooks), the runs (the webhook action's deliveries) and the sender."""
    from django.db import connection

    server, port = start_receiver()
    environment(args.db, port)
    from rapport.automation import engine
    from rapport.contacts.models import Company
    from rapport.core import services as core
    from rapport.jobs.events import dispatch_pending
    from rapport.webhooks import services as webhooks

    admin = admin_user()
    hook = webhooks.create_subscription(
        {"name": "rule", "url": f"http://127.0.0.1:{port}/hook", "event_types": ["deleted"], "type_keys": ["deals"]},
        actor=admin,
    )
    make_rule(admin, {"name": "tell", "type_key": "companies", "trigger": "created",
                      "actions": [{"type": "call_webhook", "params": {"subscription": hook.pk}}]})  # fmt: skip
    statements = [0]

    def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    # Warm up (imports, caches) on a few events first.
    core.create_records_in_bulk([Company(name=f"Warm {i}") for i in range(20)], actor=admin, source="import")
    dispatch_pending()
    engine.run_due()
    webhooks.send_due(limit=10_000)
    made = core.create_records_in_bulk(
        [Company(name=f"Bench {i}") for i in range(args.events)], actor=admin, source="import"
    )
    stages: dict[str, dict[str, float]] = {}

    def stage(name: str, fn: Any) -> None:
        statements[0] = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(counting):
            fn()
        stages[name] = {
            "cpu_ms_per_event": round((time.process_time() - cpu0) * 1000 / args.events, 3),
            "wall_ms_per_event": round((time.perf_counter() - wall0) * 1000 / args.events, 3),
            "statements_per_event": round(statements[0] / args.events, 2),
        }

    stage("dispatch", lambda: dispatch_pending(limit=10**9))
    stage("runs", lambda: engine.run_due(limit=10**9))
    stage("sender", lambda: webhooks.send_due(limit=10**9))
    ids = {r.pk for r in made}
    deadline = time.time() + 30
    while len(ids & arrivals.keys()) < len(ids) and time.time() < deadline:
        time.sleep(0.1)
    server.shutdown()
    total_cpu = sum(s["cpu_ms_per_event"] for s in stages.values())
    return {
        "bench": "automation-cpu",
        "db": args.db,
        "events": args.events,
        "delivered": len(ids & arrivals.keys()),
        "stages": stages,
        "cpu_ms_per_event": round(total_cpu, 3),
        "events_per_cpu_second": round(1000 / total_cpu, 1),
        "wall_ms_per_event": round(sum(s["wall_ms_per_event"] for s in stages.values()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["cost", "latency", "throughput", "cpu"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--writes", type=int, default=None)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--no-fork", action="store_true", help="throughput: rapport worker --no-fork")
    args = parser.parse_args()
    if args.writes is None:
        args.writes = 300 if args.part == "cost" else 200
    if args.part == "cpu" and args.events == 5000:
        args.events = 1000
    load_before = [round(x, 2) for x in os.getloadavg()]
    result = {"cost": cost, "latency": latency, "throughput": throughput, "cpu": cpu}[args.part](args)
    result.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine(),
        load_average_before=load_before,
        load_average_after=[round(x, 2) for x in os.getloadavg()],
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = f"automation-{args.part}-{result['db']}.json"
    (out / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
