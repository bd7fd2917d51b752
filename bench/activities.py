"""Rapport activities benchmark (not a test): a fresh database with people and companies from
``rapport demo``, then one company with ``--company-people`` people and ``--activities`` activities
linked to it and its people, and ``--open-tasks`` open tasks assigned to one member (due over the
past and next 30 days), all loaded in bulk with their "created" event and search entry. Served by
gunicorn and measured through real HTTP: the company's and a person's timeline (page and API),
My day (page and API). Then worker throughput for a trivial job: ``--jobs`` jobs drained by one
real ``rapport worker`` process, on the database queue and on Redis.

    .venv/bin/python bench/activities.py --db sqlite
    .venv/bin/python bench/activities.py --db postgres

Prints a Markdown table and writes JSON into bench/results/. Targets (issue 4): company timeline
first page p95 <= 100 ms; My day p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, Server, free_port, log, machine, run_command  # noqa: E402
from bench.sales import Client, django_setup, measure  # noqa: E402

PG_DB = "rapport_bench_act"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = "redis://127.0.0.1:6379/14"
TARGETS = {"timeline": 100.0, "my_day": 50.0}
PASSWORD = "bench-activities-password-1"  # noqa: S105 - a throwaway user of a throwaway database
MEMBER = "bench-act-member"
ADMIN = "bench-act-admin"
SUBJECTS = {
    "task": ("Send the proposal", "Follow up on the quote", "Prepare the demo", "Check the contract", "Call back"),
    "call": ("Discovery call", "Pricing call", "Check-in call", "Renewal call"),
    "meeting": ("Onsite visit", "Quarterly review", "Kick-off meeting", "Product demo"),
    "note": ("Notes from the call", "Budget approved next quarter", "Competitor in the loop", "Champion left"),
}
OUTCOMES = ("connected", "left_voicemail", "no_answer", "wrong_number")


# --- the trivial job ----------------------------------------------------------------------------
def _noop(n: int) -> int:
    return n


# The task's import path is bench.activities.bench_noop, also when this file runs as __main__.
_noop.__name__ = _noop.__qualname__ = "bench_noop"
_noop.__module__ = "bench.activities"
_TASKS: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``bench_noop`` is made on first use: a task needs Django's settings, this module is imported before."""
    if name == "bench_noop":
        if name not in _TASKS:
            from rapport.jobs import job

            _TASKS[name] = job(max_attempts=1)(_noop)
        return _TASKS[name]
    raise AttributeError(name)


