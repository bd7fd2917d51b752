"""Outgoing mail: RAPPORT_EMAIL_URL, a real SMTP server on loopback (aiosmtpd, started here), retries with
backoff that give up after a limit, failures shown on /settings/outbox/, and the embedded default (no server:
nothing is tried, the emails wait) instead of retrying localhost:25 forever."""

from __future__ import annotations

import datetime as dt
import re
import socket
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.test import override_settings
from django.utils import timezone
from freezegun import freeze_time

from rapport.activities.models import OutgoingEmail
from rapport.activities.outbox import flush_outbox, pause_after
from rapport.settings.base import NO_SERVER_BACKEND, SMTP_BACKEND, parse_email_url


# --- RAPPORT_EMAIL_URL -------------------------------------------------------------------------------
def test_an_smtp_url_with_credentials_and_starttls():
    assert parse_email_url("smtp://ann%40example.com:p%3Ass@mail.example.com?starttls=1&timeout=5") == {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "ann@example.com",
        "EMAIL_HOST_PASSWORD": "p:ss",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": True,
        "EMAIL_TIMEOUT": 5.0,
    }


def test_smtps_is_tls_from_the_start_and_plain_smtp_has_its_own_port():
    smtps = parse_email_url("smtps://u:p@mail.example.com")
    assert (smtps["EMAIL_PORT"], smtps["EMAIL_USE_SSL"], smtps["EMAIL_USE_TLS"]) == (465, True, False)
    plain = parse_email_url("smtp://relay.internal")
    assert (plain["EMAIL_PORT"], plain["EMAIL_USE_SSL"], plain["EMAIL_USE_TLS"], plain["EMAIL_HOST_USER"]) == (
        25,
        False,
        False,
        "",
    )
    assert parse_email_url("smtp://relay.internal:2525")["EMAIL_PORT"] == 2525


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com?ssl=1", "unknown option ssl"),
        ("smtp://mail.example.com?starttls=maybe", "starttls must be 1 or 0"),
        ("smtps://mail.example.com?starttls=1", "smtps:// is TLS from the start"),
        ("smtp://mail.example.com:99999", "RAPPORT_EMAIL_URL"),
    ],
)
def test_a_wrong_url_stops_the_start_naming_the_mistake(url, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        parse_email_url(url)


def test_the_settings_read_the_url_and_without_one_send_nothing():
    """In a fresh process: without RAPPORT_EMAIL_URL no server is tried; with one, Django's SMTP backend."""
    import os
    import subprocess
    import sys

    show = "from django.conf import settings as s; print(s.EMAIL_BACKEND, getattr(s, 'EMAIL_HOST', ''), s.EMAIL_PORT)"
    env = {k: v for k, v in os.environ.items() if k != "RAPPORT_EMAIL_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "rapport.settings.base"

    def settings_with(**extra: str) -> str:
        code = f"import django; django.setup(); {show}"
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert settings_with() == f"{NO_SERVER_BACKEND} localhost 25"
    assert settings_with(RAPPORT_EMAIL_URL="smtps://u:p@mail.example.com") == f"{SMTP_BACKEND} mail.example.com 465"


# --- a real SMTP server on loopback ----------------------------------------------------------------
class Catcher:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "message": message_from_bytes(envelope.content),
                "login": getattr(session, "auth_data", None),
            }
        )
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = auth_data.login == b"ann" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, auth_data=auth_data.login.decode() if ok else None)


@pytest.fixture
def smtp_server():
    catcher = Catcher()
    controller = Controller(
        catcher,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticate,
        auth_require_tls=False,  # loopback only, in a test
    )
    controller.start()
    yield controller, catcher
    controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def queue(n: int = 1, to: str = "ada@example.com") -> list[OutgoingEmail]:
    return [
        OutgoingEmail.objects.create(key=f"test:{i}:{to}", to=to, subject=f"Reminder {i}", body=f"Call Ada ({i}).")
        for i in range(n)
    ]


def test_emails_go_through_the_configured_server_with_its_credentials(db, smtp_server):
    controller, catcher = smtp_server
    queue(2)
    url = f"smtp://ann:s3cret@127.0.0.1:{controller.port}"
    with override_settings(**parse_email_url(url), DEFAULT_FROM_EMAIL="Rapport <crm@example.com>"):
        assert flush_outbox() == 2
        assert flush_outbox() == 0  # sent once
    assert [m["message"]["Subject"] for m in catcher.messages] == ["Reminder 0", "Reminder 1"]
    first = catcher.messages[0]
    assert first["to"] == ["ada@example.com"] and first["from"] == "crm@example.com"
    assert first["message"]["From"] == "Rapport <crm@example.com>"
    assert first["message"].get_payload().strip() == "Call Ada (0)."
    assert first["login"] == "ann"
    assert all(e.sent_at is not None and e.attempts == 0 for e in OutgoingEmail.objects.all())


def test_wrong_credentials_fail_the_attempt_and_wait(db, smtp_server):
    controller, catcher = smtp_server
    (email,) = queue(1)
    with override_settings(**parse_email_url(f"smtp://ann:wrong@127.0.0.1:{controller.port}?timeout=3")):
        assert flush_outbox() == 0
    email.refresh_from_db()
    # smtplib tries each mechanism the server offers; aiosmtpd refuses PLAIN and then lets LOGIN time out
    assert email.sent_at is None and email.attempts == 1 and email.error.startswith("SMTP")
    assert catcher.messages == []


