"""The pages of sending email: compose from a record (addresses, template with escaped values), reply with the
conversation quoted, the sent list and a message's figures, templates with a preview on a person the user may
see, and who may use them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rapport.compose.models import EmailTemplate, OutgoingMessage
from rapport.compose.services import create_template, send_email
from rapport.mail.models import Mailbox, Message, Thread

from .conftest import write


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_record_page_offers_email_and_compose_starts_with_its_address(users, person):
    page = client_for(users["member"]).get(f"/people/{person.pk}/")
    assert f'href="/email/compose/?record_type=people&amp;record_id={person.pk}"' in page.content.decode()
    assert b"/email/compose/" not in client_for(users["read-only"]).get(f"/people/{person.pk}/").content
    compose = client_for(users["member"]).get(f"/email/compose/?record_type=people&record_id={person.pk}")
    assert compose.status_code == 200
    assert compose.context["form"].initial["to"] == "ada@acme.com"
    assert client_for(users["read-only"]).get("/email/compose/").status_code == 403
    hidden = write("people", {"first_name": "W", "emails": ["w@w.example"]}, actor=users["outsider"])
    assert (
        client_for(users["member"]).get(f"/email/compose/?record_type=people&record_id={hidden.pk}").status_code == 404
    )


def test_a_template_fills_the_form_with_escaped_values_and_sending_queues_the_message(users, person):
    member = users["member"]
    person = write("people", {"first_name": "A*da"}, actor=member, instance=person)
    template = create_template(actor=member, name="Intro", subject="Hello {{ person.first_name }}",
                               body="Hi {{ person.first_name }}, **welcome**")  # fmt: skip
    client = client_for(member)
    url = f"/email/compose/?record_type=people&record_id={person.pk}&template={template.pk}"
    form = client.get(url).context["form"]
    assert form.initial["subject"] == "Hello A*da"
    assert form.initial["body"] == "Hi A\\*da, **welcome**"
    sent = client.post("/email/compose/", {
        "record_type": "people", "record_id": person.pk, "to": form.initial["to"], "subject": form.initial["subject"],
        "body": form.initial["body"], "mailbox": "", "tracking": "on",
    })  # fmt: skip
    message = OutgoingMessage.objects.get()
    assert sent.status_code == 302 and sent["Location"] == f"/email/sent/{message.pk}/"
    assert message.body_html == "<p>Hi A*da, <strong>welcome</strong></p>\n"
    assert (message.to, message.record_type, message.record_id, message.tracking) == (
        ["ada@acme.com"],
        "people",
        person.pk,
        True,
    )
    detail = client.get(f"/email/sent/{message.pk}/")
    assert detail.status_code == 200 and b"0 opens, 0 clicks" in detail.content
    assert client_for(users["peer"]).get(f"/email/sent/{message.pk}/").status_code == 404


def test_compose_errors_are_shown_on_the_field(users):
    answer = client_for(users["member"]).post("/email/compose/", {"to": "nope", "subject": "s", "body": "b"})
    assert answer.status_code == 200
    assert answer.context["form"].errors == {"to": ["nope is not an email address."]}
    assert not OutgoingMessage.objects.exists()


def test_a_reply_quotes_the_conversation_and_threads(users):
    member = users["member"]
    mailbox = Mailbox.objects.create(name="Mia", address="mia@rapport.test", owner=member, imap_host="", smtp_host="h")
    thread = Thread.objects.create(mailbox=mailbox, subject="Pricing")
    original = Message.objects.create(
        mailbox=mailbox, thread=thread, message_id="m1@acme.com", subject="Pricing", from_address="ada@acme.com",
        from_name="Ada", body_text="What does it cost?\nThanks",
    )  # fmt: skip
    client = client_for(member)
    form = client.get(f"/email/compose/?reply={original.pk}").context["form"]
    assert form.initial["to"] == "ada@acme.com" and form.initial["subject"] == "Re: Pricing"
    assert form.initial["body"].endswith("Ada wrote:\n> What does it cost?\n> Thanks")
    client.post("/email/compose/", {"reply": original.pk, "to": "ada@acme.com", "subject": "Re: Pricing",
                                    "body": "Ten.", "mailbox": str(mailbox.pk)})  # fmt: skip
    message = OutgoingMessage.objects.get()
    assert (message.in_reply_to_id, message.in_reply_to_header, message.mailbox_id) == (
        original.pk,
        "<m1@acme.com>",
        mailbox.pk,
    )
    assert client_for(users["peer"]).get(f"/email/compose/?reply={original.pk}").status_code == 404


def test_templates_pages_preview_on_a_person_and_only_owners_change(users, person):
    member, admin = users["member"], users["admin"]
    mine = create_template(
        actor=member,
        name="Mine",
        subject="Hi {{ person.first_name }}",
        body='Dear {{ person.first_name|default:"you" }}',
    )
    org = create_template(actor=admin, name="Org", subject="s", body="b", shared=True)
    client = client_for(member)
    listing = client.get("/email/templates/")
    assert [t.pk for t in listing.context["mine"]] == [mine.pk] and [t.pk for t in listing.context["shared"]] == [
        org.pk
    ]
    plain = client.get(f"/email/templates/{mine.pk}/")
    assert plain.context["preview_html"] == "<p>Dear you</p>\n"
    preview = client.get(f"/email/templates/{mine.pk}/?person={person.pk}")
    assert (preview.context["preview_subject"], preview.context["preview_html"]) == ("Hi Ada", "<p>Dear Ada</p>\n")
    hidden = write("people", {"first_name": "West", "emails": ["w@w.example"]}, actor=users["outsider"])
    assert client.get(f"/email/templates/{mine.pk}/?person={hidden.pk}").context["preview_subject"] == "Hi"
    assert client.post(f"/email/templates/{org.pk}/", {"name": "x", "subject": "s", "body": "b"}).status_code == 403
    bad = client.post(f"/email/templates/{mine.pk}/", {"name": "Mine", "subject": "s", "body": "{{ person.secret }}"})
    assert bad.context["form"].errors == {"body": ["There is no merge field person.secret."]}
    made = client.post("/email/templates/new/", {"name": "New", "subject": "s", "body": "b", "shared": "on"})
    assert made.status_code == 302 and EmailTemplate.objects.get(name="New").owner == member  # not an admin: personal
    assert client.post(f"/email/templates/{org.pk}/delete/").status_code == 403
    assert client.post(f"/email/templates/{mine.pk}/delete/").status_code == 302
    assert not EmailTemplate.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize("count", [3, 12])
def test_the_sent_list_reads_a_fixed_number_of_queries(users, count):
    member = users["member"]
    for n in range(count):
        send_email(sender=member, mailbox=None, to=[f"p{n}@acme.example"], subject=f"m{n}", body_html="x")
    client = client_for(member)
    client.get("/email/sent/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/email/sent/").status_code == 200
    assert len(queries) == 5, [q["sql"] for q in queries]


@pytest.mark.parametrize("events", [0, 5])
def test_a_sent_message_page_reads_a_fixed_number_of_queries(users, person, events):
    from rapport.compose.models import TrackingEvent

    member = users["member"]
    message = send_email(sender=member, mailbox=None, to=["ada@acme.com"], subject="s", body_html="x", record=person)
    for _ in range(events):
        TrackingEvent.objects.create(outgoing=message, kind="open")
    client = client_for(member)
    client.get(f"/email/sent/{message.pk}/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/email/sent/{message.pk}/").status_code == 200
    assert len(queries) == 6, [q["sql"] for q in queries]