# --- database -----------------------------------------------------------------------------------
def fresh_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def table_columns(table: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cur:
        return [c.name for c in connection.introspection.get_table_description(cur, table)]


def load_main(argv: list[str]) -> None:
    """``bench/activities.py load …``: users, the company, its people, the activities and open tasks."""
    parser = argparse.ArgumentParser(prog="bench/activities.py load")
    parser.add_argument("--company-people", type=int, required=True)
    parser.add_argument("--activities", type=int, required=True)
    parser.add_argument("--open-tasks", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5000)
    opts = parser.parse_args(argv)
    django_setup({}, os.environ.get("DJANGO_SETTINGS_MODULE", "rapport.settings.base"))
    import orjson
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from rapport.accounts.models import Role, User
    from rapport.contacts.models import Company, Person
    from rapport.core import bulk
    from rapport.deals.bulk import sellers

    started = time.monotonic()
    rng = random.Random(4)
    now = timezone.now()
    v = bulk.sql_value
    request_id = uuid.uuid4().hex

    # Users: a member of the first sellers' team (who owns the company and has the open tasks), an admin.
    _, team_id = sellers()[0]
    team_mates = list(User.objects.filter(team_id=team_id, is_active=True).values_list("id", flat=True))

    def user(username: str, role: str, team: int | None) -> User:
        found = User.objects.filter(username=username).first()
        if found is None:
            found = User.objects.create_user(
                username, password=PASSWORD, role=Role.objects.get(key=role), team_id=team, first_name="Bench"
            )
        return found

    member = user(MEMBER, "member", team_id)
    user(ADMIN, "admin", None)
    owners = [*team_mates, member.pk]

    # The company: the demo company with the most people, owned by the member, with exactly N people.
    company = (
        Company.objects.live().annotate(n=Count("people")).order_by("-n", "id").first()
    )  # fmt: skip
    assert company is not None, "rapport demo should have created companies"
    Company.objects.filter(pk=company.pk).update(owner_id=member.pk, team_id=team_id)
    people = list(Person.objects.live().filter(company_id=company.pk).order_by("id").values_list("id", flat=True))
    if len(people) < opts.company_people:
        extra = list(
            Person.objects.live()
            .filter(company__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[: opts.company_people - len(people)]
        )
        if len(extra) < opts.company_people - len(people):
            extra += list(
                Person.objects.live()
                .exclude(company_id=company.pk)
                .order_by("-id")
                .values_list("id", flat=True)[: opts.company_people - len(people) - len(extra)]
            )
        people += extra
    people = people[: opts.company_people]
    Person.objects.filter(company_id=company.pk).exclude(pk__in=people).update(company_id=None)
    Person.objects.filter(pk__in=people).update(company_id=company.pk, owner_id=member.pk, team_id=team_id)
    other_people = list(
        Person.objects.live().exclude(company_id=company.pk).order_by("?").values_list("id", flat=True)[:2000]
    )

    act_cols = table_columns("activities_activity")
    link_cols = ["id", "activity_id", "type_key", "record_id"]
    event_cols = "id occurred_at type_key record_id record_title kind actor_id source request_id changes dispatched_at"
    event_cols_l = event_cols.split()
    search_cols = "id type_key record_id owner_id team_id title body identifiers".split()
    ids = {t: bulk.next_ids(t) for t in ("activities_activity", "activities_activitylink", "core_event",
                                         "core_searchentry")}  # fmt: skip
    counter = {"activity": 0, "link": 0}

    def activity(kind: str, owner: int, when: dt.datetime, done: bool, links: list[tuple[str, int]]) -> tuple:
        aid = ids["activities_activity"] + counter["activity"]
        n = counter["activity"]
        counter["activity"] += 1
        subject = rng.choice(SUBJECTS[kind])
        body = "" if rng.random() < 0.5 else f"Talked about **{subject.lower()}** and the next steps ({n})."
        created = min(when, now) - dt.timedelta(minutes=rng.randint(0, 600))
        row: dict[str, Any] = {c: None for c in act_cols}
        row.update(
            id=aid, owner_id=owner, team_id=team_id, tags="[]", custom="{}", notes="", created_at=v(created),
            updated_at=v(created), created_by_id=owner, deleted_at=None, version=1, kind=kind, subject=subject,
            body=body, due_at=v(when) if kind == "task" else None,
            start_at=v(when) if kind in ("call", "meeting") else None,
            end_at=v(when + dt.timedelta(minutes=30)) if kind == "meeting" else None,
            duration_minutes=30 if kind in ("meeting", "call") else None,
            outcome=rng.choice(OUTCOMES) if kind == "call" else "", done=v(done),
            done_at=v(min(when, now)) if done else None, assignee_id=owner,
            priority=rng.choice(("low", "normal", "normal", "high")),
        )  # fmt: skip
        diff = {"owner": [None, owner], "kind": [None, kind], "subject": [None, subject], "assignee": [None, owner],
                "done": [None, done]}  # fmt: skip
        link_rows = []
        for type_key, record_id in links:
            link_rows.append((ids["activities_activitylink"] + counter["link"], aid, type_key, record_id))
            counter["link"] += 1
        event = (ids["core_event"] + n, v(created), "activities", aid, subject, "created", owner, "system",
                 request_id, orjson.dumps(diff).decode(), v(now))  # fmt: skip
        entry = (ids["core_searchentry"] + n, "activities", aid, owner, team_id, subject, body[:2000], "")
        return tuple(row[c] for c in act_cols), link_rows, event, entry

    def plan() -> Any:
        kinds = ("call", "note", "meeting", "task")
        for _ in range(opts.activities):  # the company's history: two years, all done
            kind = rng.choices(kinds, (35, 30, 15, 20))[0]
            when = now - dt.timedelta(seconds=rng.randrange(1, 730 * 86400))
            links = [("companies", company.pk)] if rng.random() < 0.3 else []
            links += [("people", p) for p in rng.sample(people, rng.choice((1, 1, 1, 2)))]
            yield activity(kind, rng.choice(owners), when, True, links)
        for _ in range(opts.open_tasks):  # My day: open tasks of the member, due over +-30 days
            when = now + dt.timedelta(seconds=rng.randrange(-30 * 86400, 30 * 86400))
            yield activity("task", member.pk, when, False, [("people", rng.choice(other_people))])

    with bulk.LoadSession():
        batch: list[tuple] = []
        total = opts.activities + opts.open_tasks

        def flush() -> None:
            bulk.write_batch(
                {
                    "activities_activity": (act_cols, [b[0] for b in batch]),
                    "activities_activitylink": (link_cols, [r for b in batch for r in b[1]]),
                    "core_event": (event_cols_l, [b[2] for b in batch]),
                    "core_searchentry": (search_cols, [b[3] for b in batch]),
                }
            )
            batch.clear()
            print(f"activities: {counter['activity']:,}/{total:,}, {time.monotonic() - started:.1f}s", flush=True)

        for item in plan():
            batch.append(item)
            if len(batch) >= opts.batch:
                flush()
        if batch:
            flush()
        bulk.reset_sequences(["activities_activity", "activities_activitylink", "core_event", "core_searchentry"])
        if not connection.in_atomic_block:
            bulk.analyze()
    info = {
        "company": company.pk,
        "company_people": people,
        "member": member.pk,
        "team": team_id,
        "activities": counter["activity"],
        "links": counter["link"],
        "seconds": round(time.monotonic() - started, 1),
    }
    print("LOADED " + json.dumps(info), flush=True)


# --- worker throughput --------------------------------------------------------------------------
def worker_main(argv: list[str]) -> None:
    """``bench/activities.py worker --jobs N``: enqueue N trivial jobs on the configured backend, time one
    ``rapport worker`` process draining them; prints a JSON line."""
    parser = argparse.ArgumentParser(prog="bench/activities.py worker")
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=300)
    opts = parser.parse_args(argv)
    django_setup({}, os.environ.get("DJANGO_SETTINGS_MODULE", "rapport.settings.base"))
    from django.db import connection

    from bench import activities  # the module, not __main__: the worker imports the task from there
    from rapport.jobs import conf

    task = activities.bench_noop
    rq = conf.uses_rq()
    if rq:
        import django_rq

        queue = django_rq.get_queue("default")
        queue.connection.flushdb()  # the bench's own Redis database (RAPPORT_BROKER_URL …/14)

        def done() -> int:
            return queue.finished_job_registry.count + queue.failed_job_registry.count
    else:
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.all().delete()

        def done() -> int:
            n = DBTaskResult.objects.finished().count()
            connection.close()
            return n

    t = time.monotonic()
    for i in range(opts.jobs):
        task.enqueue(i)
    enqueue_s = time.monotonic() - t
    if not rq:
        connection.close()
    proc = subprocess.Popen(
        [str(VENV_BIN / "rapport"), "worker", "--interval", "0.2", "-v0"],
        env=os.environ.copy(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    first_at = None
    finished = 0
    try:
        while time.monotonic() - started < opts.timeout:
            finished = done()
            if finished and first_at is None:
                first_at = time.monotonic()
            if finished >= opts.jobs:
                break
            if proc.poll() is not None:
                raise SystemExit(f"rapport worker exited: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.05)
        wall = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    failed = 0
    if rq:
        failed = queue.failed_job_registry.count
        queue.connection.flushdb()
    else:
        failed = DBTaskResult.objects.filter(status="FAILED").count()
        DBTaskResult.objects.all().delete()
    steady = (wall - (first_at - started)) if first_at else wall
    out = {
        "backend": "redis (RQ)" if rq else "database queue",
        "jobs": opts.jobs,
        "finished": finished,
        "failed": failed,
        "enqueue_seconds": round(enqueue_s, 2),
        "enqueue_per_second": round(opts.jobs / enqueue_s, 1),
        "drain_seconds": round(wall, 2),
        "jobs_per_second": round(finished / wall, 1),
        "jobs_per_second_after_first": round(max(finished - 1, 0) / steady, 1) if steady > 0 else None,
    }
    print("WORKER " + json.dumps(out), flush=True)


def run_worker_bench(env: dict[str, str], jobs: int, logfile: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(VENV_BIN / "python"), str(Path(__file__)), "worker", "--jobs", str(jobs)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    with logfile.open("a") as out:
        out.write(proc.stdout + proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("WORKER "):
            return json.loads(line[7:])
    return {"error": (proc.stderr or proc.stdout)[-300:]}


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--company-people", type=int, default=50)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--open-tasks", type=int, default=5_000)
    parser.add_argument("--jobs", type=int, default=2000, help="Trivial jobs per worker-throughput run.")
    parser.add_argument("--requests", type=int, default=300, help="Requests per latency scenario (>= 200).")
    parser.add_argument("--budget", type=float, default=90, help="Seconds at most per latency scenario.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-redis", action="store_true", help="Skip the Redis worker run.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary data folder / database.")
    opts = parser.parse_args()
    opts.requests = max(opts.requests, 200)

    data_dir = Path(tempfile.mkdtemp(prefix=f"rapport-act-{opts.db}-"))
    logfile = data_dir / "bench.log"
    env = dict(
        os.environ,
        RAPPORT_DATA_DIR=str(data_dir),
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        DJANGO_SETTINGS_MODULE="rapport.settings.base",
        PYTHONPATH=str(ROOT),
    )
    env.pop("RAPPORT_BROKER_URL", None)
    if opts.db == "postgres":
        env["RAPPORT_DATABASE_URL"] = PG_URL
        fresh_postgres()
    else:
        env.pop("RAPPORT_DATABASE_URL", None)

    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": opts.db,
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "server": f"gunicorn gthread, {opts.workers} workers x {opts.threads} threads, persistent connections",
    }
    rapport = str(VENV_BIN / "rapport")
    log(f"migrating the {opts.db} database in {data_dir}")
    run_command([rapport, "migrate", "--noinput", "-v0"], env, logfile)
    log(f"rapport demo --people {opts.people} --companies {opts.companies}")
    demo_s = run_command([rapport, "demo", "--people", str(opts.people), "--companies", str(opts.companies)], env,
                         logfile)  # fmt: skip
    log(f"loading {opts.activities:,} activities on one company and {opts.open_tasks:,} open tasks")
    load = subprocess.run(
        [str(VENV_BIN / "python"), str(Path(__file__)), "load", "--company-people", str(opts.company_people),
         "--activities", str(opts.activities), "--open-tasks", str(opts.open_tasks)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    with logfile.open("a") as out:
        out.write(load.stdout + load.stderr)
    loaded_line = [line for line in load.stdout.splitlines() if line.startswith("LOADED ")]
    if load.returncode != 0 or not loaded_line:
        raise SystemExit(f"load failed: {load.stderr[-2000:]}")
    info = json.loads(loaded_line[0][7:])
    result["generation"] = {"demo_seconds": round(demo_s, 1), "activities_seconds": info["seconds"]}
    result["data"] = {k: info[k] for k in ("activities", "links")} | {
        "company_people": len(info["company_people"]),
        "company_activities": opts.activities,
        "open_tasks": opts.open_tasks,
    }
    run_command([rapport, "collectstatic", "--noinput", "-v0"], env, logfile)

    result["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    server = Server(env, port, opts.workers, opts.threads, logfile)
    log(f"gunicorn on 127.0.0.1:{port} (pid {server.proc.pid})")
    lat: dict[str, Any] = {}
    try:
        member, admin = Client(port), Client(port)
        member.login(MEMBER, PASSWORD)
        admin.login(ADMIN, PASSWORD)
        c, person = info["company"], info["company_people"][0]
        scenarios = {
            "company_timeline_page": (member, f"/companies/{c}/timeline/"),
            "company_timeline_page_admin": (admin, f"/companies/{c}/timeline/"),
            "company_timeline_api": (member, f"/api/v1/companies/{c}/timeline/"),
            "company_detail_page": (member, f"/companies/{c}/"),
            "person_timeline_page": (member, f"/people/{person}/timeline/"),
            "person_timeline_api": (member, f"/api/v1/people/{person}/timeline/"),
            "my_day_page": (member, "/my-day/"),
            "my_day_api": (member, "/api/v1/my-day/"),
        }
        for name, (client, path) in scenarios.items():
            log(f"latency: {name} {path}")
            try:
                lat[name] = measure(lambda i, cl=client, p=path: cl.get(p), opts.requests, opts.budget)
                lat[name]["path"] = path
            except SystemExit as exc:
                lat[name] = {"error": str(exc)[:300], "path": path}
                log(f"  {name} failed: {exc}")
                continue
            v = lat[name]
            log(f"  {v['requests']} requests: p50 {v['p50_ms']} ms, p95 {v['p95_ms']} ms, {v['bytes']:,} bytes")
    finally:
        result["server_restarts"] = server.restarts
        server.stop()
    result["latency"] = lat
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    log(f"worker throughput: {opts.jobs} trivial jobs, database queue")
    result["worker"] = {"db": run_worker_bench(env, opts.jobs, logfile)}
    log(f"  {result['worker']['db']}")
    if not opts.no_redis:
        log(f"worker throughput: {opts.jobs} trivial jobs, Redis {REDIS_URL}")
        result["worker"]["redis"] = run_worker_bench(dict(env, RAPPORT_BROKER_URL=REDIS_URL), opts.jobs, logfile)
        log(f"  {result['worker']['redis']}")
    result["targets"] = evaluate(lat)

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"activities-{opts.db}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    log(f"results written to {path}")
    if not opts.keep:
        if opts.db == "postgres":
            fresh_postgres()
        shutil.rmtree(data_dir, ignore_errors=True)


GOALS = {
    "company_timeline_page": "timeline",
    "company_timeline_page_admin": "timeline",
    "company_timeline_api": "timeline",
    "my_day_page": "my_day",
    "my_day_api": "my_day",
}


def evaluate(lat: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, target in GOALS.items():
        if name in lat:
            v = lat[name]
            out[name] = "MISSED" if "error" in v or v["p95_ms"] > TARGETS[target] else "met"
    return out


def markdown(result: dict[str, Any]) -> str:
    lat, targets = result["latency"], result["targets"]
    lines = [
        f"### {result['db']} ({result['date']}): {result['data']}",
        "",
        f"Load average before/after: {result['load_average_before']} / {result['load_average_after']}",
        "",
        "| Scenario | path | requests | p50 ms | p95 ms | max ms | body bytes | p95 target | |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, v in lat.items():
        goal = f"≤ {TARGETS[GOALS[name]]:.0f} ms" if name in GOALS else "–"
        if "error" in v:
            lines.append(f"| {name} | {v['path']} | error: {v['error'][:80]} | | | | | {goal} | MISSED |")
            continue
        row = [name, v["path"], v["requests"], v["p50_ms"], v["p95_ms"], v["max_ms"], f"{v['bytes']:,}", goal,
               targets.get(name, "")]  # fmt: skip
        lines.append("| " + " | ".join(str(x) for x in row) + " |")
    lines += ["", "| Worker | jobs | drain s | jobs/s | jobs/s after the first | enqueue/s | failed |",
              "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for w in result["worker"].values():
        if "error" in w:
            lines.append(f"| error: {w['error'][:120]} | | | | | | |")
            continue
        lines.append(
            f"| {w['backend']} | {w['jobs']} | {w['drain_seconds']} | {w['jobs_per_second']} | "
            f"{w['jobs_per_second_after_first']} | {w['enqueue_per_second']} | {w['failed']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
