"""Sending through a connected mailbox against the suite's real servers (tests/mail_servers.py): the mailbox's
own SMTP with its encrypted password (aiosmtpd with AUTH), the copy stored as one threaded "out" Message and
appended to the mailbox's Sent folder on Dovecot, where the next sync of Sent finds the same Message; a refused
recipient is recorded; a DSN synced into the inbox is a bounce."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from rapport.compose import sending, suppression
from rapport.compose.models import Bounce
from rapport.compose.services import send_email
from rapport.mail import crypto
from rapport.mail import services as mail_services
from rapport.mail.models import Mailbox, MailFolder, Message

from .test_compose_sending import dsn


@pytest.fixture
def mailbox(users: dict[str, Any], imap_account: Any, smtp_server: Any) -> Mailbox:
    smtp_server.require_auth(imap_account.username, imap_account.password)
    member = users["member"]
    member.first_name, member.email = "Mia", imap_account.address
    member.save()
    return Mailbox.objects.create(
        name="Mia", address=imap_account.address, owner=member, imap_host=imap_account.host,
        imap_port=imap_account.port, imap_security="none", smtp_host=smtp_server.host, smtp_port=smtp_server.port,
        smtp_security="none", username=imap_account.username, secret_encrypted=crypto.encrypt(imap_account.password),
    )  # fmt: skip


def send_now() -> int:
    return sending.send_due(now=timezone.now() + dt.timedelta(seconds=1))


def test_a_reply_goes_through_the_mailbox_and_is_one_threaded_message_in_sent(
    mailbox, imap_account, smtp_server, person
):
    from .mail_servers import make_message

    inbound = make_message(subject="Pricing", sender="ada@acme.com", to=mailbox.address, message_id="<q1@acme.com>")
    original = mail_services.store_message(mailbox, inbound)
    assert original is not None and original.direction == "in"
    with override_settings(RAPPORT_MAIL_DAILY_CAP=0):
        reply = send_email(sender=mailbox.owner, mailbox=mailbox, to=["ada@acme.com"], subject="Re: Pricing",
                           body_html="<p>It is 10 a seat.</p>", in_reply_to=original, tracking=True)  # fmt: skip
        assert send_now() == 1
    (captured,) = smtp_server.messages
    got = captured.message
    assert (got["Message-ID"], got["In-Reply-To"], got["References"]) == (
        f"<{reply.message_id}>",
        "<q1@acme.com>",
        "<q1@acme.com>",
    )
    assert captured.rcpt_tos == ["ada@acme.com"]
    reply.refresh_from_db()
    assert reply.status == "sent" and reply.appended_to_sent
    stored = Message.objects.get(pk=reply.stored_message_id)
    assert (stored.direction, stored.message_id, stored.thread_id) == ("out", reply.message_id, original.thread_id)
    assert "/email/t/" not in stored.body_html  # the kept copy has no tracking
    # The Sent folder on the server holds the copy; the next sync of Sent stores no second message.
    client = imap_account.client()
    try:
        client.select('"Sent"')
        _, found = client.uid("SEARCH", "HEADER", "Message-ID", reply.message_id)
        (uid,) = [int(u) for u in found[0].split()]
        _, data = client.uid("FETCH", str(uid), "(RFC822)")
        raw = next(part[1] for part in data if isinstance(part, tuple))
    finally:
        client.logout()
    assert b"/email/t/" not in raw
    sent = MailFolder.objects.create(mailbox=mailbox, name="Sent", role="sent", uidvalidity=1)
    again = mail_services.store_message(mailbox, raw, folder=sent, uid=uid)
    assert again is not None and again.pk == stored.pk
    assert Message.objects.filter(mailbox=mailbox, message_id=reply.message_id).count() == 1


def test_a_wrong_mailbox_password_is_retried_with_the_reason(mailbox, smtp_server):
    Mailbox.objects.filter(pk=mailbox.pk).update(secret_encrypted=crypto.encrypt("wrong"))
    mailbox.refresh_from_db()
    message = send_email(sender=mailbox.owner, mailbox=mailbox, to=["ada@acme.com"], subject="s", body_html="x")
    send_now()
    message.refresh_from_db()
    assert (message.status, message.attempts, smtp_server.messages) == ("scheduled", 1, [])
    assert message.error == "the server refused the sign-in (535): check the mailbox's password"


def test_a_refused_recipient_is_recorded_and_the_others_get_it(mailbox, smtp_server):
    smtp_server.refuse["gone@acme.com"] = "550 5.1.1 no such user"
    message = send_email(sender=mailbox.owner, mailbox=mailbox, to=["gone@acme.com", "ada@acme.com"],
                         subject="s", body_html="x")  # fmt: skip
    send_now()
    message.refresh_from_db()
    assert message.status == "sent" and message.refused == {"gone@acme.com": "550 5.1.1 no such user"}
    assert smtp_server.messages[0].rcpt_tos == ["ada@acme.com"]


def test_a_dsn_synced_into_the_inbox_is_recorded_as_a_bounce(mailbox, smtp_server, django_capture_on_commit_callbacks):
    message = send_email(sender=mailbox.owner, mailbox=mailbox, to=["nobody@acme.com"], subject="s", body_html="x")
    send_now()
    with django_capture_on_commit_callbacks(execute=True):
        report = mail_services.store_message(mailbox, dsn(message.message_id, "nobody@acme.com", "5.1.1"))
    assert report is not None
    bounce = Bounce.objects.get()
    assert (bounce.address, bounce.hard, bounce.message_id, bounce.report_id) == (
        "nobody@acme.com",
        True,
        message.pk,
        report.pk,
    )
    assert suppression.is_suppressed("nobody@acme.com")
    message.refresh_from_db()
    assert message.bounced_at is not None


def sign_in_with_oauth2(mailbox: Mailbox, token: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(auth_method="xoauth2", secret_encrypted=crypto.encrypt(token))
    mailbox.refresh_from_db()


def test_a_mailbox_on_an_oauth2_token_sends_with_xoauth2_and_keeps_the_copy_in_sent(mailbox, imap_account, smtp_server):
    token = imap_account.oauth2_token()  # one token for SMTP and IMAP, as Google and Microsoft issue it
    smtp_server.credentials = None
    smtp_server.require_oauth2(imap_account.username, token)
    sign_in_with_oauth2(mailbox, token)
    introspection = imap_account.server.introspection
    message = send_email(sender=mailbox.owner, mailbox=mailbox, to=["ada@acme.com"], subject="Hello", body_html="x")
    assert send_now() == 1
    assert smtp_server.oauth2_attempts == [(imap_account.username, token)]
    (captured,) = smtp_server.messages
    assert (captured.rcpt_tos, captured.message["Message-ID"]) == (["ada@acme.com"], f"<{message.message_id}>")
    message.refresh_from_db()
    assert (message.status, message.error, message.appended_to_sent) == ("sent", "", True)
    # The copy went to Sent over IMAP, signed in with the same token (Dovecot asked the introspection endpoint).
    assert introspection.calls_for(token) == 1
    assert imap_account.status("Sent")["MESSAGES"] == 1
    assert send_now() == 0 and len(smtp_server.messages) == 1


def test_a_rejected_oauth2_token_keeps_the_message_waiting_with_the_fix_and_it_goes_once_renewed(
    mailbox, imap_account, smtp_server
):
    renewed = imap_account.oauth2_token()
    smtp_server.credentials = None
    smtp_server.require_oauth2(imap_account.username, renewed)
    sign_in_with_oauth2(mailbox, "ya29.expired")
    message = send_email(sender=mailbox.owner, mailbox=mailbox, to=["ada@acme.com"], subject="Hello", body_html="x")
    assert send_now() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts, smtp_server.messages) == ("scheduled", 1, [])
    assert message.error == "the server refused the OAuth2 access token (535): renew the token in the mailbox settings"
    assert smtp_server.oauth2_attempts == [(imap_account.username, "ya29.expired")]
    assert message.data_started_at is None  # nothing reached the server: a retry cannot send it twice
    # The user renews the token: the retry sends it exactly once.
    sign_in_with_oauth2(mailbox, renewed)
    later = message.next_attempt_at + dt.timedelta(seconds=1)
    assert sending.send_due(now=later) == 1
    assert sending.send_due(now=later + dt.timedelta(hours=1)) == 0
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [f"<{message.message_id}>"]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("sent", 2, "")
