"""API behaviours beyond the generic walk: idempotent creates, rate limits, concurrent writes."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from rapport.accounts.models import ApiToken
from rapport.contacts.models import Person
from rapport.core.models import Event

from .conftest import make_user


def post(client, url, data, **extra):
    return client.post(url, json.dumps(data), content_type="application/json", **extra)


def test_idempotency_key_replays_the_first_answer(users, api_client_for):
    client = api_client_for(users["admin"])
    body = {"first_name": "Retry", "emails": ["retry@example.com"]}
    first = post(client, "/api/v1/people/", body, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = post(client, "/api/v1/people/", body, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true" and again["ETag"] == first["ETag"]
    assert Person.objects.filter(first_name="Retry").count() == 1
    other = post(client, "/api/v1/people/", {**body, "first_name": "Else"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert other.status_code == 422
    # the same key of another user is their own
    mine = post(api_client_for(users["manager"]), "/api/v1/people/", {"first_name": "M"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert mine.status_code == 201


def test_rate_limit_answers_429_with_retry_after(users, api_client_for, settings):
    from rest_framework.settings import api_settings

    old = api_settings.DEFAULT_THROTTLE_RATES
    api_settings.DEFAULT_THROTTLE_RATES = {**old, "user": "3/min"}
    try:
        from django.core.cache import cache

        cache.clear()
        client = api_client_for(users["admin"])
        codes = [client.get("/api/v1/people/").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/people/")
        assert int(limited["Retry-After"]) > 0
        assert limited.json()["error"] == "throttled"
    finally:
        api_settings.DEFAULT_THROTTLE_RATES = old
        cache.clear()


@pytest.mark.django_db(transaction=True)
def test_two_clients_with_the_same_etag_exactly_one_wins():
    from rapport.accounts.models import Team

    team = Team.objects.create(name="T")
    user = make_user("racer", "admin", team)
    person = Person.objects.none()
    client = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name="a", scope="read-write")[1])
    created = post(client, "/api/v1/people/", {"first_name": "Race", "emails": ["race@example.com"]})
    pid, etag = created.json()["id"], created["ETag"]
    raws = [ApiToken.issue(user, name=f"t{i}", scope="read-write")[1] for i in range(2)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def move(raw: str, title: str) -> None:
        c = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        barrier.wait()
        response = c.patch(
            f"/api/v1/people/{pid}/",
            json.dumps({"job_title": title}),
            content_type="application/json",
            HTTP_IF_MATCH=etag,
        )
        results.append(response.status_code)
        connection.close()

    threads = [threading.Thread(target=move, args=(raw, f"T{i}")) for i, raw in enumerate(raws)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    person = Person.objects.get(pk=pid)
    assert person.version == 2
    updates = Event.objects.filter(type_key="people", record_id=pid, kind="updated")
    assert updates.count() == 1
    assert updates.get().changes["job_title"][1] == person.job_title


def _limit_rate(monkeypatch: Any, rate: str) -> None:
    from rest_framework.settings import api_settings

    from rapport.api import throttle

    monkeypatch.setattr(api_settings, "DEFAULT_THROTTLE_RATES", {**api_settings.DEFAULT_THROTTLE_RATES, "user": rate})
    # Inside one window whatever the clock says: the test must not straddle a minute boundary.
    start = 1_800_000_000.0
    monkeypatch.setattr(throttle, "_now", lambda: start + 5)


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_exactly_across_workers_with_their_own_connections(monkeypatch):
    """Two workers (threads, each with its own database connection, like two gunicorn processes) share
    one count: 10/min lets exactly 10 of 30 parallel requests through."""
    from django.core.cache import cache

    from rapport.api.models import RateCounter

    _limit_rate(monkeypatch, "10/min")
    user = make_user("busy", "member")
    _, raw = ApiToken.issue(user, name="load", scope=ApiToken.SCOPE_READ)
    barrier = threading.Barrier(2)
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
            barrier.wait(timeout=10)
            for _ in range(15):
                cache.clear()  # nothing kept in a process's own memory may carry the count
                status = client.get("/api/v1/me/").status_code
                with lock:
                    codes.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(codes) == [200] * 10 + [429] * 20
    assert RateCounter.objects.get(key=f"user:{user.pk}").count == 30


@pytest.mark.django_db
def test_rate_counts_are_not_written_to_the_postgresql_log():
    """The counts are worthless after a crash; a logged table made every API request wait for the disk."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not wait for the disk on commit (WAL, synchronous=NORMAL)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'api_ratecounter'")
        assert cursor.fetchone() == ("u",)


def test_rate_limit_window_turns_over_and_is_per_user(users, api_client_for, monkeypatch):
    from rapport.api import throttle

    _limit_rate(monkeypatch, "2/min")
    admin, member = api_client_for(users["admin"]), api_client_for(users["member"])
    assert [admin.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    limited = admin.get("/api/v1/me/")
    assert limited["Retry-After"] == "55"  # 5 s into the window of 60
    assert member.get("/api/v1/me/").status_code == 200  # another user's count is their own
    monkeypatch.setattr(throttle, "_now", lambda: 1_800_000_000.0 + 61)
    assert [admin.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    # A request that comes in late from the previous window (another machine's clock) counts in the current.
    monkeypatch.setattr(throttle, "_now", lambda: 1_800_000_000.0 + 59)
    assert admin.get("/api/v1/me/").status_code == 429


def test_rate_limit_in_a_shared_cache_when_one_is_configured(users, api_client_for, monkeypatch, settings):
    from django.core.cache import cache

    from rapport.api.models import RateCounter

    settings.RAPPORT_API_RATE_STORE = "cache"
    _limit_rate(monkeypatch, "2/min")
    cache.clear()
    client = api_client_for(users["admin"])
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    assert not RateCounter.objects.exists()
    cache.clear()


_COUNT_IN_ANOTHER_PROCESS = """
import sys
import django

django.setup()
from rapport.api.throttle import count_in_database

key, window, attempts, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(sum(1 for _ in range(attempts) if count_in_database(key, window)[0] <= limit))
"""


def _database_url(settings_dict: dict[str, Any]) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user, host, port = settings_dict["USER"], settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_rate_limit_holds_exactly_across_two_real_processes(tmp_path):
    """Two OS processes (as two gunicorn workers are) count in the same database: 2 × 15 requests against a
    limit of 10 let exactly 10 through."""
    import os
    import subprocess
    import sys

    from django.db import connection

    from rapport.api.models import RateCounter

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rapport.settings.test",
        "RAPPORT_TEST_DATA_DIR": str(tmp_path),
        "RAPPORT_DATABASE_URL": _database_url(connection.settings_dict),
    }
    args = [sys.executable, "-c", _COUNT_IN_ANOTHER_PROCESS, "user:4242", "7", "15", "10"]
    workers = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    assert sum(int(out.strip()) for out, _ in outputs) == 10
    assert RateCounter.objects.get(key="user:4242").count == 30
