"""The sync cursor (GET /api/v1/<type>/changes/): every change exactly once across pages, at its latest
state, tombstones for the bin, the visibility rule, and no change lost to transactions that commit
out of order while a client pages."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from rapport.accounts.models import ApiToken, Team
from rapport.contacts.models import Person
from rapport.core import registry, services

from .conftest import make_user, write
from .test_api_generic import TYPES, make


def pages(client: Client, url: str) -> tuple[list[list[dict[str, Any]]], str]:
    """Follow ``next`` from ``url``: each page's results, and the cursor of the last page."""
    out = []
    while True:
        body = client.get(url).json()
        out.append(body["results"])
        if body["next"] is None:
            return out, body["cursor"]
        url = body["next"]


def brief(results: list[dict[str, Any]]) -> list[tuple[int, str, Any]]:
    return [(r["id"], r["change"], r["record"] and r["record"]["version"]) for r in results]


def test_each_record_once_at_its_latest_change_with_tombstones_and_a_cursor_to_resume(users, api_client_for):
    member = users["member"]
    ada = write("people", {"first_name": "Ada", "last_name": "L"}, actor=member)  # event 1
    bob = write("people", {"first_name": "Bob", "last_name": "B"}, actor=member)  # event 2
    cy = write("people", {"first_name": "Cy", "last_name": "C"}, actor=member)  # event 3
    write("people", {"job_title": "CTO"}, actor=member, instance=ada)  # event 4
    services.delete_record(bob, actor=member, source="api")  # event 5
    client = api_client_for(member)

    got, cursor = pages(client, "/api/v1/people/changes/?page_size=2")
    # Page 1 reads events 1–2: Ada and Bob changed again later, so they come with those changes.
    # Page 2 reads events 3–4: Cy (created), Ada (version 2). Page 3 reads event 5: Bob's tombstone.
    assert [brief(p) for p in got] == [[], [(cy.pk, "changed", 1), (ada.pk, "changed", 2)], [(bob.pk, "deleted", None)]]
    assert got[1][1]["record"]["job_title"] == "CTO"
    assert got[1][1]["record"]["url"] == f"/api/v1/people/{ada.pk}/"
    assert got[2][0]["deleted_at"] is not None

    # Nothing new: the same cursor again, no results, no next page.
    again = client.get(f"/api/v1/people/changes/?cursor={cursor}").json()
    assert (again["results"], again["next"], again["cursor"]) == ([], None, cursor)

    # Later changes come after the kept cursor: Cy updated, Bob restored.
    cy.refresh_from_db()
    write("people", {"last_name": "Cole"}, actor=member, instance=cy)
    bob.refresh_from_db()
    services.restore_record(bob, actor=member, source="api")
    later = client.get(f"/api/v1/people/changes/?cursor={cursor}").json()
    assert brief(later["results"]) == [(cy.pk, "changed", 2), (bob.pk, "changed", 3)]
    assert later["results"][0]["record"]["last_name"] == "Cole"


def test_only_what_the_reader_may_see_and_no_tombstone_of_another_teams_record(users, api_client_for):
    east = write("people", {"first_name": "East", "last_name": "One"}, actor=users["member"])
    west = write("people", {"first_name": "West", "last_name": "One"}, actor=users["outsider"])
    gone = write("people", {"first_name": "West", "last_name": "Gone"}, actor=users["outsider"])
    services.delete_record(gone, actor=users["outsider"], source="api")

    def seen(user: Any) -> list[tuple[int, str, Any]]:
        got, _ = pages(api_client_for(user, ApiToken.SCOPE_READ), "/api/v1/people/changes/")
        return [e for p in got for e in brief(p)]

    assert seen(users["read-only"]) == [(east.pk, "changed", 1)]  # team scope: East's person only
    assert seen(users["outsider"]) == [(west.pk, "changed", 1), (gone.pk, "deleted", None)]
    assert seen(users["admin"]) == [(east.pk, "changed", 1), (west.pk, "changed", 1), (gone.pk, "deleted", None)]


def test_a_bad_cursor_or_parameter_is_refused_naming_it(users, api_client_for):
    client = api_client_for(users["member"])
    for query, param in [
        ("cursor=nonsense", "cursor"),
        ("cursor=WzEsMl0", None),  # [1,2]: a valid position
        ("cursor=WyJhIiwyXQ", "cursor"),  # ["a",2]
        ("cursor=Wy0xLDJd", "cursor"),  # [-1,2]
        ("page_size=0", "page_size"),
        ("since=2026-01-01", "since"),
    ]:
        answer = client.get(f"/api/v1/people/changes/?{query}")
        if param is None:
            assert answer.status_code == 200, query
        else:
            assert answer.status_code == 400, query
            assert param in answer.json()["fields"], (query, answer.json())


