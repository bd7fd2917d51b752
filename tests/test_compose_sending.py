"""Sending email from the CRM against a real SMTP server on loopback (aiosmtpd): the message as captured (headers,
threading, Bcc only in the envelope), merge fields rendered and escaped, retries, refusals, suppression,
one-click unsubscribe, tracking that cannot be forged and never counts the sender, bounces from DSNs, the daily
cap under parallel workers, and a worker killed mid-send that never sends twice."""

from __future__ import annotations

import datetime as dt
import threading
import time
from email.utils import parseaddr
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.test import Client, override_settings
from django.utils import timezone

from rapport.compose import bounces, sending, services, suppression, templates, tracking, unsubscribe
from rapport.compose.models import Bounce, DailySendCount, EmailTemplate, OutgoingMessage, Suppression, TrackingEvent
from rapport.compose.services import ComposeError, send_email
from rapport.mail.models import Mailbox, Message, Thread

from .compose_helpers import SMTPCapture
from .conftest import make_user, write

SITE = "https://crm.example.com"


@pytest.fixture
def smtp(tmp_path: Any) -> Any:
    capture = SMTPCapture()
    capture.controller.start()
    with override_settings(
        **capture.settings(), RAPPORT_SITE_URL=SITE, RAPPORT_MAIL_DAILY_CAP=0, MEDIA_ROOT=str(tmp_path / "files")
    ):
        yield capture
    capture.handler.release.set()
    capture.controller.stop()


@pytest.fixture
def sender(users: dict[str, Any]) -> Any:
    user = users["member"]
    user.email, user.first_name, user.last_name = "mia@rapport.test", "Mia", "Member"
    user.save()
    return user


def send_now() -> int:
    return sending.send_due(now=timezone.now() + dt.timedelta(seconds=1))


def mailbox_for(user: Any, smtp: SMTPCapture) -> Mailbox:
    return Mailbox.objects.create(
        name="Mia", address="mia@rapport.test", owner=user, imap_host="", smtp_host="127.0.0.1",
        smtp_port=smtp.port, smtp_security="none", username="",
    )  # fmt: skip


# --- templates ----------------------------------------------------------------------------------------------
def test_merge_fields_are_rendered_from_the_record_and_the_sender(sender, person):
    template = EmailTemplate(
        name="Intro",
        subject="Hello {{ person.first_name }} from {{ company.name }}",
        body='Hi {{ person.first_name|default:"there" }},\n\n**{{ sender.full_name }}** at {{ sender.email }}',
    )
    subject, html = templates.render(template, record=person, sender=sender)
    assert subject == "Hello Ada from Acme"
    assert html == "<p>Hi Ada,</p>\n<p><strong>Mia Member</strong> at mia@rapport.test</p>\n"


def test_merge_values_are_escaped_and_cannot_inject_markdown_or_html(sender, users, company):
    person = write(
        "people",
        {"first_name": "<script>alert(1)</script>[x](javascript:alert(2))", "emails": ["x@acme.com"]},
        actor=users["member"],
    )
    template = EmailTemplate(name="t", subject="{{ person.first_name }}", body="Dear {{ person.first_name }}")
    subject, html = templates.render(template, record=person, sender=sender)
    assert subject == "<script>alert(1)</script>[x](javascript:alert(2))"  # the subject is plain text
    assert html == "<p>Dear &lt;script&gt;alert(1)&lt;/script&gt;[x](javascript:alert(2))</p>\n"


def test_defaults_and_names_outside_the_list(sender, users):
    person = write("people", {"last_name": "Nameless", "emails": ["n@acme.com"]}, actor=users["member"])
    template = EmailTemplate(name="t", subject='Hi {{ person.first_name|default:"there" }}', body="x")
    assert templates.render(template, record=person, sender=sender)[0] == "Hi there"
    with pytest.raises(templates.TemplateError, match="There is no merge field person.__class__"):
        templates.check("{{ person.__class__ }}", field="body")
    with pytest.raises(templates.TemplateError, match="is not a merge field"):
        templates.check("{{ person.first_name|upper }}", field="body")
    # A name that is not on the list renders as nothing (never an attribute lookup).
    assert templates.render_text("[{{ person.pk }}]", {"person.pk": "leak"}) == "[]"


