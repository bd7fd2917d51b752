"""Activities: rules on every write, links to other records, filters, safe Markdown, completing."""

from __future__ import annotations

import json

from rapport.activities.markdown import render
from rapport.activities.models import Activity

from .conftest import write


def test_rules_on_write(users, person):
    note = write("activities", {"kind": "note", "subject": "Met at fair"}, actor=users["member"])
    assert note.done and note.done_at is not None
    assert note.assignee == users["member"]  # whoever logs it, unless assigned
    meeting = write(
        "activities",
        {"kind": "meeting", "subject": "Demo", "start_at": "2026-12-01T10:00:00Z", "duration_minutes": 45},
        actor=users["member"],
    )
    assert meeting.end_at.isoformat() == "2026-12-01T10:45:00+00:00"
    task = write("activities", {"subject": "Send proposal", "due_at": "2020-01-01T09:00:00Z"}, actor=users["member"])
    assert task.overdue
    done = write("activities", {"done": True}, actor=users["member"], instance=task)
    assert done.done_at is not None and not done.overdue
    reopened = write("activities", {"done": False}, actor=users["member"], instance=done)
    assert reopened.done_at is None


def test_links_filters_and_visibility(users, person, company, api_client_for):
    client = api_client_for(users["member"])
    created = client.post(
        "/api/v1/activities/",
        json.dumps(
            {
                "kind": "call",
                "subject": "Intro",
                "outcome": "connected",
                "links": [{"type": "people", "id": person.pk}, {"type": "companies", "id": company.pk}],
            }
        ),
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    aid = created.json()["id"]
    assert {(link["type"], link["id"]) for link in created.json()["links"]} == {
        ("people", person.pk),
        ("companies", company.pk),
    }
    assert [r["id"] for r in client.get("/api/v1/activities/", {"person": person.pk}).json()["results"]] == [aid]
    assert client.get("/api/v1/activities/", {"deal": 999}).json()["results"] == []
    bad = client.post(
        "/api/v1/activities/",
        json.dumps({"subject": "X", "links": [{"type": "people", "id": 999}]}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and "links[0].id" in bad.json()["fields"]
    wrong = client.post(
        "/api/v1/activities/",
        json.dumps({"subject": "X", "kind": "task", "outcome": "connected"}),
        content_type="application/json",
    )
    assert wrong.status_code == 400 and "outcome" in wrong.json()["fields"]
    assert api_client_for(users["outsider"]).get(f"/api/v1/activities/{aid}/").status_code == 404


def test_complete_through_the_api(users, api_client_for):
    task = write("activities", {"kind": "call", "subject": "Call back"}, actor=users["member"])
    client = api_client_for(users["member"])
    etag = client.get(f"/api/v1/activities/{task.pk}/")["ETag"]
    done = client.post(
        f"/api/v1/activities/{task.pk}/complete/",
        json.dumps({"outcome": "no_answer"}),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )
    assert done.status_code == 200 and done.json()["done"] and done.json()["outcome"] == "no_answer"
    stale = client.post(
        f"/api/v1/activities/{task.pk}/complete/", "{}", content_type="application/json", HTTP_IF_MATCH=etag
    )
    assert stale.status_code == 412
    assert Activity.objects.get(pk=task.pk).done


def test_markdown_is_rendered_safely(users):
    html = render("**bold** <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.com)")
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="javascript' not in html
    assert 'href="https://example.com"' in html and "noopener" in html
    activity = write(
        "activities",
        {"kind": "note", "subject": "N", "body": "<img src=x onerror=alert(1)> *hi*"},
        actor=users["member"],
    )
    from django.test import Client

    client = Client()
    client.force_login(users["member"])
    page = client.get(f"/activities/{activity.pk}/").content.decode()
    assert "<em>hi</em>" in page and "<img" not in page


def test_reminder_follows_every_write_path(users, api_client_for):
    from rapport.activities.models import Reminder
    from rapport.activities.reminders import set_reminder

    task = write("activities", {"subject": "Call back", "due_at": "2030-01-10T09:00:00Z"}, actor=users["member"])
    set_reminder(task, 60, actor=users["member"])
    assert Reminder.objects.get(activity=task).fire_at.isoformat() == "2030-01-10T08:00:00+00:00"
    client = api_client_for(users["member"])
    moved = client.patch(
        f"/api/v1/activities/{task.pk}/",
        json.dumps({"due_at": "2030-01-11T09:00:00Z"}),
        content_type="application/json",
    )
    assert moved.status_code == 200
    assert Reminder.objects.get(activity=task).fire_at.isoformat() == "2030-01-11T08:00:00+00:00"
    assert client.delete(f"/api/v1/activities/{task.pk}/").status_code == 204
    assert Reminder.objects.get(activity=task).status == Reminder.CANCELLED
