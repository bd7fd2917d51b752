"""A soak of the real stack: gunicorn web processes and job workers on one database, N API clients
doing a mix of creates (with Idempotency-Key), If-Match updates and reads for a while; then a
reconciliation of everything acknowledged against the database, and the throughput and latency.

    .venv/bin/python scripts/soak.py --clients 10 --seconds 120            # .ci/run, on PostgreSQL
    .venv/bin/python scripts/soak.py --web-workers 2 --job-workers 2 --broker-url redis://127.0.0.1:6379/14

Fails (exit 1) on any 5xx, any acknowledged create missing, any acknowledged update whose version
is not in the record's history, or a record whose history rows do not match its version."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client(threading.Thread):
    def __init__(self, port: int, token: str, until: float, seed: int, results: dict[str, Any]):
        super().__init__(daemon=True)
        self.port, self.token, self.until = port, token, until
        self.rng = random.Random(seed)
        self.results = results
        self.mine: dict[int, str] = {}  # person id -> last ETag this client saw
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        head = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=data, headers=head)
                response = self.conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                return response.status, dict(response.getheaders()), payload, elapsed
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def record(self, op: str, status: int, elapsed: float) -> None:
        with self.results["lock"]:
            self.results["status"][status] += 1
            self.results["latency"][op].append(elapsed)

    def run(self) -> None:
        n = 0
        while time.monotonic() < self.until:
            n += 1
            roll = self.rng.random()
            try:
                if roll < 0.3 or not self.mine:
                    key = uuid.uuid4().hex
                    body = {"first_name": f"Soak{self.rng.randrange(10**6)}", "emails": [f"{key}@soak.example"]}
                    status, headers, payload, t = self.call("POST", "/api/v1/people/", body, {"Idempotency-Key": key})
                    self.record("create", status, t)
                    if status == 201:
                        pid = json.loads(payload)["id"]
                        self.mine[pid] = headers["ETag"]
                        with self.results["lock"]:
                            self.results["created"].add(pid)
                elif roll < 0.7:
                    pid = self.rng.choice(list(self.mine))
                    body = {"job_title": f"Title {n}", "custom": {}}
                    status, headers, payload, t = self.call(
                        "PATCH", f"/api/v1/people/{pid}/", body, {"If-Match": self.mine[pid]}
                    )
                    self.record("update", status, t)
                    if status == 200:
                        self.mine[pid] = headers["ETag"]
                        with self.results["lock"]:
                            self.results["updated"].append((pid, json.loads(payload)["version"]))
                    elif status == 412:
                        status, headers, _, t = self.call("GET", f"/api/v1/people/{pid}/")
                        self.record("read", status, t)
                        if status == 200:
                            self.mine[pid] = headers["ETag"]
                elif roll < 0.85:
                    status, _, _, t = self.call("GET", "/api/v1/people/?page_size=50")
                    self.record("list", status, t)
                else:
                    pid = self.rng.choice(list(self.mine))
                    status, _, _, t = self.call("GET", f"/api/v1/people/{pid}/")
                    self.record("read", status, t)
            except Exception as exc:  # noqa: BLE001 - a transport failure is a result, not a crash
                with self.results["lock"]:
                    self.results["errors"].append(repr(exc))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=1)
    parser.add_argument("--database-url", default="", help="default: a new PostgreSQL database on 127.0.0.1")
    parser.add_argument("--broker-url", default="", help="RAPPORT_BROKER_URL for the job workers (default: the DB)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="rapport-soak-"))
    made_db = ""
    url = args.database_url
    if not url:
        import psycopg

        made_db = f"rapport_soak_{os.getpid()}"
        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{made_db}"')
        url = f"postgres://postgres@127.0.0.1:5432/{made_db}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env |= {
        "RAPPORT_DATA_DIR": str(tmp),
        "RAPPORT_DATABASE_URL": url,
        "RAPPORT_API_RATE": "1000000/min",
        "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
    }
    if args.broker_url:
        env["RAPPORT_BROKER_URL"] = args.broker_url
    py = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([py, "-m", "rapport", "migrate", "--noinput", "-v0"], env=env, check=True)
        made = subprocess.run(
            [
                py,
                "-c",
                "import django; django.setup();"
                "from rapport.accounts.models import ApiToken, Role, User;"
                "u = User.objects.create_user('soak', password='soak-soak-soak', role=Role.objects.get(key='admin'));"
                "print(ApiToken.issue(u, name='soak', scope='read-write')[1])",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        token = made.stdout.strip().splitlines()[-1]
        port = free_port()
        log = (tmp / "web.log").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    py,
                    "-m",
                    "gunicorn",
                    "rapport.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    str(args.web_workers),
                    "--threads",
                    "4",
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        )
        for _ in range(args.job_workers):
            procs.append(subprocess.Popen([py, "-m", "rapport", "worker"], env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 60
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/login/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the web server did not start") from None
                time.sleep(0.2)

        results: dict[str, Any] = {
            "lock": threading.Lock(),
            "status": Counter(),
            "latency": defaultdict(list),
            "created": set(),
            "updated": [],
            "errors": [],
        }
        started = time.monotonic()
        clients = [Client(port, token, started + args.seconds, i, results) for i in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        elapsed = time.monotonic() - started

        # Reconciliation, straight from the database.
        check = subprocess.run(
            [
                py,
                "-c",
                "import django, json, sys; django.setup();"
                "from django.db.models import Count;"
                "from rapport.contacts.models import Person; from rapport.core.models import Event;"
                "versions = dict(Person.objects.values_list('id', 'version'));"
                "events = dict(Event.objects.filter(type_key='people').values('record_id')"
                ".annotate(n=Count('id')).values_list('record_id', 'n'));"
                "json.dump({'versions': versions, 'events': events}, sys.stdout)",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        state = json.loads(check.stdout)
        versions = {int(k): v for k, v in state["versions"].items()}
        events = {int(k): v for k, v in state["events"].items()}
        problems = []
        missing = results["created"] - set(versions)
        if missing:
            problems.append(f"{len(missing)} acknowledged creates missing: {sorted(missing)[:10]}")
        behind = [(pid, v) for pid, v in results["updated"] if versions.get(pid, 0) < v]
        if behind:
            problems.append(f"{len(behind)} acknowledged updates not in the record's version: {behind[:10]}")
        unbalanced = [pid for pid, v in versions.items() if events.get(pid, 0) != v]
        if unbalanced:
            problems.append(
                f"{len(unbalanced)} records whose history rows differ from their version: {unbalanced[:10]}"
            )
        fives = sum(n for s, n in results["status"].items() if s >= 500)
        if fives:
            problems.append(f"{fives} answers were 5xx")
        if results["errors"]:
            problems.append(f"{len(results['errors'])} transport errors, e.g. {results['errors'][:3]}")

        total = sum(results["status"].values())
        print(
            f"soak: {args.clients} clients × {args.seconds:.0f} s, {args.web_workers} web processes, "
            f"{args.job_workers} job workers, {'broker ' + args.broker_url if args.broker_url else 'database queue'}"
        )
        print(f"  {total:,} requests, {total / elapsed:.0f} req/s; statuses {dict(sorted(results['status'].items()))}")
        for op, values in sorted(results["latency"].items()):
            print(
                f"  {op:<7} n={len(values):>6,}  p50 {statistics.median(values) * 1000:6.1f} ms  "
                f"p95 {percentile(values, 0.95) * 1000:6.1f} ms"
            )
        print(
            f"  reconciled: {len(results['created']):,} acknowledged creates, {len(results['updated']):,} "
            f"acknowledged updates, {len(versions):,} records' history rows = versions"
        )
        for problem in problems:
            print("  PROBLEM:", problem)
        return 1 if problems else 0
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if made_db:
            import psycopg

            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{made_db}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
