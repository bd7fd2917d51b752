"""API list CPU against the raw SQL + orjson reference (bench/reference.py), in process, before and after a
change on one loaded database (not a test; issue 7 §6: the list ≤ 1.6× the reference's CPU per request).

Each round starts one fresh process per code tree, in turn; each process measures, with Django's test client
and a read token of an admin, the CPU (``time.process_time()``) per request of
``GET /api/v1/people/?page_size=50``, the same filtered by ``lifecycle_stage=lead,customer`` and the
reference, in interleaved blocks after a warm-up, so every ratio is against the reference of its own round
and process. Other types' lists (companies, deals, activities) are measured too, beside the same reference.

    # a database loaded once (`rapport demo --people 100000 --companies 10000`) in DATA_DIR:
    .venv/bin/python bench/listcpu.py --data-dir DATA_DIR --before <commit> --rounds 3
    # PostgreSQL:
    .venv/bin/python bench/listcpu.py --database-url postgres://postgres@127.0.0.1:5432/DB --before <commit>

``--before`` exports that commit's ``src`` and ``bench`` with ``git archive`` and measures it alternately with
this checkout; without it only this checkout is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PATHS = {
    "people": "/api/v1/people/?page_size=50",
    "people_filtered": "/api/v1/people/?page_size=50&lifecycle_stage=lead,customer",
    "reference": "/bench/reference/people/",
    "companies": "/api/v1/companies/?page_size=50",
    "deals": "/api/v1/deals/?page_size=50",
    "activities": "/api/v1/activities/?page_size=50",
}

CHILD = r"""
import json, sys, time
import django
django.setup()
from django.test import Client
from rapport.accounts.models import ApiToken, Role, User

paths, requests, warmup, blocks = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
admin = User.objects.filter(username="bench-admin").first()
if admin is None:
    admin = User.objects.create_user("bench-admin", role=Role.objects.get(key="admin"), first_name="Bench")
_, raw = ApiToken.issue(admin, name="listcpu", scope=ApiToken.SCOPE_READ)
client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST="127.0.0.1")
for path in paths.values():
    for _ in range(warmup):
        assert client.get(path).status_code == 200, path
spent = dict.fromkeys(paths, 0.0)
per_block = max(1, requests // blocks)
for _ in range(blocks):
    for key, path in paths.items():
        started = time.process_time()
        for _ in range(per_block):
            response = client.get(path)
        spent[key] += time.process_time() - started
        assert response.status_code == 200, (path, response.status_code)
print(json.dumps({key: round(s / (per_block * blocks) * 1000, 4) for key, s in spent.items()}))
"""


def export_tree(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src", "bench"], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measure(tree: Path, env: dict[str, str], opts: argparse.Namespace, paths: dict[str, str]) -> dict[str, float]:
    child_env = dict(env, PYTHONPATH=f"{tree / 'src'}{os.pathsep}{tree}")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(paths), str(opts.requests), str(opts.warmup), str(opts.blocks)],
        env=child_env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="RAPPORT_DATA_DIR of a loaded SQLite database.")
    parser.add_argument("--database-url", help="RAPPORT_DATABASE_URL of a loaded database (PostgreSQL).")
    parser.add_argument("--before", help="A commit to measure alternately with this checkout.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500, help="Requests per path per process.")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--blocks", type=int, default=5, help="Interleaved blocks the requests are split in.")
    parser.add_argument("--paths", default=",".join(PATHS), help="Which of: " + ", ".join(PATHS))
    opts = parser.parse_args()
    paths = {k: PATHS[k] for k in opts.paths.split(",")}
    paths.setdefault("reference", PATHS["reference"])
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.settings",
        RAPPORT_SECRET_KEY="bench-" + "x" * 50,
        RAPPORT_API_RATE="100000000/min",  # counted as always, never reached
    )
    if opts.database_url:
        env["RAPPORT_DATABASE_URL"] = opts.database_url
    else:
        env.pop("RAPPORT_DATABASE_URL", None)
    if opts.data_dir:
        env["RAPPORT_DATA_DIR"] = opts.data_dir
    trees: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="rapport-listcpu-") as tmp:
        if opts.before:
            trees["before"] = export_tree(opts.before, Path(tmp) / "before")
        trees["after" if opts.before else "this"] = ROOT
        started = dt.datetime.now(dt.UTC)
        load = [Path("/proc/loadavg").read_text().split()[:3]]
        rounds: list[dict[str, dict[str, float]]] = []
        for n in range(opts.rounds):
            result = {}
            for name, tree in trees.items():
                result[name] = measure(tree, env, opts, paths)
                print(f"round {n + 1} {name}: {result[name]}", file=sys.stderr, flush=True)
            rounds.append(result)
            load.append(Path("/proc/loadavg").read_text().split()[:3])
    report: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": load,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rounds": rounds,
        "summary": {},
    }
    print(f"\n{report['started']} – {report['finished']}; load averages {load}\n")
    print("| ms of CPU per request (median of rounds) | " + " | ".join(trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for key in paths:
        cells = [statistics.median(r[name][key] for r in rounds) for name in trees]
        print(f"| {key} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for key in paths:
        if key == "reference":
            continue
        cells = []
        for name in trees:
            ratios = [r[name][key] / r[name]["reference"] for r in rounds]
            report["summary"][f"{name} {key}"] = {"ratios": ratios, "median": statistics.median(ratios)}
            cells.append(" / ".join(f"{x:.2f}" for x in ratios) + f" (median {statistics.median(ratios):.2f})")
        print(f"| {key} ÷ same-round reference | " + " | ".join(cells) + " |")
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    path = out_dir / f"listcpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
