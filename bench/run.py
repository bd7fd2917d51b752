"""Rapport benchmark (not a test): build a fresh database, load ``rapport demo --people N
--companies M``, serve it with gunicorn and measure the API through real HTTP.

    .venv/bin/python bench/run.py --db sqlite --people 1000000 --companies 100000

Prints a Markdown table and writes the figures as JSON into bench/results/. Targets (issue 2):
list and filtered list p95 <= 50 ms, search p95 <= 100 ms, list >= 0.5x the requests per
second of the raw SQL + orjson reference endpoint (bench/reference.py).

The other benchmarks reuse this module's helpers (``log``, ``machine``, ``run_command``) and are run on their
own: bench/writes.py, bench/sales.py, bench/lists.py, bench/webhooks.py, bench/automation.py (workflow rules:
``cost``, ``latency``, ``throughput``), bench/imports.py, bench/reports.py, bench/dashboards.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PG_URL = "postgres://postgres@127.0.0.1:5432/rapport_bench"
TARGETS = {"list_p95_ms": 50.0, "search_p95_ms": 100.0, "list_vs_reference": 0.5}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


# --- database ---------------------------------------------------------------------------------
def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS rapport_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE rapport_bench")


def run_command(args: list[str], env: dict[str, str], logfile: Path) -> float:
    started = time.monotonic()
    with logfile.open("a") as out:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert proc.stdout is not None
        last = 0.0
        for line in proc.stdout:
            out.write(line)
            if time.monotonic() - last > 15 or "Loaded" in line or "analyze" in line:
                log("  " + line.rstrip())
                last = time.monotonic()
        if proc.wait() != 0:
            raise SystemExit(f"{' '.join(args)} failed; see {logfile}")
    return time.monotonic() - started


# --- fixtures read from the loaded database ------------------------------------------------------
def prepare(env: dict[str, str], samples: int) -> dict[str, Any]:
    """Tokens and request targets, read in this process with Django set up on the bench database."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from rapport.accounts.models import ApiToken, Role, User
    from rapport.contacts.models import Person
    from rapport.core.listing import encode_cursor

    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_user("bench-admin", role=Role.objects.get(key="admin"), first_name="Bench")
    _, admin_token = ApiToken.issue(admin, name="bench", scope=ApiToken.SCOPE_READ)
    member = User.objects.filter(role__key="member", team__isnull=False, is_active=True).order_by("id").first()
    assert member is not None, "rapport demo should have created sellers"
    _, member_token = ApiToken.issue(member, name="bench", scope=ApiToken.SCOPE_READ)

    rng = random.Random(7)
    max_id = Person.objects.order_by("-id").values_list("id", flat=True).first() or 0
    picks = sorted(rng.sample(range(1, max_id + 1), min(samples * 3, max_id)))
    people = list(
        Person.objects.live()
        .filter(pk__in=picks)
        .values("id", "first_name", "last_name", "primary_email", "primary_phone", "created_at")
    )
    rng.shuffle(people)
    people = people[:samples]
    total = Person.objects.live().count()
    # Deep pages: cursors of people sorted around the middle of the default ordering (-created_at).
    with connection.cursor() as cur:
        cur.execute(
            "SELECT created_at FROM contacts_person WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC "
            "LIMIT 1 OFFSET %s",
            [total // 2],
        )
        middle = cur.fetchone()[0]
    if isinstance(middle, str):
        from django.utils.dateparse import parse_datetime

        middle = parse_datetime(middle)
    if middle.tzinfo is None:  # SQLite: naive UTC
        middle = middle.replace(tzinfo=dt.UTC)
    deep = list(
        Person.objects.live()
        .filter(created_at__lte=middle)
        .order_by("-created_at", "-id")
        .values_list("created_at", "id")[: samples * 20 : 20]
    )
    deep_cursors = [encode_cursor(c, i) for c, i in deep]
    owners = list(
        User.objects.filter(role__key__in=["manager", "member"], team__isnull=False).values_list("id", flat=True)
    )
    connection.close()
    return {
        "admin_token": admin_token,
        "member_token": member_token,
        "people": people,
        "deep_cursors": deep_cursors,
        "owners": owners,
        "total_people": total,
    }


def cpu_per_request(token: str, requests: int) -> dict[str, Any]:
    """CPU milliseconds per request of the list and the reference, in this process (Django's test
    client, one thread): the server-side cost without HTTP, client or background noise."""
    from django.db import connection
    from django.test import Client as DjangoClient

    client = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    out: dict[str, Any] = {}
    paths = (
        ("api_list", "/api/v1/people/?page_size=50"),
        ("api_list_filtered", "/api/v1/people/?page_size=50&lifecycle_stage=lead,customer"),
        ("reference", "/bench/reference/people/"),
    )
    for key, path in paths:
        for _ in range(30):
            client.get(path)
        started = time.process_time()
        for _ in range(requests):
            assert client.get(path).status_code == 200
        out[key] = round((time.process_time() - started) / requests * 1000, 3)
    out["ratio"] = round(out["reference"] / out["api_list"], 3)
    out["ratio_filtered"] = round(out["reference"] / out["api_list_filtered"], 3)
    connection.close()
    return out


# --- HTTP ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The gunicorn process; restarted (and counted) if it disappears mid-run."""

    def __init__(self, env: dict[str, str], port: int, workers: int, threads: int, logfile: Path):
        self.args = (env, port, workers, threads, logfile)
        self.restarts = 0
        self.proc = start_server(*self.args)

    def ensure_running(self) -> None:
        if self.proc.poll() is not None:
            log(f"gunicorn exited with {self.proc.returncode}; restarting it")
            self.restarts += 1
            self.proc = start_server(*self.args)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


SERVER: Server | None = None


class Client:
    """One persistent HTTP/1.1 connection."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=self.headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                if attempt == 2:
                    raise
                if SERVER is not None:
                    SERVER.ensure_running()
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        raise AssertionError("unreachable")


def start_server(env: dict[str, str], port: int, workers: int, threads: int, logfile: Path) -> subprocess.Popen:
    args = [
        str(VENV_BIN / "python"),
        "-m",
        "gunicorn",
        "rapport.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--keep-alive",
        "75",
        "--pythonpath",
        str(ROOT),
        "--log-level",
        "warning",
    ]
    server_env = dict(env, DJANGO_SETTINGS_MODULE="bench.settings")
    out = logfile.open("a")
    proc = subprocess.Popen(args, env=server_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = Client(port).get("/bench/reference/people/")
            if status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {logfile}")
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"gunicorn did not answer; see {logfile}")


def latency(
    client: Client, paths: list[str], requests: int, check: Callable[[dict], None], budget: float
) -> dict[str, Any]:
    for path in paths[: min(20, len(paths))]:  # warm-up: connection, worker imports, caches
        client.get(path)
    times: list[float] = []
    deadline = time.monotonic() + budget
    for i in range(requests):
        if time.monotonic() > deadline:
            break  # reported as "requests" < asked: a scenario this slow misses its target anyway
        path = paths[i % len(paths)]
        t = time.perf_counter()
        status, body = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise SystemExit(f"GET {path} -> {status}: {body[:300]!r}")
        check(json.loads(body))
    times.sort()
    return {
        "requests": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
        "max_ms": round(times[-1], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def throughput(port: int, token: str | None, path: str, concurrency: int, seconds: float) -> dict[str, Any]:
    counts = [0] * concurrency
    errors = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        client = Client(port, token)
        for _ in range(5):
            client.get(path)
        while time.monotonic() < stop:
            status, _ = client.get(path)
            if status == 200:
                counts[n] += 1
            else:
                errors[n] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"requests": sum(counts), "errors": sum(errors), "seconds": elapsed, "rps": sum(counts) / elapsed}


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="Requests per latency scenario (>= 200).")
    parser.add_argument("--concurrency", type=int, default=4, help="Client connections in the throughput test.")
    parser.add_argument("--seconds", type=float, default=15, help="Duration of each throughput run.")
    parser.add_argument(
        "--budget", type=float, default=120, help="Seconds at most per latency scenario (slow ones stop early)."
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", help="Reuse this data folder (skips the load if it holds a database).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder.")
    opts = parser.parse_args()

    data_dir = Path(opts.data_dir) if opts.data_dir else Path(tempfile.mkdtemp(prefix=f"rapport-bench-{opts.db}-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "bench.log"
    env = dict(
        os.environ,
        RAPPORT_DATA_DIR=str(data_dir),
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_SETTINGS_MODULE="rapport.settings.base",
        PYTHONPATH=str(ROOT),
    )
    reuse = False
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
        "companies": opts.companies,
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "server": f"gunicorn gthread, {opts.workers} workers x {opts.threads} threads, persistent connections",
    }
    rapport = str(VENV_BIN / "rapport")
    if not reuse:
        log(f"migrating a fresh {opts.db} database in {data_dir}")
        run_command([rapport, "migrate", "--noinput", "-v0"], env, logfile)
        log(f"rapport demo --people {opts.people} --companies {opts.companies}")
        seconds = run_command(
            [rapport, "demo", "--people", str(opts.people), "--companies", str(opts.companies)], env, logfile
        )
        result["generation_seconds"] = round(seconds, 1)
        (data_dir / "loaded").write_text(str(seconds))
    else:
        result["generation_seconds"] = float((data_dir / "loaded").read_text())
        log(f"reusing the database loaded earlier in {data_dir}")
    if opts.db == "sqlite":
        size = sum(f.stat().st_size for f in data_dir.glob("rapport.sqlite3*"))
        result["database_bytes"] = size

    log("preparing tokens and request targets")
    samples = max(opts.requests, 200)
    fx = prepare(env, samples)
    result["total_people"] = fx["total_people"]
    people = fx["people"]
    stages = ["lead", "customer", "mql", "opportunity"]

    # Other processes on the machine skew every figure: record how busy it was.
    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    global SERVER
    port = free_port()
    server = SERVER = Server(env, port, opts.workers, opts.threads, logfile)
    log(f"gunicorn on 127.0.0.1:{port} (pid {server.proc.pid})")
    try:
        admin = Client(port, fx["admin_token"])
        member = Client(port, fx["member_token"])

        def page_of(n: int) -> Callable[[dict], None]:
            def check(data: dict) -> None:
                assert len(data["results"]) == n or data["next"] is None, "short page"

            return check

        def has_results(data: dict) -> None:
            assert data["results"], "no results"

        base = "/api/v1/people/"
        q = urlencode
        scenarios: dict[str, tuple[Client, list[str], Callable[[dict], None]]] = {
            "list_first_page": (admin, [f"{base}?page_size=50"], page_of(50)),
            "list_deep_cursor": (admin, [f"{base}?{q({'page_size': 50, 'cursor': c})}" for c in fx["deep_cursors"]],
                                 page_of(50)),
            "list_filtered_owner_stage": (
                admin,
                [f"{base}?{q({'owner': o, 'lifecycle_stage': stages[i % 4], 'page_size': 50})}"
                 for i, o in enumerate(fx["owners"] * 4)],
                lambda d: None,
            ),
            "list_first_page_member": (member, [f"{base}?page_size=50"], page_of(50)),
            "search_name": (admin, [f"/api/v1/search/?{q({'q': p['first_name'] + ' ' + p['last_name']})}"
                                    for p in people], has_results),
            "search_partial_email": (
                admin,
                # "lovelace.123456": the part after the first name, without the domain.
                [f"/api/v1/search/?{q({'q': p['primary_email'].split('@')[0].split('.', 1)[1]})}" for p in people],
                has_results,
            ),
            "search_phone": (admin, [f"/api/v1/search/?{q({'q': p['primary_phone'][2:]})}" for p in people],
                             has_results),
            "reference_first_page": (admin, ["/bench/reference/people/"], page_of(50)),
        }  # fmt: skip
        lat: dict[str, Any] = {}
        for name, (client, paths, check) in scenarios.items():
            log(f"latency: {name}")
            lat[name] = latency(client, paths, opts.requests, check, opts.budget)
            log(f"  {lat[name]['requests']} requests: p50 {lat[name]['p50_ms']} ms, p95 {lat[name]['p95_ms']} ms")
        result["latency"] = lat

        # Alternate short rounds so that background load on the machine hits both alike.
        rounds = 3
        log(f"throughput: {opts.concurrency} connections, {rounds} alternating rounds of {opts.seconds / rounds:.1f}s")
        runs: dict[str, list[dict[str, Any]]] = {"reference": [], "api_list": []}
        for _ in range(rounds):
            runs["reference"].append(
                throughput(port, None, "/bench/reference/people/", opts.concurrency, opts.seconds / rounds)
            )
            runs["api_list"].append(
                throughput(port, fx["admin_token"], f"{base}?page_size=50", opts.concurrency, opts.seconds / rounds)
            )
        tp: dict[str, Any] = {}
        for key, parts in runs.items():
            count, seconds = sum(p["requests"] for p in parts), sum(p["seconds"] for p in parts)
            tp[key] = {
                "requests": count,
                "errors": sum(p["errors"] for p in parts),
                "seconds": round(seconds, 1),
                "rps": round(count / seconds, 1),
                "rounds_rps": [round(p["rps"], 1) for p in parts],
            }
        tp["ratio"] = round(tp["api_list"]["rps"] / tp["reference"]["rps"], 3)
        tp["concurrency"] = opts.concurrency
        result["throughput"] = tp
        log(f"  reference {tp['reference']['rps']} req/s, API list {tp['api_list']['rps']} req/s, ratio {tp['ratio']}")
    finally:
        result["server_restarts"] = server.restarts
        server.stop()

    log("in-process CPU per request (list vs reference)")
    result["cpu_ms_per_request"] = cpu_per_request(fx["admin_token"], opts.requests)
    log(f"  {result['cpu_ms_per_request']}")
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = evaluate(result)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{opts.db}-{opts.people}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    log(f"results written to {path}")
    if not opts.keep and not opts.data_dir:
        if opts.db == "postgres":
            fresh_postgres()  # leave an empty database rather than gigabytes
        shutil.rmtree(data_dir, ignore_errors=True)


def evaluate(result: dict[str, Any]) -> dict[str, Any]:
    lat, t = result["latency"], TARGETS
    checks = {
        "list_first_page": lat["list_first_page"]["p95_ms"] <= t["list_p95_ms"],
        "list_deep_cursor": lat["list_deep_cursor"]["p95_ms"] <= t["list_p95_ms"],
        "list_filtered_owner_stage": lat["list_filtered_owner_stage"]["p95_ms"] <= t["list_p95_ms"],
        "search_name": lat["search_name"]["p95_ms"] <= t["search_p95_ms"],
        "search_partial_email": lat["search_partial_email"]["p95_ms"] <= t["search_p95_ms"],
        "search_phone": lat["search_phone"]["p95_ms"] <= t["search_p95_ms"],
        "list_vs_reference": result["throughput"]["ratio"] >= t["list_vs_reference"],
    }
    return {k: "met" if v else "MISSED" for k, v in checks.items()}


def markdown(result: dict[str, Any]) -> str:
    lat, targets = result["latency"], result["targets"]
    goal = {k: "≤ 50 ms" for k in ("list_first_page", "list_deep_cursor", "list_filtered_owner_stage")}
    goal |= {k: "≤ 100 ms" for k in ("search_name", "search_partial_email", "search_phone")}
    lines = [
        f"### {result['db']}: {result['total_people']:,} people, {result['companies']:,} companies ({result['date']})",
        "",
        f"Generation (`rapport demo`): {result['generation_seconds']:.0f} s. "
        f"Load average before/after: {result['load_average_before']} / {result['load_average_after']}",
        "",
        "| Scenario | requests | p50 ms | p95 ms | max ms | p95 target | |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, v in lat.items():
        row = [name, v["requests"], v["p50_ms"], v["p95_ms"], v["max_ms"], goal.get(name, "–"), targets.get(name, "")]
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    tp = result["throughput"]
    lines += [
        "",
        "| Throughput | req/s |",
        "|---|---:|",
        f"| reference (raw SQL + orjson) | {tp['reference']['rps']} |",
        f"| API people list | {tp['api_list']['rps']} |",
        f"| ratio (target ≥ 0.5) | {tp['ratio']} {targets['list_vs_reference']} |",
    ]
    cpu = result.get("cpu_ms_per_request")
    if cpu:
        lines += [
            "",
            f"In-process CPU per request (excluding the database server): API list {cpu['api_list']} ms, "
            f"reference {cpu['reference']} ms, ratio {cpu['ratio']}; filtered list "
            f"{cpu.get('api_list_filtered', '–')} ms, ratio {cpu.get('ratio_filtered', '–')}.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