def test_a_company_the_sender_may_not_see_gives_no_values(users, teams):
    outsider = users["outsider"]  # the west team: Acme (east) is not theirs
    company = write("companies", {"name": "Hidden Ltd"}, actor=users["member"])
    person = write("people", {"first_name": "Zed", "emails": ["z@w.com"], "owner": outsider.pk}, actor=outsider)
    person.company = company  # linked by someone who could see both
    context = templates.merge_context(record=person, sender=outsider)
    assert context["person.first_name"] == "Zed" and "company.name" not in context


def test_custom_fields_are_merge_fields(sender, person):
    person.custom = {"tier": "Gold", "renewal": {"amount": "1200.00", "currency": "EUR"}}
    context = templates.merge_context(record=person, sender=sender)
    assert context["person.custom.tier"] == "Gold"
    assert context["person.custom.renewal"] == "€1,200.00"


def test_template_services_check_fields_and_owners(sender, users):
    with pytest.raises(ComposeError) as refused:
        services.create_template(actor=sender, name="x", subject="Hi {{ person.nope }}", body="b")
    assert refused.value.field == "subject"
    with pytest.raises(ComposeError) as shared:
        services.create_template(actor=sender, name="x", subject="s", body="b", shared=True)
    assert shared.value.field == "shared"
    mine = services.create_template(actor=sender, name="Mine", subject="s", body="b")
    org = services.create_template(actor=users["admin"], name="Org", subject="s", body="b", shared=True)
    assert set(services.visible_templates(sender)) == {mine, org}
    assert set(services.visible_templates(users["peer"])) == {org}
    with pytest.raises(ComposeError):
        services.update_template(org, actor=sender, name="taken over")