def test_when_the_server_is_down_a_run_stops_at_the_first_email(db):
    """One connection attempt per run, not one per waiting email: the others keep their turn and attempts."""
    first, second = queue(2)
    with override_settings(**parse_email_url(f"smtp://127.0.0.1:{free_port()}?timeout=2")):
        assert flush_outbox() == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.attempts == 1 and "ConnectionRefusedError" in first.error
    assert (second.attempts, second.error, second.sent_at) == (0, "", None)


def test_a_server_that_is_not_there_is_retried_with_backoff_then_given_up_and_shown(db, client, users):
    """Nothing listens on the port: the email is tried again 1, 2, 4 … minutes later; after
    RAPPORT_EMAIL_MAX_ATTEMPTS it is failed, listed with its error, and Retry queues it again."""
    (first,) = queue(1)
    start = timezone.now()
    settings = {**parse_email_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"), "RAPPORT_EMAIL_MAX_ATTEMPTS": 4}
    with override_settings(**settings):
        with freeze_time(start):
            assert flush_outbox() == 0
        first.refresh_from_db()
        assert first.attempts == 1 and first.next_attempt_at == start + dt.timedelta(minutes=1)
        assert "ConnectionRefusedError" in first.error
        with freeze_time(start + dt.timedelta(seconds=59)):
            flush_outbox()  # not due yet
        first.refresh_from_db()
        assert first.attempts == 1
        for minutes, attempts in ((1, 2), (3, 3)):  # due 1 min after the 1st attempt, 2 min after the 2nd
            with freeze_time(start + dt.timedelta(minutes=minutes)):
                flush_outbox()
            first.refresh_from_db()
            assert first.attempts == attempts and first.failed_at is None
        assert first.next_attempt_at == start + dt.timedelta(minutes=3 + 4)
        with freeze_time(start + dt.timedelta(minutes=7)):
            flush_outbox()
        first.refresh_from_db()
        assert first.attempts == 4 and first.failed_at == start + dt.timedelta(minutes=7)
        with freeze_time(start + dt.timedelta(days=1)):
            flush_outbox()
        first.refresh_from_db()
        assert first.attempts == 4  # given up: never tried again by itself
    assert [pause_after(n) for n in (1, 2, 3, 10, 20)] == [
        dt.timedelta(minutes=1),
        dt.timedelta(minutes=2),
        dt.timedelta(minutes=4),
        dt.timedelta(hours=6),
        dt.timedelta(hours=6),
    ]
    client.force_login(users["admin"])
    page = client.get("/settings/outbox/?state=failed")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ada@example.com" in text and "Reminder 0" in text and "ConnectionRefusedError" in text
    retried = client.post(f"/settings/outbox/{first.pk}/retry/")
    assert retried.status_code == 302
    first.refresh_from_db()
    assert (first.failed_at, first.attempts, first.next_attempt_at) == (None, 0, None)
    assert client.post(f"/settings/outbox/{first.pk}/retry/").status_code == 404  # not failed any more


@override_settings(EMAIL_BACKEND=NO_SERVER_BACKEND)
def test_the_embedded_default_keeps_emails_waiting_and_shows_them(db, client, users, django_assert_num_queries):
    (email,) = queue(1)
    with django_assert_num_queries(0):
        assert flush_outbox() == 0  # nothing tried, nothing written, every minute
    email.refresh_from_db()
    assert (email.sent_at, email.attempts, email.error, email.failed_at) == (None, 0, "", None)
    client.force_login(users["admin"])
    with django_assert_num_queries(5):  # session, user, its role, the page's ids, the emails
        page = client.get("/settings/outbox/")
    text = page.content.decode()
    assert "No mail server is configured" in text and "RAPPORT_EMAIL_URL" in text
    assert "ada@example.com" in text and "when a server is set" in text


def test_the_outbox_is_for_administrators_only(db, client, users):
    client.force_login(users["member"])
    assert client.get("/settings/outbox/").status_code == 403
    (email,) = queue(1)
    assert client.post(f"/settings/outbox/{email.pk}/retry/").status_code == 403


def test_the_outbox_escapes_what_it_shows(db, client, users):
    OutgoingEmail.objects.create(
        key="x", to="a@example.com", subject="<script>alert(1)</script>", body="", error="<b>bad</b>",
        attempts=8, failed_at=timezone.now(),
    )  # fmt: skip
    client.force_login(users["admin"])
    text = client.get("/settings/outbox/?state=failed").content.decode()
    assert "<script>alert(1)" not in text and "&lt;script&gt;" in text and "&lt;b&gt;bad" in text


def test_the_outbox_pages_through_every_email_newest_first(db, client, users):
    base = timezone.now() - dt.timedelta(days=1)
    for n in range(7):
        OutgoingEmail.objects.create(
            key=f"s{n}", to=f"p{n}@example.com", subject=f"Sent {n}", body="", sent_at=base + dt.timedelta(minutes=n)
        )
    client.force_login(users["admin"])
    first = client.get("/settings/outbox/?state=sent&page_size=3").content.decode()
    # Newest first: 6, 5, 4 on the first page, then 3, 2, 1, then 0.
    assert [n for n in range(7) if f"p{n}@example.com" in first] == [4, 5, 6]
    assert 'rel="next"' in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get("/settings/outbox/" + next_url).content.decode()
    assert [n for n in range(7) if f"p{n}@example.com" in second] == [1, 2, 3]
    third = client.get(
        "/settings/outbox/" + re.search(r'href="([^"]+)" rel="next"', second).group(1).replace("&amp;", "&")
    )
    assert [n for n in range(7) if f"p{n}@example.com" in third.content.decode()] == [0]
    assert client.get("/settings/outbox/?state=sent&cursor=nonsense").status_code == 400
