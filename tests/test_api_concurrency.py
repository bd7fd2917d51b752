"""Concurrent API writes, as clients meet them: each thread is its own client with its own database
connection (like two web processes), on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from rapport.accounts.models import ApiToken, Team
from rapport.contacts.models import Company, Person
from rapport.core import services
from rapport.core.models import CustomField, Event

from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _clients(n: int) -> list[Client]:
    team = Team.objects.create(name="Ops")
    user = make_user("racer", "admin", team)
    return [
        Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name=f"c{i}", scope="read-write")[1])
        for i in range(n)
    ]


def _run_together(calls: list[Any]) -> list[Any]:
    """Run the calls in threads released at the same instant; their results in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _patch(client: Client, url: str, body: dict[str, Any]) -> Any:
    return lambda: client.patch(url, json.dumps(body), content_type="application/json")


def test_two_clients_writing_different_fields_and_custom_keys_at_once_both_keep_their_values():
    a, b = _clients(2)
    CustomField.objects.create(record_type="companies", key="score", label="Score", field_type="number")
    CustomField.objects.create(record_type="companies", key="note", label="Note", field_type="text")
    created = a.post("/api/v1/companies/", json.dumps({"name": "Acme"}), content_type="application/json")
    url = f"/api/v1/companies/{created.json()['id']}/"
    rounds = 100
    for i in range(1, rounds + 1):
        first, second = _run_together(
            [
                _patch(a, url, {"industry": f"A{i}", "custom": {"score": i}}),
                _patch(b, url, {"city": f"B{i}", "custom": {"note": f"n{i}"}}),
            ]
        )
        assert (first.status_code, second.status_code) == (200, 200), (i, first.content, second.content)
        company = Company.objects.get(pk=created.json()["id"])
        # Neither write undid the other: both fields and both custom keys are this round's.
        assert (company.industry, company.city) == (f"A{i}", f"B{i}"), i
        assert company.custom == {"score": i, "note": f"n{i}"}, i
        # A write's answer is the state that write produced: the later one (one version up) shows
        # both changes, the earlier one its own change over the previous round's other value.
        earlier, later = sorted([first.json(), second.json()], key=lambda d: d["version"])
        assert later["version"] == earlier["version"] + 1 == 1 + 2 * i
        assert (later["industry"], later["city"], later["custom"]) == (f"A{i}", f"B{i}", company.custom)
        prev = {"score": i - 1, "note": f"n{i - 1}"} if i > 1 else {}
        if earlier["industry"] == f"A{i}":  # client a wrote first
            assert earlier["city"] == (f"B{i - 1}" if i > 1 else "")
            assert earlier["custom"] == {**prev, "score": i}
        else:
            assert (earlier["industry"], earlier["city"]) == (f"A{i - 1}" if i > 1 else "", f"B{i}")
            assert earlier["custom"] == {**prev, "note": f"n{i}"}
    # Every write left its own history row: 200 updates, the last one ending on both of this round's values.
    events = Event.objects.filter(type_key="companies", record_id=created.json()["id"], kind="updated")
    assert events.count() == 2 * rounds
    last = events.order_by("-id").first()
    assert last is not None and last.changes["custom"][1] == {"score": rounds, "note": f"n{rounds}"}


def test_clearing_one_custom_key_while_another_client_sets_another_keeps_the_set_value():
    a, b = _clients(2)
    CustomField.objects.create(record_type="companies", key="score", label="Score", field_type="number")
    CustomField.objects.create(record_type="companies", key="note", label="Note", field_type="text")
    created = a.post(
        "/api/v1/companies/",
        json.dumps({"name": "Acme", "custom": {"score": 1, "note": "keep?"}}),
        content_type="application/json",
    )
    url = f"/api/v1/companies/{created.json()['id']}/"
    for i in range(2, 22):
        _run_together([_patch(a, url, {"custom": {"note": None}}), _patch(b, url, {"custom": {"score": i}})])
        company = Company.objects.get(pk=created.json()["id"])
        assert company.custom == {"score": i}, i
        a.patch(url, json.dumps({"custom": {"note": "back"}}), content_type="application/json")


def test_racing_creates_with_one_idempotency_key_create_one_record_and_all_get_its_answer(monkeypatch):
    clients = _clients(4)
    real_create = services.create_record

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)  # a create that takes a while: the retries arrive while it runs
        return real_create(*args, **kwargs)

    monkeypatch.setattr(services, "create_record", slow_create)
    body = json.dumps({"first_name": "Once", "emails": ["once@example.com"]})

    def create(client: Client) -> Any:
        return lambda: client.post(
            "/api/v1/people/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="retry-7"
        )

    answers = _run_together([create(c) for c in clients])
    assert [r.status_code for r in answers] == [201, 201, 201, 201], [r.content for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len({r["ETag"] for r in answers}) == 1
    assert sorted(r.get("Idempotent-Replayed", "") for r in answers) == ["", "true", "true", "true"]
    assert Person.objects.filter(first_name="Once").count() == 1
    assert Event.objects.filter(type_key="people", kind="created").count() == 1


def test_a_create_that_fails_gives_its_idempotency_key_back():
    (client,) = _clients(1)
    bad = client.post(
        "/api/v1/people/", json.dumps({"emails": ["x"]}), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert bad.status_code == 400
    good = client.post(
        "/api/v1/people/",
        json.dumps({"first_name": "Fixed"}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert good.status_code == 201 and not good.has_header("Idempotent-Replayed")
