"""Sequence pages: the editor's buttons (add, move, remove: plain submit buttons, so keyboard and no-script work),
saving with errors on the fields, the sequence page's statistics and enrolments with pause/resume/stop, enrolling
from a person's page and from a list's ticked rows, who sees and may do what, pinned query counts."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from rapport.sequences import services
from rapport.sequences.models import Enrolment, Sequence

from .conftest import write
from .test_sequences import MONDAY, compose, sender, three_steps  # noqa: F401 - fixtures


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())).strip()


def editor_post(client: Client, url: str, steps: list[dict[str, Any]], **extra: Any) -> Any:
    data: dict[str, Any] = {"name": "Trial", "window_start": "09:00", "window_end": "17:00", "active": "on"}
    data["step_count"] = str(len(steps))
    for i, step in enumerate(steps):
        for key, value in step.items():
            data[f"step-{i}-{key}"] = value
    data.update(extra)
    return client.post(url, data)


def test_the_editor_adds_moves_and_removes_steps_then_saves(users):
    client = client_for(users["member"])
    assert client.get("/sequences/new/").status_code == 200
    answer = editor_post(client, "/sequences/new/", [], add_email="")
    assert answer.status_code == 200 and 'name="step-0-kind" value="email"' in answer.content.decode()
    assert "autofocus" in answer.content.decode()  # focus lands on the new step
    steps = [
        {"kind": "email", "delay_days": "0", "subject": "Hello", "body": "Hi {{ person.first_name }}"},
        {"kind": "task", "delay_days": "2", "subject": "Call", "body": ""},
    ]
    moved = editor_post(client, "/sequences/new/", steps, **{"up:1": ""}).content.decode()
    assert moved.index('name="step-0-kind" value="task"') < moved.index('name="step-1-kind" value="email"')
    removed = editor_post(client, "/sequences/new/", steps, **{"remove:0": ""}).content.decode()
    assert 'name="step-0-kind" value="task"' in removed and "step-1-kind" not in removed
    assert not Sequence.objects.exists()  # buttons never save
    answer = editor_post(client, "/sequences/new/", steps, save="")
    sequence = Sequence.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/sequences/{sequence.pk}/"
    assert [(s.position, s.kind, s.delay_days) for s in sequence.steps.order_by("position")] == [
        (0, "email", 0),
        (1, "task", 2),
    ]


def test_the_editor_shows_errors_on_their_fields(users):
    client = client_for(users["member"])
    answer = editor_post(
        client,
        "/sequences/new/",
        [{"kind": "email", "delay_days": "0", "subject": "", "body": "Hi {{ person.shoe_size }}"}],
        save="",
    )
    assert answer.status_code == 400
    assert "Unknown merge field {{ person.shoe_size }}; use one of" in text(answer)
    answer = editor_post(client, "/sequences/new/", [], save="", window_end="08:00")
    assert answer.status_code == 400 and "The window must close after it opens." in text(answer)
    assert not Sequence.objects.exists()


def test_who_may_create_edit_and_see(users, sender):  # noqa: F811
    sequence = three_steps(sender)
    assert client_for(users["read-only"]).get("/sequences/new/").status_code == 403
    assert "New sequence" not in client_for(users["read-only"]).get("/sequences/").content.decode()
    peer = client_for(users["peer"])
    assert peer.get(f"/sequences/{sequence.pk}/").status_code == 404  # not shared
    services.update_sequence(sequence, actor=sender, shared=True)
    assert peer.get(f"/sequences/{sequence.pk}/").status_code == 200
    assert peer.get(f"/sequences/{sequence.pk}/edit/").status_code == 403
    assert "/edit/" not in peer.get(f"/sequences/{sequence.pk}/").content.decode()
    assert client_for(users["admin"]).get(f"/sequences/{sequence.pk}/edit/").status_code == 200


def test_the_sequence_page_shows_statistics_and_enrolments_with_their_actions(compose, sender, person):  # noqa: F811
    sequence = three_steps(sender)
    services.enrol_people(sequence, [person], actor=sender, now=MONDAY)
    services.run_due_steps(MONDAY)
    client = client_for(sender)
    page = text(client.get(f"/sequences/{sequence.pk}/"))
    assert "1 Email: Hello {{ person.first_name }} at once 1" in page
    assert "Ada Lovelace Active 2. Task" in page
    enrolment = Enrolment.objects.get()
    answer = client.post(f"/sequences/enrolments/{enrolment.pk}/pause/", {"next": f"/sequences/{sequence.pk}/"})
    assert answer.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.state == "paused"
    client.post(f"/sequences/enrolments/{enrolment.pk}/stop/")
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == ("stopped", "manual")
    assert "Stopped: stopped by hand" in text(client.get(f"/sequences/{sequence.pk}/?state=stopped"))


def test_enrol_from_a_person_page(compose, sender, person, users):  # noqa: F811
    sequence = three_steps(sender)
    client = client_for(sender)
    assert 'hx-get="/sequences/person/' in client.get(f"/people/{person.pk}/").content.decode()
    section = client.get(f"/sequences/person/{person.pk}/").content.decode()
    assert f'href="/sequences/enrol/?people={person.pk}&amp;next=/people/{person.pk}/"' in section
    form = client.get(f"/sequences/enrol/?people={person.pk}")
    assert form.status_code == 200 and "Ada Lovelace" in text(form)
    answer = client.post(
        "/sequences/enrol/", {"people": str(person.pk), "sequence": str(sequence.pk), "next": f"/people/{person.pk}/"}
    )
    assert answer.status_code == 302 and answer["Location"] == f"/people/{person.pk}/"
    assert Enrolment.objects.get().person == person
    assert "Trial follow-up : active" in text(client.get(f"/sequences/person/{person.pk}/"))
    # Someone who may not change Ada is offered no enrol button, and cannot post one.
    outsider = client_for(users["outsider"])
    assert outsider.get(f"/sequences/person/{person.pk}/").status_code == 404
    assert client_for(users["read-only"]).get("/sequences/enrol/").status_code == 403


def test_enrol_ticked_rows_from_the_people_list(compose, sender, person):  # noqa: F811
    sequence = three_steps(sender)
    grace = write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=sender)
    client = client_for(sender)
    assert "Enrol in sequence" in client.get("/people/").content.decode()
    assert "Enrol in sequence" not in client.get("/companies/").content.decode()
    answer = client.post("/people/bulk/", {"action": "sequence", "ids": [person.pk, grace.pk], "next": "/people/"})
    assert answer.status_code == 302
    assert answer["Location"].startswith(f"/sequences/enrol/?people={person.pk}%2C{grace.pk}")
    answer = client.post("/sequences/enrol/", {"people": f"{person.pk},{grace.pk}", "sequence": str(sequence.pk)})
    assert answer.status_code == 302
    assert Enrolment.objects.filter(sequence=sequence).count() == 2
    again = client.post("/sequences/enrol/", {"people": f"{person.pk}", "sequence": str(sequence.pk)}, follow=True)
    assert "Enrolled 0 in “Trial follow-up”. 1 already in it." in text(again)


def test_page_query_counts_are_pinned(compose, sender, person, django_assert_num_queries):  # noqa: F811
    sequences = [three_steps(sender) for _ in range(3)]
    for sequence in sequences:
        services.enrol_people(sequence, [person], actor=sender)
    client = client_for(sender)
    client.get("/sequences/")
    with django_assert_num_queries(5):  # session, user, role, the sequences, their open counts
        client.get("/sequences/")
    # session, user, role, sequence, steps, runs, replies, the runs' sent messages (compose's opens and clicks),
    # states, page keys, rows
    with django_assert_num_queries(11):
        client.get(f"/sequences/{sequences[0].pk}/")
