"""Mail pages and API: mail on timelines, /mail/ conversations, the thread page (images blocked until asked,
private threads, "Create person"), attachments served safely, Settings → Mailboxes (secrets never shown back,
health with the fix), Settings → Mail privacy, and /api/v1/mail/ with the visibility rule and pinned queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from rapport.activities import timeline
from rapport.contacts.models import Person
from rapport.mail import crypto, services
from rapport.mail.models import Attachment, IgnoredAddress, Mailbox, Message

from .conftest import default_pipeline, write
from .mail_servers import make_message

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def mailbox(users: dict[str, Any]) -> Mailbox:
    return Mailbox.objects.create(
        name="Member's", address="member@rapport.test", owner=users["member"], imap_host="imap.example.com",
        username="member@rapport.test", secret_encrypted=crypto.encrypt("s3cret-pw"),
    )  # fmt: skip


@pytest.fixture
def ada_mail(mailbox: Mailbox, person: Any) -> Message:
    html = '<p>Hello <img src="https://tracker.example/p.gif"> <script>x()</script></p>'
    message = services.store_message(
        mailbox,
        make_message(sender="Ada <ada@acme.com>", to="member@rapport.test", cc="Newcomer <new@acme.com>",
                     subject="Our order", html=html, date=T0,
                     attachments=[("order.pdf", "application/pdf", b"%PDF-1.4 x"),
                                  ("page.html", "text/html", b"<script>alert(1)</script>")]),
    )  # fmt: skip
    assert message is not None
    return message


@pytest.mark.django_db
def test_mail_shows_on_the_person_company_and_deal_timelines(users: dict[str, Any], ada_mail: Message, person: Any):
    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    pipeline = default_pipeline()
    deal = write(
        "deals",
        {"title": "Order", "pipeline": pipeline.pk, "stage": pipeline.stages.order_by("position").first().pk},
        actor=member,
    )
    services.link_thread_to_deal(ada_mail.thread, deal, actor=member)
    for type_key, record in (("people", person), ("companies", person.company), ("deals", deal)):
        items = [i for i in timeline.build(peer, type_key, record).items if i.source == "mail"]
        assert [i.payload.subject for i in items] == ["Our order"], type_key
    page = client_for(peer).get(f"/people/{person.pk}/timeline/")
    assert page.status_code == 200 and "Our order" in page.content.decode()
    assert f"/mail/threads/{ada_mail.thread_id}/#message-{ada_mail.pk}" in page.content.decode()
    # Private: gone from everyone else's timeline; the API timeline keeps to activities and history.
    services.set_thread_private(ada_mail.thread, True, actor=member)
    assert [i for i in timeline.build(peer, "people", person).items if i.source == "mail"] == []
    assert [i.source for i in timeline.build(member, "people", person).items if i.source == "mail"] == ["mail"]
    assert [i for i in timeline.build(outsider, "people", person).items if i.source == "mail"] == []


@pytest.mark.django_db
def test_the_thread_page_blocks_remote_images_until_asked(users: dict[str, Any], ada_mail: Message) -> None:
    client = client_for(users["member"])
    page = client.get(f"/mail/threads/{ada_mail.thread_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<img data-remote-src="https://tracker.example/p.gif">' in html and "x()" not in html
    assert "img-src 'self' data:;" in page["Content-Security-Policy"] or "https:" not in page.get(
        "Content-Security-Policy", ""
    )
    shown = client.get(f"/mail/threads/{ada_mail.thread_id}/?images=1")
    assert '<img src="https://tracker.example/p.gif">' in shown.content.decode()
    assert "img-src 'self' data: https: http:" in shown["Content-Security-Policy"]
    # Unknown senders and recipients can become people in one click; known ones and the mailbox are not offered.
    assert 'value="new@acme.com"' in html and 'value="ada@acme.com"' not in html
    assert 'value="member@rapport.test"' not in html


@pytest.mark.django_db
def test_create_person_from_an_unknown_address_links_their_mail(users: dict[str, Any], ada_mail: Message) -> None:
    client = client_for(users["member"])
    answer = client.post(
        "/mail/people/new/", {"address": "new@acme.com", "name": "New Comer", "thread": ada_mail.thread_id}
    )
    person = Person.objects.get(emails__email="new@acme.com")
    assert answer.status_code == 302 and answer["Location"] == f"/people/{person.pk}/"
    assert (person.first_name, person.last_name, person.owner_id) == ("New", "Comer", users["member"].pk)
    assert list(ada_mail.people.order_by("last_name").values_list("last_name", flat=True)) == ["Comer", "Lovelace"]
    # An address of no message the user may read is refused (no probing).
    refused = client_for(users["outsider"]).post("/mail/people/new/", {"address": "ada@acme.com"})
    assert refused.status_code == 400


@pytest.mark.django_db
def test_attachments_are_served_with_safe_types_and_only_to_readers(users: dict[str, Any], ada_mail: Message):
    pdf, page = Attachment.objects.filter(message=ada_mail).order_by("id")
    client = client_for(users["member"])
    got = client.get(f"/mail/attachments/{pdf.pk}/")
    assert (got.status_code, got["Content-Type"], got["X-Content-Type-Options"]) == (200, "application/pdf", "nosniff")
    assert got["Content-Disposition"].startswith("inline")
    assert b"".join(got.streaming_content) == b"%PDF-1.4 x"
    html = client.get(f"/mail/attachments/{page.pk}/")
    assert html["Content-Type"] == "application/octet-stream"
    assert html["Content-Disposition"] == 'attachment; filename="page.html"'
    assert client_for(users["outsider"]).get(f"/mail/attachments/{pdf.pk}/").status_code == 404


@pytest.mark.django_db
def test_conversations_and_private_threads(users: dict[str, Any], mailbox: Mailbox, ada_mail: Message) -> None:
    unlinked = services.store_message(mailbox, make_message(sender="friend@else.example", subject="Lunch?"))
    assert unlinked is not None
    owner_page = client_for(users["member"]).get("/mail/").content.decode()
    assert "Our order" in owner_page and "Lunch?" in owner_page
    peer = client_for(users["peer"])
    peer_page = peer.get("/mail/").content.decode()
    assert "Our order" in peer_page and "Lunch?" not in peer_page
    assert peer.get(f"/mail/threads/{unlinked.thread_id}/").status_code == 404
    assert peer.post(f"/mail/threads/{ada_mail.thread_id}/private/", {"private": "1"}).status_code == 403
    owner = client_for(users["member"])
    assert owner.post(f"/mail/threads/{ada_mail.thread_id}/private/", {"private": "1"}).status_code == 302
    assert peer.get(f"/mail/threads/{ada_mail.thread_id}/").status_code == 404
    assert client_for(users["outsider"]).get("/mail/?mailbox=99999").status_code == 400


@pytest.mark.django_db
def test_settings_mailboxes_keep_secrets_and_show_health_with_the_fix(users: dict[str, Any]) -> None:
    member = client_for(users["member"])
    answer = member.post(
        "/settings/mailboxes/new/",
        {"name": "Mine", "address": "member@rapport.test", "imap_host": "imap.example.com", "imap_port": "993",
         "imap_security": "ssl", "username": "member@rapport.test", "auth_method": "password",
         "secret": "hunter2-secret", "smtp_port": "587", "smtp_security": "starttls", "active": "on",
         "shared": "on"},
    )  # fmt: skip
    box = Mailbox.objects.get(name="Mine")
    assert answer.status_code == 302 and answer["Location"] == f"/settings/mailboxes/{box.pk}/"
    assert (box.owner_id, box.shared) == (users["member"].pk, False)  # only settings managers share mailboxes
    assert crypto.decrypt(box.secret_encrypted) == "hunter2-secret"
    edit = member.get(f"/settings/mailboxes/{box.pk}/edit/").content.decode()
    assert "hunter2-secret" not in edit and box.secret_encrypted not in edit
    Mailbox.objects.filter(pk=box.pk).update(
        last_error="password rejected: update it in the mailbox settings", last_sync_at=T0
    )
    health = member.get(f"/settings/mailboxes/{box.pk}/").content.decode()
    assert "password rejected: update it in the mailbox settings" in health
    assert f'href="/settings/mailboxes/{box.pk}/edit/"' in health
    assert member.post(f"/settings/mailboxes/{box.pk}/resync/").status_code == 302
    box.refresh_from_db()
    assert box.resync_requested
    # Someone else's personal mailbox is not theirs to see.
    assert client_for(users["peer"]).get(f"/settings/mailboxes/{box.pk}/").status_code == 404
    # Unencrypted IMAP only on loopback.
    refused = member.post(
        "/settings/mailboxes/new/",
        {"name": "Plain", "address": "x@rapport.test", "imap_host": "imap.example.com", "imap_port": "143",
         "imap_security": "none", "username": "x", "auth_method": "password", "secret": "x", "smtp_port": "587",
         "smtp_security": "starttls"},
    )  # fmt: skip
    assert refused.status_code == 200 and "only a server on this machine" in refused.content.decode()


@pytest.mark.django_db
def test_mail_privacy_is_for_settings_managers(users: dict[str, Any]) -> None:
    admin = client_for(users["admin"])
    assert admin.post("/settings/mail-privacy/", {"pattern": "@Gmail.com"}).status_code == 302
    assert list(IgnoredAddress.objects.values_list("pattern", flat=True)) == ["gmail.com"]
    assert "gmail.com" not in admin.get("/settings/mail-privacy/").content.decode().split("Suggestions")[1][:300]
    assert client_for(users["member"]).get("/settings/mail-privacy/").status_code == 403


@pytest.mark.django_db
def test_the_mail_api_follows_visibility_and_never_returns_secrets(
    users: dict[str, Any], api_client_for: Any, ada_mail: Message, person: Any, django_assert_num_queries: Any
) -> None:
    peer = api_client_for(users["peer"])
    peer.get("/api/v1/mail/messages/")  # the token's first use and per-request memos out of the way
    # token + user, rate count, the page's ids and rows (keyset, distinct), its people, its companies
    with django_assert_num_queries(6):
        listed = peer.get(f"/api/v1/mail/messages/?person={person.pk}").json()
    [row] = listed["results"]
    assert (row["subject"], row["from"], row["people"], row["direction"]) == (
        "Our order",
        {"name": "Ada", "address": "ada@acme.com"},
        [person.pk],
        "in",
    )
    detail = peer.get(f"/api/v1/mail/messages/{ada_mail.pk}/").json()
    assert [a["filename"] for a in detail["attachments"]] == ["order.pdf", "page.html"]
    assert "<script>" not in detail["body_html"]
    assert api_client_for(users["outsider"]).get(f"/api/v1/mail/messages/{ada_mail.pk}/").status_code == 404
    threads = peer.get("/api/v1/mail/threads/").json()["results"]
    assert [(t["subject"], t["message_count"]) for t in threads] == [("Our order", 1)]
    boxes = api_client_for(users["member"]).get("/api/v1/mail/mailboxes/").json()["results"]
    assert [b["name"] for b in boxes] == ["Member's"] and "secret_encrypted" not in boxes[0]
    assert api_client_for(users["peer"]).get("/api/v1/mail/mailboxes/").json()["results"] == []
    bad = peer.get("/api/v1/mail/messages/?person=abc")
    assert bad.status_code == 400 and "person" in bad.content.decode()


@pytest.mark.django_db
def test_reply_from_the_thread_page_and_link_it_to_a_deal(users: dict[str, Any], ada_mail: Message) -> None:
    member, outsider = users["member"], users["outsider"]
    page = client_for(member).get(f"/mail/threads/{ada_mail.thread_id}/").content.decode()
    assert f'href="/email/compose/?reply={ada_mail.pk}" aria-label="Reply to Ada">Reply</a>' in page
    compose = client_for(member).get(f"/email/compose/?reply={ada_mail.pk}").content.decode()
    assert "Re: Our order" in compose and "ada@acme.com" in compose  # the conversation quoted, to its sender
    read_only = client_for(users["read-only"]).get(f"/mail/threads/{ada_mail.thread_id}/")
    assert read_only.status_code == 200 and "?reply=" not in read_only.content.decode()  # may not send

    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first().pk
    order = write("deals", {"title": "Order", "pipeline": pipeline.pk, "stage": stage}, actor=member)
    theirs = write("deals", {"title": "West secret", "pipeline": pipeline.pk, "stage": stage}, actor=outsider)
    assert 'name="deal" value="" data-picker-value' in page  # the deal picker
    client = client_for(member)
    linked = client.post(f"/mail/threads/{ada_mail.thread_id}/deal/", {"deal": order.pk})
    assert linked.status_code == 302 and list(ada_mail.thread.deals.all()) == [order]
    page = client.get(f"/mail/threads/{ada_mail.thread_id}/").content.decode()
    assert f'<a href="/deals/{order.pk}/">Order</a>' in page and 'aria-label="Unlink Order"' in page
    # another team's deal: the same answer as a deal that does not exist, and nothing linked
    refused = client.post(f"/mail/threads/{ada_mail.thread_id}/deal/", {"deal": theirs.pk})
    assert refused.status_code == 400 and "West secret" not in refused.content.decode()
    client.post(f"/mail/threads/{ada_mail.thread_id}/deal/", {"deal": order.pk, "unlink": "1"})
    assert list(ada_mail.thread.deals.all()) == []


@pytest.mark.django_db
def test_a_mailbox_on_a_private_address_is_refused_naming_the_field(users: dict[str, Any], settings: Any) -> None:
    settings.RAPPORT_MAIL_ALLOW_PRIVATE = []
    answer = client_for(users["member"]).post(
        "/settings/mailboxes/new/",
        {"name": "Mine", "address": "member@rapport.test", "imap_host": "10.1.2.3", "imap_port": "993",
         "imap_security": "ssl", "username": "member@rapport.test", "auth_method": "password",
         "secret": "hunter2-secret", "smtp_host": "169.254.169.254", "smtp_port": "587", "smtp_security": "starttls",
         "active": "on"},
    )  # fmt: skip
    body = answer.content.decode()
    assert answer.status_code == 200 and not Mailbox.objects.exists()
    assert "10.1.2.3 is a private network address; an administrator can allow" in body
    assert "169.254.169.254 is a link-local address (such as the cloud metadata service)" in body
