"""/api/v1/sequences/ and /api/v1/enrolments/: create with steps, reorder, statistics, enrol by ids and from a
saved view, pause/resume/stop, visibility, hostile input answered 400 naming the field, pinned query counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rapport.core.models import SavedView
from rapport.sequences import services
from rapport.sequences.models import Enrolment, Sequence

from .conftest import write
from .test_sequences import MONDAY, compose, sender, three_steps  # noqa: F401 - the fake compose fixtures come with it  # noqa: F401


def post(client: Any, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def patch(client: Any, url: str, body: Any) -> Any:
    return client.patch(url, json.dumps(body), content_type="application/json")


STEPS = [
    {"kind": "email", "subject": "Hello {{ person.first_name }}", "body": "Hi"},
    {"kind": "task", "delay_days": 2, "subject": "Call"},
    {"kind": "email", "delay_days": 1, "body": "Any news?"},
]


def test_create_reorder_and_read_a_sequence(users, api_client_for):
    client = api_client_for(users["member"])
    answer = post(
        client,
        "/api/v1/sequences/",
        {"name": "Trial", "window_start": "08:30", "window_end": "16:00", "holidays": ["2026-12-25"], "steps": STEPS},
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert answer["Location"] == f"/api/v1/sequences/{body['id']}/"
    assert (body["window_start"], body["window_end"], body["holidays"]) == ("08:30", "16:00", ["2026-12-25"])
    assert [(s["position"], s["kind"], s["delay_days"]) for s in body["steps"]] == [
        (0, "email", 0),
        (1, "task", 2),
        (2, "email", 1),
    ]
    assert body["steps"][0]["stats"] == {
        "sent": 0,
        "tasks": 0,
        "opened": 0,  # compose is installed: its tracking counts (None without it)
        "clicked": 0,
        "replied": 0,
        "bounced": 0,
    }
    first, second, third = (s["id"] for s in body["steps"])
    # Move the task to the end and drop the second email.
    answer = patch(
        client,
        body["url_self"],
        {"steps": [{"id": first, "kind": "email", "body": "Hi"}, {"id": second, "kind": "task"}]},
    )
    assert answer.status_code == 200, answer.content
    assert [(s["id"], s["position"]) for s in answer.json()["steps"]] == [(first, 0), (second, 1)]
    answer = patch(
        client,
        body["url_self"],
        {"steps": [{"id": second, "kind": "task"}, {"id": first, "kind": "email", "body": "Hi"}]},
    )
    assert [(s["id"], s["position"]) for s in answer.json()["steps"]] == [(second, 0), (first, 1)]
    assert third not in [s["id"] for s in answer.json()["steps"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x", "window_start": "18:00", "window_end": "09:00"}, "window_end"),
        ({"name": "x", "steps": [{"kind": "email", "body": "Hi {{ person.password }}"}]}, "steps[0].body"),
        ({"name": "x", "steps": [{"kind": "email", "body": ""}]}, "steps[0].body"),
        ({"name": "x", "steps": [{"kind": "fax"}]}, "steps[0].kind"),
        ({"name": "x", "steps": [{"kind": "task", "delay_days": -1}]}, "steps[0].delay_days"),
        ({"name": "x", "steps": [{"kind": "email", "body": "x", "template_id": 7}]}, "steps[0].template_id"),
        ({"name": "x", "holidays": ["Christmas"]}, "holidays[0]"),
        ({"name": "x\x00"}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "steps": [{"kind": "task", "when": 3}]}, "steps[0].when"),
    ],
)
def test_hostile_input_is_answered_400_naming_the_field(users, api_client_for, body, field):
    answer = post(api_client_for(users["member"]), "/api/v1/sequences/", body)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["fields"], answer.json()


def test_visibility_own_shared_and_administrators(users, api_client_for):
    mine = services.create_sequence(actor=users["member"], name="Mine", steps=STEPS)
    shared = services.create_sequence(actor=users["member"], name="Shared", shared=True)
    peer = api_client_for(users["peer"])
    assert [s["name"] for s in peer.get("/api/v1/sequences/").json()["results"]] == ["Shared"]
    assert peer.get(f"/api/v1/sequences/{mine.pk}/").status_code == 404
    assert patch(peer, f"/api/v1/sequences/{shared.pk}/", {"name": "Mine now"}).status_code == 403
    assert peer.delete(f"/api/v1/sequences/{shared.pk}/").status_code == 403
    admin = api_client_for(users["admin"])
    assert {s["name"] for s in admin.get("/api/v1/sequences/").json()["results"]} == {"Mine", "Shared"}
    assert post(api_client_for(users["read-only"]), "/api/v1/sequences/", {"name": "x"}).status_code == 403


def test_enrol_by_ids_then_pause_resume_stop(compose, sender, person, users, api_client_for):  # noqa: F811
    sequence = three_steps(sender)
    client = api_client_for(sender)
    hidden = write("people", {"first_name": "West", "emails": ["w@west.com"]}, actor=users["outsider"])
    answer = post(client, "/api/v1/enrolments/", {"sequence": sequence.pk, "people": [person.pk, hidden.pk]})
    assert answer.status_code == 400 and answer.json()["fields"]["people"] == [
        f"There is no person #{hidden.pk} you may enrol."
    ]
    answer = post(client, "/api/v1/enrolments/", {"sequence": sequence.pk, "people": [person.pk]})
    assert answer.status_code == 201, answer.content
    (enrolment,) = answer.json()["enrolled"]
    assert enrolment["person"] == {"id": person.pk, "name": "Ada Lovelace"}
    assert (enrolment["state"], enrolment["steps_done"], enrolment["steps_total"]) == ("active", 0, 3)
    again = post(client, "/api/v1/enrolments/", {"sequence": sequence.pk, "people": [person.pk]}).json()
    assert again == {"enrolled": [], "already_enrolled": [person.pk], "no_email": []}
    url = enrolment["url_self"]
    assert post(client, url + "pause/", {}).json()["state"] == "paused"
    assert post(client, url + "pause/", {}).status_code == 400
    assert post(client, url + "resume/", {}).json()["state"] == "active"
    stopped = post(client, url + "stop/", {}).json()
    assert (stopped["state"], stopped["stop_reason"], stopped["next_run_at"]) == ("stopped", "manual", None)
    # Another member sees neither the enrolment nor (not shared) the sequence.
    peer = api_client_for(users["peer"])
    assert peer.get(url).status_code == 404 and peer.get("/api/v1/enrolments/").json()["results"] == []
    assert post(peer, "/api/v1/enrolments/", {"sequence": sequence.pk, "people": [person.pk]}).json()["fields"] == {
        "sequence": [f"There is no sequence #{sequence.pk}."]
    }


def test_enrol_from_a_saved_view(compose, sender, person, users, api_client_for):  # noqa: F811
    write("people", {"first_name": "Grace", "emails": ["grace@other.com"]}, actor=sender)
    view = SavedView.objects.create(
        record_type="people", name="Acme", owner=sender, params=f"company={person.company_id}"
    )
    sequence = three_steps(sender)
    answer = post(api_client_for(sender), "/api/v1/enrolments/", {"sequence": sequence.pk, "saved_view": view.pk})
    assert answer.status_code == 201, answer.content
    assert [e["person"]["id"] for e in answer.json()["enrolled"]] == [person.pk]
    others = SavedView.objects.create(record_type="people", name="Private", owner=users["peer"], params="")
    answer = post(api_client_for(sender), "/api/v1/enrolments/", {"sequence": sequence.pk, "saved_view": others.pk})
    assert answer.json()["fields"] == {"saved_view": [f"There is no saved view of people #{others.pk}."]}
    both = post(api_client_for(sender), "/api/v1/enrolments/", {"sequence": sequence.pk})
    assert both.status_code == 400 and "people" in both.json()["fields"]


def test_enrolment_filters_and_unknown_parameters(compose, sender, person, api_client_for):  # noqa: F811
    sequence = three_steps(sender)
    services.enrol_people(sequence, [person], actor=sender)
    client = api_client_for(sender)
    assert len(client.get(f"/api/v1/enrolments/?sequence={sequence.pk}&state=active").json()["results"]) == 1
    assert client.get("/api/v1/enrolments/?state=paused").json()["results"] == []
    assert client.get("/api/v1/enrolments/?state=gone").json()["fields"] == {
        "state": ["use one of active, paused, finished, stopped."]
    }
    assert "sequence" in client.get("/api/v1/enrolments/?sequence=x").json()["fields"]
    assert "colour" in client.get("/api/v1/enrolments/?colour=red").json()["fields"]


def test_step_statistics_after_sends_and_a_reply(compose, sender, person, api_client_for):  # noqa: F811
    from .test_sequences import _reply

    other = write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=sender)
    sequence = three_steps(sender)
    services.enrol_people(sequence, [person, other], actor=sender, now=MONDAY)
    services.run_due_steps(MONDAY)
    services.on_message_received(_reply(compose, person, at=MONDAY))
    steps = api_client_for(sender).get(f"/api/v1/sequences/{sequence.pk}/").json()["steps"]
    assert [(s["stats"]["sent"], s["stats"]["replied"]) for s in steps] == [(2, 1), (0, 0), (0, 0)]
    assert Enrolment.objects.get(person=person).stop_reason == "replied"


def test_query_counts_are_pinned(compose, sender, person, api_client_for, django_assert_num_queries):  # noqa: F811
    sequences = [three_steps(sender) for _ in range(3)]
    for sequence in sequences:
        services.enrol_people(sequence, [person], actor=sender)
    client = api_client_for(sender)
    client.get("/api/v1/sequences/")  # the token's first use is noted once
    with django_assert_num_queries(4):  # token + user, rate count, the page's keys, its rows
        assert len(client.get("/api/v1/sequences/").json()["results"]) == 3
    with django_assert_num_queries(7):  # token + user, rate count, the sequence, steps, run counts, replies, tracking
        client.get(f"/api/v1/sequences/{sequences[0].pk}/")
    with django_assert_num_queries(5):  # token + user, rate count, the page's keys, its rows, step totals
        assert len(client.get("/api/v1/enrolments/").json()["results"]) == 3
    assert Sequence.objects.count() == 3