@pytest.mark.parametrize("type_key", TYPES)
def test_every_type_has_a_change_feed_with_pinned_queries(type_key, users, api_client_for, django_assert_num_queries):
    records = [make(type_key, users["admin"], n) for n in range(3)]
    services.delete_record(records[0], actor=users["admin"], source="api")
    client = api_client_for(users["admin"])
    client.get("/api/v1/me/")  # the token's first use records it
    n_prefetch = len(registry.get(type_key).prefetch_related)
    # token + user, rate count, the events, the records (+ their child rows), the binned ones, which are latest
    with django_assert_num_queries(6 + n_prefetch):
        body = client.get(f"/api/v1/{type_key}/changes/").json()
    assert brief(body["results"]) == [
        (records[1].pk, "changed", 1),
        (records[2].pk, "changed", 1),
        (records[0].pk, "deleted", None),
    ]


@pytest.mark.django_db(transaction=True)
def test_every_change_exactly_once_while_writes_go_on():
    """A writer creates and updates people while a client pages through the feed and polls with its
    cursor; the client's mirror ends equal to the table, and no state is delivered twice."""
    team = Team.objects.create(name="Ops")
    user = make_user("syncer", "admin", team)
    client = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name="sync", scope="read")[1])
    seed = [write("people", {"first_name": f"Seed{i}", "last_name": "S"}, actor=user) for i in range(30)]
    done = threading.Event()

    def writer() -> None:
        try:
            people, binned = list(seed), set()
            for i in range(60):
                people.append(write("people", {"first_name": f"New{i}", "last_name": "N"}, actor=user))
                live = [p for n, p in enumerate(people) if n not in binned]
                target = Person.objects.get(pk=live[(i * 7) % len(live)].pk)
                write("people", {"job_title": f"T{i}"}, actor=user, instance=target)
                if i % 10 == 9:
                    services.delete_record(Person.objects.get(pk=people[i].pk), actor=user, source="api")
                    binned.add(i)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    mirror: dict[int, int | None] = {}
    delivered: list[tuple[int, Any]] = []
    cursor, deadline = "", time.monotonic() + 120

    def caught_up() -> bool:
        return done.is_set() and {**live, **dict.fromkeys(binned)} == mirror

    live: dict[int, int] = {}
    binned: set[int] = set()
    while time.monotonic() < deadline:
        if done.is_set() and not live:
            live = {p.pk: p.version for p in Person.objects.filter(deleted_at__isnull=True)}
            binned = set(Person.objects.filter(deleted_at__isnull=False).values_list("pk", flat=True))
        if caught_up():
            break
        # On PostgreSQL a change is handed out once every transaction older than it has ended, in the
        # whole cluster: poll, as a client does.
        body = client.get(f"/api/v1/people/changes/?page_size=7&cursor={cursor}").json()
        for r in body["results"]:
            state = r["record"]["version"] if r["record"] else None
            delivered.append((r["id"], state))
            mirror[r["id"]] = state
        cursor = body["cursor"]
    thread.join()
    table = {p.pk: p.version for p in Person.objects.filter(deleted_at__isnull=True)}
    assert len(table) == 84 and len(binned) == 6
    assert {k: v for k, v in mirror.items() if v is not None} == table
    assert {k for k, v in mirror.items() if v is None} == binned
    assert len(delivered) == len(set(delivered)), "a state was delivered twice"


@pytest.mark.django_db(transaction=True)
def test_a_transaction_committing_after_a_later_one_is_not_skipped():
    """PostgreSQL hands out event ids at insert: a transaction can write event 1, another write event 2
    and commit first. A cursor past event 2 would never see event 1; the feed holds back until the
    older transaction ends. (SQLite has one writer at a time: the second write waits for the first.)"""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite commits its one writer at a time: ids become visible in order")
    team = Team.objects.create(name="Ops")
    user = make_user("syncer", "admin", team)
    client = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name="sync", scope="read")[1])
    written, release = threading.Event(), threading.Event()
    slow_id: list[int] = []

    def slow() -> None:
        try:
            with transaction.atomic():
                slow_id.append(write("people", {"first_name": "Slow", "last_name": "S"}, actor=user).pk)
                written.set()
                release.wait(30)
        finally:
            connection.close()

    def fast() -> None:
        try:
            write("people", {"first_name": "Fast", "last_name": "F"}, actor=user)
        finally:
            connection.close()

    first = threading.Thread(target=slow)
    first.start()
    assert written.wait(30)
    second = threading.Thread(target=fast)
    second.start()
    second.join()
    fast_id = Person.objects.get(first_name="Fast").pk
    assert fast_id > slow_id[0]

    page = client.get("/api/v1/people/changes/").json()
    assert page["results"] == []  # Fast is committed, but behind Slow's open transaction
    release.set()
    first.join()
    # On PostgreSQL "older transactions" are the whole cluster's (other databases' too): poll until
    # they have ended, as a client would.
    got: list[int] = []
    cursor, deadline = page["cursor"], time.monotonic() + 60
    while len(got) < 2 and time.monotonic() < deadline:
        later = client.get(f"/api/v1/people/changes/?cursor={cursor}").json()
        got += [r["id"] for r in later["results"]]
        cursor = later["cursor"]
    assert got == [slow_id[0], fast_id]