# --- sending ------------------------------------------------------------------------------------------------
def test_a_message_is_captured_with_its_headers_and_bcc_only_in_the_envelope(smtp, sender, person):
    message = send_email(
        sender=sender, mailbox=None, to=["Ada <ada@acme.com>"], cc=["cc@acme.com"], bcc=["boss@rapport.test"],
        subject="Our call", body_html="<p>Thanks <b>Ada</b><script>x()</script></p>", record=person,
    )  # fmt: skip
    assert message.status == "scheduled" and message.record_type == "people" and message.record_id == person.pk
    assert send_now() == 1
    (captured,) = smtp.messages
    assert sorted(captured.recipients) == ["ada@acme.com", "boss@rapport.test", "cc@acme.com"]
    got = captured.message
    assert got["Message-ID"] == f"<{message.message_id}>"
    assert got["To"] == "ada@acme.com" and got["Cc"] == "cc@acme.com" and got["Bcc"] is None
    assert got["Subject"] == "Our call"
    assert parseaddr(got["From"]) == ("Mia Member via Rapport", "rapport@localhost")
    assert got["Reply-To"] == "mia@rapport.test"
    html = next(p for p in got.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "<p>Thanks <b>Ada</b></p>" in html and "script" not in html
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("sent", 1, "")
    assert send_now() == 0 and len(smtp.messages) == 1  # sent once


def test_a_reply_carries_in_reply_to_and_references_and_goes_through_the_mailbox(smtp, sender):
    mailbox = mailbox_for(sender, smtp)
    thread = Thread.objects.create(mailbox=mailbox, subject="Pricing")
    original = Message.objects.create(
        mailbox=mailbox, thread=thread, message_id="first@client.example", references="root@client.example",
        subject="Pricing", from_address="ada@acme.com",
    )  # fmt: skip
    reply = send_email(
        sender=sender, mailbox=mailbox, to=["ada@acme.com"], subject="Re: Pricing", body_html="<p>Sure.</p>",
        in_reply_to=original,
    )  # fmt: skip
    assert reply.message_id.endswith("@rapport.test")
    assert send_now() == 1
    got = smtp.messages[0].message
    assert got["In-Reply-To"] == "<first@client.example>"
    assert got["References"] == "root@client.example <first@client.example>"
    assert parseaddr(got["From"]) == ("Mia Member", "mia@rapport.test") and got["Reply-To"] is None


def test_hostile_input_is_refused_naming_the_field(sender, users, smtp):
    cases = [
        ({"to": ["not an address"]}, "to"),
        ({"to": []}, "to"),
        ({"cc": ["a@b.example", "bad@"]}, "cc"),
        ({"subject": "x" * 901}, "subject"),
        ({"send_at": dt.datetime(2030, 1, 1, 9, 0)}, "send_at"),
        ({"attachments": [("big.bin", b"x" * 11)]}, "attachments"),
    ]
    with override_settings(RAPPORT_MAIL_MAX_ATTACHMENT_BYTES=10):
        for extra, field in cases:
            args = {"sender": sender, "mailbox": None, "to": ["a@b.example"], "subject": "s", "body_html": "b", **extra}
            with pytest.raises(ComposeError) as refused:
                send_email(**args)
            assert refused.value.field == field, extra
    other = Mailbox.objects.create(name="Peer", address="p@x.test", owner=users["peer"], imap_host="", smtp_host="h")
    with pytest.raises(ComposeError) as refused:
        send_email(sender=sender, mailbox=other, to=["a@b.example"], subject="s", body_html="b")
    assert refused.value.field == "mailbox"
    assert OutgoingMessage.objects.count() == 0


def test_attachments_go_with_the_message(smtp, sender):
    send_email(sender=sender, mailbox=None, to=["a@b.example"], subject="Files", body_html="<p>see</p>",
               attachments=[("quote.pdf", b"%PDF-1.4 quote", "application/pdf")])  # fmt: skip
    send_now()
    parts = [p for p in smtp.messages[0].message.walk() if p.get_filename()]
    assert [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in parts] == [
        ("quote.pdf", "application/pdf", b"%PDF-1.4 quote")
    ]


def test_a_scheduled_message_waits_for_its_time(smtp, sender):
    at = timezone.now() + dt.timedelta(hours=2)
    message = send_email(sender=sender, mailbox=None, to=["a@b.example"], subject="Later", body_html="x", send_at=at)
    assert sending.send_due() == 0 and smtp.messages == []
    assert sending.send_due(now=at + dt.timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_server_that_cannot_be_reached_is_tried_again_with_a_pause(sender, smtp):
    message = send_email(sender=sender, mailbox=None, to=["a@b.example"], subject="s", body_html="x")
    with override_settings(EMAIL_PORT=1):  # nothing listens there
        before = timezone.now()
        assert send_now() == 0
    message.refresh_from_db()
    assert message.status == "scheduled" and message.attempts == 1
    assert "could not reach the mail server" in message.error
    assert dt.timedelta(seconds=55) < message.next_attempt_at - before < dt.timedelta(seconds=65)  # 1 min first


def test_a_mailbox_whose_smtp_server_is_on_this_machine_is_refused_unless_allowed(sender, smtp, settings):
    mailbox = mailbox_for(sender, smtp)
    message = send_email(sender=sender, mailbox=mailbox, to=["a@b.example"], subject="s", body_html="x")
    settings.RAPPORT_MAIL_ALLOW_PRIVATE = []
    assert send_now() == 0
    message.refresh_from_db()
    assert (message.status, smtp.messages) == ("failed", [])
    assert message.error.startswith("127.0.0.1 is this server itself (loopback): an administrator can allow")


@pytest.mark.parametrize(("answer", "status"), [("451 4.3.0 try later", "scheduled"), ("554 5.7.1 no", "failed")])
def test_the_servers_answer_to_the_data_decides_retry_or_failure(sender, smtp, answer, status):
    smtp.handler.data_answer = answer
    message = send_email(sender=sender, mailbox=None, to=["a@b.example"], subject="s", body_html="x")
    send_now()
    message.refresh_from_db()
    assert message.status == status and message.data_started_at is None
    assert answer.split()[0] in message.error


# --- suppression and unsubscribe ----------------------------------------------------------------------------
def test_suppressed_recipients_are_left_out_and_a_message_to_only_them_is_not_sent(smtp, sender):
    suppression.suppress("Gone@Example.com", reason="manual")
    assert suppression.is_suppressed("gone@example.com")
    both = send_email(sender=sender, mailbox=None, to=["gone@example.com", "here@example.com"], subject="s",
                      body_html="x")  # fmt: skip
    only = send_email(sender=sender, mailbox=None, to=["gone@example.com"], subject="s", body_html="x")
    assert send_now() == 1
    assert [m.recipients for m in smtp.messages] == [["here@example.com"]]
    both.refresh_from_db(), only.refresh_from_db()
    assert both.refused == {"gone@example.com": "suppressed"}
    assert only.status == "suppressed"


def test_one_click_unsubscribe_stops_every_later_send(smtp, sender, client):
    first = send_email(sender=sender, mailbox=None, to=["ada@acme.com"], subject="News", body_html="x",
                       list_unsubscribe=True)  # fmt: skip
    send_now()
    got = smtp.messages[0].message
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = got["List-Unsubscribe"].strip("<>")
    assert url.startswith(f"{SITE}/email/unsubscribe/")
    path = url.removeprefix(SITE)
    page = Client().get(path)
    assert page.status_code == 200 and b"ada@acme.com" in page.content and not suppression.is_suppressed("ada@acme.com")
    # The mail provider's one-click POST (RFC 8058): no session, no CSRF token.
    answer = Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and b"You are unsubscribed" in answer.content
    assert Suppression.objects.get().reason == "unsubscribed"
    assert TrackingEvent.objects.get(kind="unsubscribe").outgoing == first
    send_email(sender=sender, mailbox=None, to=["ada@acme.com"], subject="More news", body_html="x")
    assert send_now() == 0 and len(smtp.messages) == 1
    # A token for another address cannot be made from this one.
    forged = path.replace(path.split("/")[-2][:4], "AAAA")
    assert Client().post(forged).status_code == 404
    assert unsubscribe.read_token(unsubscribe.token(first.pk, "x@y.example") + "x") is None


def test_an_unsubscribe_header_needs_exactly_one_recipient(sender):
    with pytest.raises(ComposeError, match="exactly one recipient"):
        send_email(sender=sender, mailbox=None, to=["a@b.example", "d@e.example"], subject="s", body_html="x",
                   list_unsubscribe=True)  # fmt: skip


# --- tracking -----------------------------------------------------------------------------------------------
def tracked_message(smtp: SMTPCapture, sender: Any) -> tuple[OutgoingMessage, str]:
    message = send_email(
        sender=sender, mailbox=None, to=["ada@acme.com"], subject="Look",
        body_html='<p><a href="https://example.com/a?x=1&amp;y=2">A</a> <a href="https://example.com/b">B</a></p>',
        tracking=True,
    )  # fmt: skip
    send_now()
    html = next(p for p in smtp.messages[-1].message.walk() if p.get_content_type() == "text/html")
    return OutgoingMessage.objects.get(pk=message.pk), html.get_payload(decode=True).decode()


def test_tracking_rewrites_links_and_adds_a_pixel_that_counts_opens(smtp, sender):
    message, html = tracked_message(smtp, sender)
    assert message.links == ["https://example.com/a?x=1&y=2", "https://example.com/b"]
    assert "https://example.com/a" not in html  # every link goes through the redirect
    pixel = f"/email/t/o/{tracking.open_token(message.pk)}.gif"
    assert f'src="{SITE}{pixel}"' in html
    answer = Client().get(pixel, HTTP_USER_AGENT="Mail/1.0")
    assert answer.status_code == 200 and answer["Content-Type"] == "image/gif"
    click = f"/email/t/c/{tracking.click_token(message.pk, 0)}/"
    assert f'href="{SITE}{click}"' in html
    redirect = Client().get(click)
    assert redirect.status_code == 302 and redirect["Location"] == "https://example.com/a?x=1&y=2"
    message.refresh_from_db()
    assert (message.opens, message.clicks) == (1, 1) and message.first_opened_at is not None
    assert [(e.kind, e.url) for e in TrackingEvent.objects.order_by("id")] == [
        ("open", ""),
        ("click", "https://example.com/a?x=1&y=2"),
    ]


def test_the_senders_own_views_are_not_counted(smtp, sender):
    message, _ = tracked_message(smtp, sender)
    client = Client()
    client.force_login(sender)
    assert client.get(f"/email/t/o/{tracking.open_token(message.pk)}.gif").status_code == 200
    assert client.get(f"/email/t/c/{tracking.click_token(message.pk, 1)}/").status_code == 302
    message.refresh_from_db()
    assert (message.opens, message.clicks) == (0, 0) and not TrackingEvent.objects.exists()
    # The copy kept in the CRM and in Sent has neither pixel nor redirects.
    kept = sending.build(message, tracked=False).as_string()
    assert "/email/t/" not in kept and "https://example.com/b" in kept


def test_tracking_tokens_cannot_be_forged_and_clicks_go_only_to_the_messages_links(smtp, sender):
    message, _ = tracked_message(smtp, sender)
    token = tracking.open_token(message.pk)
    other_id = token.replace(f"{message.pk}:", f"{message.pk + 1}:", 1)
    tampered = token[:-1] + ("B" if token.endswith("A") else "A")  # the signature's last character changed
    for path in (
        f"/email/t/o/{message.pk}.gif",
        f"/email/t/o/{other_id}.gif",
        f"/email/t/o/{tampered}.gif",
        f"/email/t/c/{tracking.click_token(message.pk, 2)}/",  # a position past the message's links
        f"/email/t/c/{tracking.open_token(message.pk)}/",  # an open token is not a click token
        f"/email/t/c/{message.pk}.0/",
    ):
        assert Client().get(path).status_code == 404, path
    assert not TrackingEvent.objects.exists()


# --- bounces ------------------------------------------------------------------------------------------------
def dsn(original_id: str, recipient: str, status: str, action: str = "failed") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.acme.com\r\nTo: mia@rapport.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nMessage-ID: <dsn-1@mx.acme.com>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.acme.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_id}>\r\nSubject: Our call\r\n\r\n--B--\r\n"
    ).encode()


