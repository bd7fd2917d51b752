"""List pages at scale, measured in-process (Django's test client, a signed-in session, no HTTP):
the page with its count (exact up to RAPPORT_LIST_COUNT_BOUND, then estimated), deep pages, filters,
the search within the list, and "Count exactly" on request. Runs against a database that
`rapport demo --people N` loaded (see docs/benchmarks.md):

    RAPPORT_DATABASE_URL=... RAPPORT_DATA_DIR=... .venv/bin/python bench/lists.py --requests 50
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent


def timed(client: Any, paths: list[str], requests: int, expect: str) -> dict[str, Any]:
    for path in paths[:3]:  # warm-up
        client.get(path)
    times, cpu = [], []
    for i in range(requests):
        path = paths[i % len(paths)]
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        assert expect in response.content.decode(), (path, expect)
    times.sort()
    return {
        "requests": requests,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "cpu_p50_ms": round(statistics.median(cpu), 1),
        "example": paths[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    opts = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings.base")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from rapport.accounts.models import Role, User
    from rapport.contacts.models import Person
    from rapport.core.listing import encode_cursor

    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_user("bench-admin", role=Role.objects.get(key="admin"), first_name="Bench")
    member = User.objects.filter(role__key="member", team__isnull=False, is_active=True).order_by("id").first()
    rng = random.Random(11)
    max_id = Person.objects.order_by("-id").values_list("id", flat=True).first() or 0
    picks = rng.sample(range(1, max_id + 1), min(600, max_id))
    people = list(Person.objects.live().filter(pk__in=picks).values("first_name", "last_name", "created_at", "id"))
    rng.shuffle(people)
    owners = list(
        User.objects.filter(role__key__in=["manager", "member"], team__isnull=False).values_list("id", flat=True)
    )
    stages = ["lead", "customer", "mql", "opportunity"]
    admin_client, member_client = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost")
    admin_client.force_login(admin)
    member_client.force_login(member)
    n = opts.requests
    deep = [f"/people/?{urlencode({'cursor': encode_cursor(p['created_at'], p['id'])})}" for p in people[:n]]
    names = [f"/people/?{urlencode({'q': p['first_name'] + ' ' + p['last_name']})}" for p in people[:n]]
    last_names = [f"/people/?{urlencode({'q': p['last_name']})}" for p in people[:n]]
    filtered = [
        f"/people/?{urlencode({'owner': o, 'lifecycle_stage': stages[i % 4]})}" for i, o in enumerate(owners * 4)
    ]
    search_filtered = [
        f"/people/?{urlencode({'q': p['last_name'], 'lifecycle_stage': stages[i % 4]})}"
        for i, p in enumerate(people[:n])
    ]
    total = Person.objects.live().count()
    results = {
        "page_first (admin, all people)": timed(admin_client, ["/people/"], n, "people"),
        "page_first_member (team's people)": timed(member_client, ["/people/"], n, "people"),
        "page_deep_cursor": timed(admin_client, deep, n, "people"),
        "page_filtered_owner_stage": timed(admin_client, filtered, n, "people"),
        "page_search_full_name": timed(admin_client, names, n, "people"),
        "page_search_last_name (thousands match)": timed(admin_client, last_names, n, "people"),
        "page_search_last_name_and_stage": timed(admin_client, search_filtered, n, "people"),
        "page_count_exact (on request)": timed(admin_client, ["/people/?count=exact"], max(5, n // 10), "people"),
    }
    page = admin_client.get("/people/").content.decode()
    shown = page[page.index('id="list-count">') + 16 :].split("<", 1)[0].strip()
    print(f"\n{connection.vendor}, {total:,} live people; the first page says: {shown}\n")
    print("| Scenario | p50 | p95 | CPU p50 (this process) | requests |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['p50_ms']} ms | {r['p95_ms']} ms | {r['cpu_p50_ms']} ms | {r['requests']} |")


if __name__ == "__main__":
    main()
