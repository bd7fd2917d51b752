"""What a write costs: the statements of creating and updating a person and a deal through the API,
pinned (issue 7 §6), with everything the write must still do checked alongside (event with its
diff, version, search entry, the answer).

Counted as in production: the test runs outside a test transaction, so the write's own
transaction is the outermost one. SQLite's explicit ``BEGIN IMMEDIATE`` and ``COMMIT`` are left out
of the count (on PostgreSQL the transaction starts implicitly with the first statement and commits
through the driver, and Django logs neither), so the counts are the same on both databases. Each
client has made one request before (an API token's first use of the minute records its
``last_used_at``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.contacts.models import Person
from rapport.core.models import Event, SearchEntry
from rapport.deals.models import Deal

from .conftest import default_pipeline, statement_sql

pytestmark = pytest.mark.django_db(transaction=True)

PERSON = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "emails": [{"email": "ada@example.org", "primary": True}, "ada.l@example.com"],
    "phones": [{"number": "+12125550123", "kind": "mobile"}, "+442079460000"],
    "tags": ["vip"],
}


def send(client: Any, method: str, url: str, data: Any, **extra: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = getattr(client, method)(url, json.dumps(data), content_type="application/json", **extra)
    statements = [q["sql"] for q in ctx.captured_queries if q["sql"].split(" ")[0].upper() not in ("BEGIN", "COMMIT")]
    return response, statements


def warm(client: Any) -> Any:
    assert client.get("/api/v1/people/?page_size=1").status_code == 200
    return client


def test_person_create_with_two_emails_and_two_phones_costs_nine_statements(users, api_client_for):
    client = warm(api_client_for(users["member"]))
    response, statements = send(client, "post", "/api/v1/people/", PERSON)
    assert response.status_code == 201, response.content
    # token, rate-limit counter, custom-field definitions, person, emails (a taken address is
    # refused by the same INSERT), phones, event, the event dispatch job (so automation and webhooks hear
    # of the change in seconds, not at the minute sweep), search entry. The job's row is written in the
    # write's transaction, right after the first event: it commits with it, without a commit of its own.
    assert len(statements) == 9, "\n".join(statements)
    assert 'INSERT INTO "core_event"' in statements[-3] and "dispatch_events" in statements[-2], statements
    body = response.json()
    assert body["emails"] == [
        {"email": "ada@example.org", "primary": True},
        {"email": "ada.l@example.com", "primary": False},
    ]
    assert [p["number"] for p in body["phones"]] == ["+12125550123", "+442079460000"]
    assert body["version"] == 1 and body["owner"]["id"] == users["member"].id
    person = Person.objects.get(pk=body["id"])
    assert (person.primary_email, person.primary_phone) == ("ada@example.org", "+12125550123")
    event = Event.objects.get(type_key="people", record_id=person.pk)
    assert event.kind == "created"
    assert event.changes["emails"] == [None, ["ada@example.org", "ada.l@example.com"]]
    assert event.changes["phones"] == [None, ["+12125550123", "+442079460000"]]
    entry = SearchEntry.objects.get(type_key="people", record_id=person.pk)
    assert entry.title == "Ada Lovelace" and "ada.l@example.com" in entry.identifiers
    # The answer is what a read gives.
    assert client.get(body["url"]).json() == body


def test_person_update_costs_at_most_nine_statements(users, api_client_for):
    client = warm(api_client_for(users["member"]))
    created = client.post("/api/v1/people/", json.dumps(PERSON), content_type="application/json").json()
    response, statements = send(
        client, "patch", created["url"], {"job_title": "Analyst"}, HTTP_IF_MATCH=f'"{created["id"]}-1"'
    )
    assert response.status_code == 200, response.content
    # token, rate-limit counter, person, its emails, its phones, UPDATE … WHERE version = 1, event,
    # search entry
    assert len(statements) == 9, "\n".join(statements)  # with the event dispatch job, in the transaction
    # The record is looked up by its id alone: no ORDER BY (.first()'s cost ~12 % of a PATCH's CPU).
    lookup = statement_sql(statements[2])  # prepared on PostgreSQL: the SQL it prepared
    assert '"contacts_person"."id" =' in lookup and "LIMIT 1" in lookup and "ORDER BY" not in lookup, lookup
    # The UPDATE sets what changed and the bookkeeping, not every column (SQLite rewrote every index).
    update = next(s for s in statements if s.startswith('UPDATE "contacts_person"'))
    assigned = [a.split(" = ")[0] for a in update.split(" SET ")[1].split(" WHERE ")[0].split(", ")]
    assert sorted(assigned) == ['"job_title"', '"updated_at"', '"version"'], update
    assert response.json()["version"] == 2 and response.json()["job_title"] == "Analyst"
    assert client.get(created["url"]).json() == response.json()
    event = Event.objects.filter(type_key="people", record_id=created["id"]).latest("id")
    assert event.changes == {"job_title": ["", "Analyst"]}
    assert "Analyst" in SearchEntry.objects.get(type_key="people", record_id=created["id"]).body

    # Replacing both lists: + a DELETE and an INSERT per list.
    response, statements = send(
        client, "patch", created["url"], {"emails": ["b@example.org", "c@example.org"], "phones": ["+12125550199"]}
    )
    assert response.status_code == 200, response.content
    assert len(statements) == 13, "\n".join(statements)
    body = response.json()
    assert body["version"] == 3 and [e["email"] for e in body["emails"]] == ["b@example.org", "c@example.org"]
    assert client.get(created["url"]).json() == body
    assert Person.objects.get(pk=created["id"]).primary_email == "b@example.org"


def test_a_stale_if_match_is_refused_without_a_locking_read(users, api_client_for):
    client = warm(api_client_for(users["member"]))
    created = client.post("/api/v1/people/", json.dumps(PERSON), content_type="application/json").json()
    first, _ = send(client, "patch", created["url"], {"job_title": "A"}, HTTP_IF_MATCH=f'"{created["id"]}-1"')
    assert first.status_code == 200
    stale, _ = send(client, "patch", created["url"], {"job_title": "B"}, HTTP_IF_MATCH=f'"{created["id"]}-1"')
    assert stale.status_code == 412
    assert Person.objects.get(pk=created["id"]).job_title == "A"


def test_an_update_raced_by_another_write_is_computed_again_on_the_fresh_state(users):
    """The optimistic UPDATE (… WHERE version = read version) finds 0 rows when another write came
    in after the caller's read: the change is applied to the current state, not the stale one."""
    from rapport.core import services

    person = services.create_record(Person, {"first_name": "Ada"}, actor=users["member"], source="api")
    stale = Person.objects.get(pk=person.pk)
    services.update_record(Person.objects.get(pk=person.pk), {"job_title": "CTO"}, actor=users["member"], source="api")
    updated = services.update_record(stale, {"last_name": "Lovelace"}, actor=users["member"], source="api")
    fresh = Person.objects.get(pk=person.pk)
    assert (fresh.first_name, fresh.last_name, fresh.job_title, fresh.version) == ("Ada", "Lovelace", "CTO", 3)
    assert updated.version == 3
    changes = Event.objects.filter(type_key="people", record_id=person.pk).latest("id").changes
    assert changes == {"last_name": ["", "Lovelace"]}


