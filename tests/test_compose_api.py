"""The email API: templates (yours and the organisation's) with a preview on a record you may see, sending a
message (queued, 202), your outgoing messages with their status, cancelling a scheduled one; every answer is
checked against the published schema by the suite."""

from __future__ import annotations

from typing import Any

from rapport.compose.models import EmailTemplate, OutgoingMessage

from .conftest import write


def test_templates_create_preview_change_and_delete(api_client_for, users, person):
    api = api_client_for(users["member"])
    made = api.post(
        "/api/v1/email-templates/",
        {"name": "Intro", "subject": "Hi {{ person.first_name }}", "body": "From **{{ company.name }}**"},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["shared"], body["can_change"], made["Location"]) == (False, True, body["url"])
    preview = api.get(f"{body['url']}preview/?record_type=people&record_id={person.pk}")
    assert preview.json() == {"subject": "Hi Ada", "html": "<p>From <strong>Acme</strong></p>\n"}
    # A record the user may not see is answered like one that does not exist.
    hidden = write("people", {"first_name": "West", "emails": ["w@w.example"]}, actor=users["outsider"])
    refused = api.get(f"{body['url']}preview/?record_type=people&record_id={hidden.pk}")
    assert refused.status_code == 400 and refused.json()["fields"] == {
        "record_id": [f"There is no person #{hidden.pk}."]
    }
    changed = api.patch(body["url"], {"name": "Intro 2"}, content_type="application/json")
    assert changed.json()["name"] == "Intro 2"
    assert api_client_for(users["peer"]).get(body["url"]).status_code == 404  # personal: nobody else's
    assert api.delete(body["url"]).status_code == 204 and not EmailTemplate.objects.exists()


def test_template_errors_name_the_field(api_client_for, users):
    api = api_client_for(users["member"])
    bad = api.post(
        "/api/v1/email-templates/", {"name": "x", "subject": "s", "body": "{{ person.password }}"},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["body"]
    shared = api.post(
        "/api/v1/email-templates/", {"name": "x", "subject": "s", "body": "b", "shared": True},
        content_type="application/json",
    )  # fmt: skip
    assert shared.status_code == 400 and list(shared.json()["fields"]) == ["shared"]
    unknown = api.post(
        "/api/v1/email-templates/", {"name": "x", "subject": "s", "body": "b", "colour": 1},
        content_type="application/json",
    )  # fmt: skip
    assert unknown.status_code == 400


def test_send_a_message_from_a_template_and_follow_it(
    api_client_for, users, person, django_capture_on_commit_callbacks
):
    member = users["member"]
    member.first_name, member.email = "Mia", "mia@rapport.test"
    member.save()
    template = EmailTemplate.objects.create(
        name="t", subject="Hello {{ person.first_name }}", body="Dear {{ person.first_name }}"
    )
    api = api_client_for(member)
    with django_capture_on_commit_callbacks() as callbacks:
        sent = api.post(
            "/api/v1/outgoing-messages/",
            {"to": ["ada@acme.com"], "template": template.pk, "record_type": "people", "record_id": person.pk,
             "tracking": True, "send_at": "2030-01-02T09:00:00+01:00"},
            content_type="application/json",
        )  # fmt: skip
    assert sent.status_code == 202, sent.content
    body = sent.json()
    assert (body["status"], body["subject"], body["to"], body["record"]) == (
        "scheduled",
        "Hello Ada",
        ["ada@acme.com"],
        {"type": "people", "id": person.pk},
    )
    assert body["send_at"] == "2030-01-02T08:00:00+00:00" and callbacks == []  # later: no job now
    message = OutgoingMessage.objects.get()
    assert message.body_html == "<p>Dear Ada</p>\n"
    listed = api.get("/api/v1/outgoing-messages/?status=scheduled").json()["results"]
    assert [m["id"] for m in listed] == [message.pk]
    assert api_client_for(users["peer"]).get(body["url"]).status_code == 404
    cancelled = api.post(f"{body['url']}cancel/")
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"{body['url']}cancel/")
    assert again.status_code == 400 and list(again.json()["fields"]) == ["status"]


def test_sending_refuses_what_it_cannot_send(api_client_for, users):
    api = api_client_for(users["member"])
    cases: list[tuple[dict[str, Any], str]] = [
        ({"to": ["nope"], "subject": "s", "body": "b"}, "to"),
        ({"to": ["a@b.example"], "body": "b"}, "subject"),
        ({"to": ["a@b.example"], "subject": "s", "template": 999}, "template"),
        ({"to": ["a@b.example"], "subject": "s", "mailbox": 999}, "mailbox"),
        ({"to": ["a@b.example"], "subject": "s", "record_type": "deals", "record_id": 999}, "record_id"),
        ({"to": ["a@b.example"], "subject": "s", "in_reply_to": 999}, "in_reply_to"),
    ]
    for payload, field in cases:
        answer = api.post("/api/v1/outgoing-messages/", payload, content_type="application/json")
        assert answer.status_code == 400 and field in answer.json()["fields"], (payload, answer.content)
    assert api.get("/api/v1/outgoing-messages/?colour=red").status_code == 400
    assert not OutgoingMessage.objects.exists()
