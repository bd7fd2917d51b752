"""The loopback mail servers the mail tests use (tests/mail_servers.py) behave like the real thing."""

from __future__ import annotations

import imaplib
import smtplib
from typing import Any

import pytest

from .mail_servers import make_message


def test_dovecot_appends_reports_status_and_changes_uidvalidity(imap_account: Any) -> None:
    first = imap_account.append(make_message(subject="one"))
    second = imap_account.append(make_message(subject="two"))
    assert (first, second) == (1, 2)
    status = imap_account.status("INBOX")
    assert (status["MESSAGES"], status["UIDNEXT"]) == (2, 3)
    new = imap_account.set_uidvalidity("INBOX")
    assert new == status["UIDVALIDITY"] + 1000
    imap_account.move(2, "INBOX", "Archive")
    assert imap_account.status("INBOX")["MESSAGES"] == 1
    assert imap_account.status("Archive")["MESSAGES"] == 1


def test_each_account_is_separate(dovecot: Any) -> None:
    a, b = dovecot.add_user(), dovecot.add_user()
    a.append(make_message())
    assert (a.status()["MESSAGES"], b.status()["MESSAGES"]) == (1, 0)


def test_dovecot_signs_in_with_an_oauth2_token_its_introspection_endpoint_vouches_for(dovecot: Any) -> None:
    account, other = dovecot.add_user(), dovecot.add_user()
    token = account.oauth2_token()
    for mechanism in ("XOAUTH2", "OAUTHBEARER"):
        imap = dovecot.imap_oauth2_login(account.username, token, mechanism)
        assert imap.select("INBOX")[0] == "OK"
        imap.logout()
    assert dovecot.introspection.calls_for(token) == 2  # asked once per sign-in, nothing cached
    # A token presented for another user and a revoked (expired) one are refused; the password still works.
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        dovecot.imap_oauth2_login(other.username, token)
    assert dovecot.introspection.calls_for(token) == 3
    dovecot.introspection.revoke(token)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        dovecot.imap_oauth2_login(account.username, token)
    assert dovecot.introspection.calls_for(token) == 4
    account.client().logout()  # (Dovecot delays each sign-in after a failure from the same address by seconds)
    assert dovecot.introspection.calls_for(account.password) == 0  # a password never goes to the token check


def test_smtp_server_captures_what_is_sent_and_can_require_auth(smtp_server: Any) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.sendmail("me@rapport.test", ["ann@client.example"], make_message(subject="Sent"))
    [captured] = smtp_server.wait_for(1)
    assert (captured.mail_from, captured.rcpt_tos, captured.message["Subject"]) == (
        "me@rapport.test",
        ["ann@client.example"],
        "Sent",
    )
    smtp_server.require_auth("me", "pw")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        try:
            client.sendmail("me@rapport.test", ["x@y.example"], b"Subject: no\r\n\r\nno")
            refused = False
        except smtplib.SMTPRecipientsRefused:
            refused = True
        assert refused
        client.login("me", "pw")
        client.sendmail("me@rapport.test", ["x@y.example"], b"Subject: yes\r\n\r\nyes")
    assert len(smtp_server.wait_for(2)) == 2