def test_deal_create_and_update_with_contacts(users, api_client_for, company):
    client = warm(api_client_for(users["member"]))
    people = [
        client.post(
            "/api/v1/people/",
            json.dumps({"first_name": f"P{i}", "emails": [f"p{i}@example.org"]}),
            content_type="application/json",
        ).json()["id"]
        for i in range(2)
    ]
    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first()
    data = {
        "title": "Globex",
        "stage": stage.pk,
        "amount": "1200",
        "currency": "EUR",
        "company": company.pk,
        "contacts": [{"person": people[0], "role": "champion"}, {"person": people[1]}],
    }
    response, statements = send(client, "post", "/api/v1/deals/", data)
    assert response.status_code == 201, response.content
    # token, rate-limit counter, stage, company, 2 contacts, custom-field definitions, deal,
    # contacts, the board's kept figures (deals/totals.py), stage change, event, the event dispatch job,
    # search entry
    assert len(statements) <= 14, "\n".join(statements)
    body = response.json()
    assert body["amount"] == "1200.00" and body["weighted_amount"] is not None
    assert [c["person"]["id"] for c in body["contacts"]] == people
    assert client.get(body["url"]).json() == body
    deal = Deal.objects.get(pk=body["id"])
    assert deal.stage_changes.count() == 1 and deal.status == "open"

    response, statements = send(client, "patch", body["url"], {"amount": "1500"}, HTTP_IF_MATCH=f'"{deal.pk}-1"')
    assert response.status_code == 200, response.content
    # token, rate-limit counter, deal (+ stage, pipeline, company joined), contacts (+ their people
    # joined: core.children), line items (+ products joined), UPDATE, the board's kept figures (the amount
    # changed: one upsert), event, the event dispatch job, search entry
    assert len(statements) == 10, "\n".join(statements)
    assert response.json()["amount"] == "1500.00" and response.json()["version"] == 2
    assert client.get(body["url"]).json() == response.json()


def test_a_refused_update_leaves_the_callers_record_as_it_was(users):
    from django.core.exceptions import ValidationError

    from rapport.core import services

    member = users["member"]
    services.create_record(
        Person, {"first_name": "Grace", "emails": [{"email": "g@example.org"}]}, actor=member, source="api"
    )
    ada = services.create_record(Person, {"first_name": "Ada"}, actor=member, source="api")
    with pytest.raises(ValidationError):
        services.update_record(
            ada, {"first_name": "Changed", "emails": [{"email": "g@example.org"}]}, actor=member, source="api"
        )
    assert (ada.first_name, ada.version) == ("Ada", 1)
    assert Person.objects.get(pk=ada.pk).first_name == "Ada"
    updated = services.update_record(ada, {"first_name": "Ada L."}, actor=member, source="api")
    assert (ada.first_name, ada.version) == ("Ada", 1) and (updated.first_name, updated.version) == ("Ada L.", 2)


def test_an_update_writes_the_columns_its_record_derives_from_the_change(users):
    """Only changed columns are written: those the record derives from the change (a deal's status,
    probability, close date and forecast category from its stage; its team from its owner) are
    changed too, and stored."""
    from .conftest import write

    stages = {s.kind: s for s in default_pipeline().stages.order_by("-position")}
    deal = write("deals", {"title": "Globex", "stage": stages["open"].pk, "amount": "10"}, actor=users["member"])
    write("deals", {"stage": stages["won"].pk, "owner": users["outsider"].pk}, actor=users["admin"], instance=deal)
    stored = Deal.objects.get(pk=deal.pk)
    assert (stored.status, stored.probability, stored.forecast_category) == ("won", 100, "closed")
    assert stored.closed_on is not None and stored.stage_entered_at > deal.stage_entered_at
    assert (stored.owner_id, stored.team_id, stored.version) == (users["outsider"].pk, users["outsider"].team_id, 2)
    assert (stored.title, str(stored.amount)) == ("Globex", "10.00")