def test_a_hard_bounce_is_recorded_against_the_address_and_suppresses_it(smtp, sender):
    message = send_email(sender=sender, mailbox=None, to=["nobody@acme.com"], subject="s", body_html="x")
    send_now()
    made = bounces.record_raw(dsn(message.message_id, "Nobody@acme.com", "5.1.1"))
    assert [(b.address, b.status, b.hard, b.message_id) for b in made] == [
        ("nobody@acme.com", "5.1.1", True, message.pk)
    ]
    assert Suppression.objects.get().reason == "hard_bounce"
    message.refresh_from_db()
    assert message.bounced_at is not None
    assert TrackingEvent.objects.get(kind="bounce").address == "nobody@acme.com"


def test_a_delay_is_recorded_but_suppresses_nothing_and_mail_that_is_no_dsn_is_ignored(sender):
    assert [b.hard for b in bounces.record_raw(dsn("x@y", "slow@acme.com", "4.4.7", action="delayed"))] == [False]
    assert not Suppression.objects.exists()
    assert bounces.record_raw(b"From: a@b.c\r\nSubject: hi\r\n\r\nhello\r\n") == []
    assert Bounce.objects.count() == 1


def test_the_received_hook_reads_a_synced_dsn(smtp, sender):
    message = send_email(sender=sender, mailbox=None, to=["nobody@acme.com"], subject="s", body_html="x")
    send_now()
    mailbox = mailbox_for(sender, smtp)
    thread = Thread.objects.create(mailbox=mailbox, subject="Undelivered")
    report = Message.objects.create(
        mailbox=mailbox, thread=thread, message_id="dsn-1@mx", is_bounce=True, in_reply_to=f"<{message.message_id}>",
        body_text="Final-Recipient: rfc822; nobody@acme.com\nAction: failed\nStatus: 5.1.1\n",
    )  # fmt: skip
    bounces.on_received(report)
    bounces.on_received(report)  # hooks run at least once: the second run records nothing more
    assert list(Bounce.objects.values_list("address", "message_id", "report_id")) == [
        ("nobody@acme.com", message.pk, report.pk)
    ]
    assert suppression.is_suppressed("nobody@acme.com")


