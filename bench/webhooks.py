"""Event-to-webhook latency (not a test): from the commit of a change to its signed delivery arriving at a
receiver, with the default worker (``rapport worker``, the database queue, 1 s idle poll).

    .venv/bin/python bench/webhooks.py [--writes 200] [--db sqlite|postgres]

A fresh database in a temporary folder (PostgreSQL: ``$RAPPORT_BENCH_PG_DB``, default
``rapport_bench_webhooks``) is migrated; an administrator subscribes a receiver (an ``http.server`` thread on
127.0.0.1, trusted with ``RAPPORT_HTTP_ALLOW_PRIVATE``) to every event; one real worker process runs. This
process then creates companies through the write service, one every 50–300 ms (random, seeded), noting each
commit time; the receiver notes when each delivery arrives (by the record id in its payload). Latency =
arrival − commit, after a warm-up change has gone through (the worker is running). Target: p95 < 2 s.
Results as JSON in bench/results/.
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
TARGET_P95 = 2.0
PG_DB = os.environ.get("RAPPORT_BENCH_PG_DB", "rapport_bench_webhooks")

arrivals: dict[int, float] = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        now = time.time()
        data = json.loads(body).get("data", {})
        if "record_id" in data:
            arrivals.setdefault(int(data["record_id"]), now)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()

    data_dir = Path(tempfile.mkdtemp(prefix="rapport-bench-webhooks-"))
    env = {
        **os.environ,
        "RAPPORT_DATA_DIR": str(data_dir),
        "RAPPORT_HTTP_ALLOWED_PORTS": str(port),
        "RAPPORT_HTTP_ALLOW_PRIVATE": "127.0.0.1/32",
        "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
    }
    if args.db == "postgres":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
        env["RAPPORT_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
    os.environ.update(env)
    rapport = [sys.executable, "-m", "rapport"]
    subprocess.run([*rapport, "migrate", "--noinput", "-v0"], env=env, check=True)

    import django

    django.setup()
    from rapport.accounts.models import Role, User
    from rapport.contacts.models import Company
    from rapport.core import services as core_services
    from rapport.webhooks import services

    admin = User.objects.create_user(username="bench", password="x", role=Role.objects.get(key="admin"))
    services.create_subscription({"name": "bench", "url": f"http://127.0.0.1:{port}/hook"}, actor=admin)
    worker = subprocess.Popen([*rapport, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    committed: dict[int, float] = {}
    rng = random.Random(7)
    try:
        # Warm up: wait until the worker (slow to start on a loaded machine) has delivered a first change, so
        # the measurement is of a running worker, idle and polling every second.
        warm = core_services.create_record(Company, {"name": "Warm-up"}, actor=admin, source="api")
        deadline = time.time() + 120
        while warm.pk not in arrivals and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        for i in range(args.writes):
            company = core_services.create_record(Company, {"name": f"Bench {i}"}, actor=admin, source="api")
            committed[company.pk] = time.time()
            time.sleep(rng.uniform(0.05, 0.3))
        deadline = time.time() + 60
        while len(arrivals) < len(committed) and time.time() < deadline:
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(10)
        server.shutdown()
    latencies = sorted(arrivals[pk] - t for pk, t in committed.items() if pk in arrivals)
    missing = len(committed) - len(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    result = {
        "bench": "webhooks",
        "date": dt.date.today().isoformat(),
        "db": args.db,
        "writes": args.writes,
        "delivered": len(latencies),
        "missing": missing,
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(p95, 3),
        "max_s": round(latencies[-1], 3),
        "target_p95_s": TARGET_P95,
        "load": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"webhooks-{args.db}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
