"""A workflow rule's "send an email" action with an email template goes the real way: rendered by compose's
merge for the record as the sender sees it, queued by compose's ``send_email`` and sent by its sender to an SMTP
server on loopback (tests/mail_servers.py)."""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from rapport.automation import engine
from rapport.automation.models import RuleRun
from rapport.compose import sending
from rapport.compose import services as compose
from rapport.compose.models import OutgoingMessage

from .conftest import write
from .test_automation import rule, settle


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


@pytest.fixture
def org_smtp(smtp_server: Any) -> Any:
    """The organisation's SMTP server (no mailbox): the loopback server."""
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST=smtp_server.host,
        EMAIL_PORT=smtp_server.port,
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="",
        EMAIL_USE_TLS=False,
        EMAIL_USE_SSL=False,
        RAPPORT_MAIL_DAILY_CAP=0,
    ):
        yield smtp_server


def test_a_rule_sends_an_email_template_through_compose_to_a_real_smtp_server(
    users: dict[str, Any], org_smtp: Any
) -> None:
    member = users["member"]
    member.email, member.first_name, member.last_name = "mia@rapport.test", "Mia", "Member"
    member.save()
    template = compose.create_template(
        actor=users["admin"],
        name="Welcome",
        subject="Welcome, {{ person.first_name }}",
        body="Hello {{ person.first_name }},\n\nI am **{{ sender.first_name }}**, your contact at Rapport.",
        shared=True,
    )
    r = rule(
        users["admin"],
        name="Welcome new people",
        actions=[{"type": "send_email", "params": {"to": ["record"], "template": template.pk}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@acme.com"]}, actor=member)
    settle()
    (run,) = RuleRun.objects.filter(rule=r)
    assert run.status == "succeeded", run.outcomes
    assert run.outcomes[0]["message"] == "Email “Welcome, Ada” queued to ada@acme.com."
    (message,) = OutgoingMessage.objects.all()
    assert (message.sender_id, message.template_id, message.record_type, message.record_id) == (
        member.pk,
        template.pk,
        "people",
        person.pk,
    )
    # Nothing reaches the server until compose's sender runs (the send job, enqueued on commit).
    assert org_smtp.messages == []
    assert sending.send_due(now=timezone.now() + dt.timedelta(seconds=1)) == 1
    (captured,) = org_smtp.wait_for(1)
    assert captured.rcpt_tos == ["ada@acme.com"]
    got = captured.message
    assert got["Subject"] == "Welcome, Ada" and got["To"] == "ada@acme.com"
    assert parseaddr(got["From"]) == ("Mia Member via Rapport", "rapport@localhost")
    assert got["Reply-To"] == "mia@rapport.test"
    html = next(p for p in got.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    assert "<p>Hello Ada,</p>" in html and "<strong>Mia</strong>" in html
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    # Run again (at least once): the run is done, nothing is sent twice.
    settle()
    assert sending.send_due(now=timezone.now() + dt.timedelta(seconds=1)) == 0 and len(org_smtp.messages) == 1


def test_a_template_the_sender_may_not_use_fails_the_action_naming_it(users: dict[str, Any], org_smtp: Any) -> None:
    private = compose.create_template(actor=users["admin"], name="Mine", subject="Private", body="x")
    r = rule(
        users["admin"],
        name="Private template",
        actions=[{"type": "send_email", "params": {"to": ["record"], "template": private.pk}}],
    )
    write("people", {"first_name": "Ada", "last_name": "L", "emails": ["ada@acme.com"]}, actor=users["member"])
    settle()
    (run,) = RuleRun.objects.filter(rule=r)
    assert run.status == "retrying"
    assert run.outcomes[0]["message"] == f"There is no email template #{private.pk} the sender may use."
    assert not OutgoingMessage.objects.exists()