# --- the daily cap ------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_daily_cap_holds_under_two_parallel_workers(smtp):
    sender = make_user("capped", "member", email="capped@rapport.test")
    for n in range(10):
        send_email(sender=sender, mailbox=None, to=[f"p{n}@acme.com"], subject=f"m{n}", body_html="x")
    results: list[int] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            results.append(send_now())
        finally:
            close_old_connections()
            connection.close()

    with override_settings(RAPPORT_MAIL_DAILY_CAP=3):
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sum(results) == 3 and len(smtp.messages) == 3
    assert DailySendCount.objects.get(sender=sender).count == 3
    waiting = OutgoingMessage.objects.filter(status="scheduled")
    assert waiting.count() == 7
    assert {m.error for m in waiting} == {"The daily limit of 3 messages per sender was reached; it goes tomorrow."}
    assert min(m.next_attempt_at for m in waiting) > timezone.now()


# --- a worker killed mid-send -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stall_at", ["rcpt", "data"])
def test_a_worker_killed_mid_send_never_sends_twice(smtp, tmp_path, stall_at):
    from .jobs_helpers import kill_hard, start, wait_for

    sender = make_user("killed", "member", email="k@rapport.test")
    message = send_email(sender=sender, mailbox=None, to=["ada@acme.com"], subject="Once", body_html="x")
    from rapport.compose.tasks import send_outgoing_message

    send_outgoing_message.enqueue(message.pk)
    smtp.handler.stall_at = stall_at
    worker = start("worker", tmp_path, RAPPORT_EMAIL_URL=smtp.url, RAPPORT_SITE_URL=SITE)
    try:
        assert smtp.handler.stalled.wait(30), "the worker never reached the server"
        if stall_at == "data":
            wait_for(lambda: OutgoingMessage.objects.filter(pk=message.pk, data_started_at__isnull=False).exists())
    finally:
        kill_hard(worker)
    smtp.handler.stall_at = ""
    smtp.handler.release.set()
    time.sleep(0.3)
    assert smtp.messages == []  # the killed conversation delivered nothing: the server saw no end of data
    with override_settings(RAPPORT_MAIL_CLAIM_TIMEOUT=0):
        sending.send_due(now=timezone.now() + dt.timedelta(seconds=1))
    message.refresh_from_db()
    if stall_at == "rcpt":
        # Nothing reached the server before the data: due again, and sent exactly once.
        assert message.status == "sent" and len(smtp.messages) == 1
    else:
        # The worker died while the server was receiving the data: never sent again automatically.
        assert message.status == "unconfirmed" and "may have been delivered" in message.error
        assert smtp.messages == []
    with override_settings(RAPPORT_MAIL_CLAIM_TIMEOUT=0):
        sending.send_due(now=timezone.now() + dt.timedelta(minutes=10))
    assert len(smtp.messages) == (1 if stall_at == "rcpt" else 0)
