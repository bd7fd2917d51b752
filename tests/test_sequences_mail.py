"""A sequence stops when the recipient's reply arrives in the synced mailbox, end to end with real servers: the
steps go out over SMTP to the aiosmtpd fixture and are stored through mail.services.store_message (as compose
does for sent mail); the reply is appended to the Dovecot INBOX, fetched over IMAP and stored through
store_message (what the sync does for each new message), whose RECEIVED_HOOKS stop the enrolment; no further
email reaches the SMTP server."""

from __future__ import annotations

import smtplib
from email.utils import make_msgid
from types import SimpleNamespace
from typing import Any

import pytest

from rapport.mail import services as mail_services
from rapport.mail.models import Mailbox, MailFolder, Message
from rapport.sequences import mailer, services
from rapport.sequences.models import Enrolment

from .mail_servers import make_message
from .test_sequences import (
    MONDAY,
    sender,  # noqa: F401 - fixture
    three_steps,
    utc,
)

pytestmark = pytest.mark.mail_server


class SmtpCompose:
    """compose.services.send_email's contract over a real SMTP server: the message goes out with its own
    Message-ID (In-Reply-To/References to the previous step) and is stored as sent mail by store_message."""

    def __init__(self, mailbox: Mailbox, smtp: Any) -> None:
        self.mailbox, self.smtp = mailbox, smtp

    def send_email(self, **kwargs: Any) -> Any:
        previous = kwargs["in_reply_to"]
        raw = make_message(
            subject=kwargs["subject"],
            sender=self.mailbox.address,
            to=kwargs["to"],
            body=kwargs["body_html"],
            message_id=make_msgid(domain="rapport.test"),
            in_reply_to=f"<{previous.message_id}>" if previous is not None else None,
            references=f"<{previous.message_id}>" if previous is not None else None,
        )
        with smtplib.SMTP(self.smtp.host, self.smtp.port) as client:
            client.sendmail(self.mailbox.address, kwargs["to"], raw)
        message = mail_services.store_message(self.mailbox, raw, direction="out")
        assert message is not None
        return SimpleNamespace(pk=message.pk)

    def sent_message(self, outgoing_id: int | None) -> Message | None:
        return Message.objects.filter(pk=outgoing_id).first() if outgoing_id else None

    def enrolments_in_thread(self, thread_id: int) -> set[int]:
        from rapport.sequences.models import StepRun

        out = list(Message.objects.filter(thread_id=thread_id, direction="out").values_list("pk", flat=True))
        return set(StepRun.objects.filter(outgoing_id__in=out).values_list("enrolment_id", flat=True))

    def is_suppressed(self, address: str) -> bool:
        return False


def fetch_new(account: Any, mailbox: Mailbox, folder: MailFolder) -> list[Message]:
    """What the sync does for INBOX: fetch the messages after the last UID and store each."""
    imap = account.client()
    try:
        imap.select("INBOX")
        _, data = imap.uid("search", None, f"UID {folder.last_uid + 1}:*")
        stored = []
        for uid in [int(u) for u in data[0].split() if int(u) > folder.last_uid]:
            _, parts = imap.uid("fetch", str(uid), "(RFC822)")
            raw = next(p[1] for p in parts if isinstance(p, tuple))
            message = mail_services.store_message(mailbox, raw, folder=folder, uid=uid)
            if message is not None:
                stored.append(message)
            folder.last_uid = uid
        folder.save()
        return stored
    finally:
        imap.logout()


@pytest.mark.django_db(transaction=True)
def test_the_recipients_reply_in_the_synced_mailbox_stops_the_sequence(
    imap_account,
    smtp_server,
    sender,  # noqa: F811 - the fixture imported above
    person,
    monkeypatch,
):
    mailbox = Mailbox.objects.create(
        name="Member",
        address="member@ours.example",
        owner=sender,
        imap_host=imap_account.host,
        imap_port=imap_account.port,
        imap_security="none",
        username=imap_account.username,
    )
    inbox = MailFolder.objects.create(mailbox=mailbox, name="INBOX", role="inbox")
    compose = SmtpCompose(mailbox, smtp_server)
    for name in ("send_email", "sent_message", "enrolments_in_thread", "is_suppressed"):
        monkeypatch.setattr(mailer, name, getattr(compose, name))
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled

    assert services.run_due_steps(MONDAY)["sent"] == 1
    (first,) = smtp_server.wait_for(1)
    assert first.rcpt_tos == ["ada@acme.com"] and first.message["Subject"] == "Hello Ada"
    step_message_id = first.message["Message-ID"]

    # Ada answers; the reply lands in the mailbox on the IMAP server and the sync stores it.
    imap_account.append(
        make_message(
            subject="Re: Hello Ada",
            sender="Ada Lovelace <ada@acme.com>",
            to=mailbox.address,
            body="Yes, let's talk on Thursday.",
            in_reply_to=step_message_id,
            references=step_message_id,
            date=utc(2026, 12, 1, 9),
        )
    )
    (reply,) = fetch_new(imap_account, mailbox, inbox)
    assert reply.direction == "in" and reply.thread_id == Message.objects.get(direction="out").thread_id
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == ("stopped", "replied")

    # The task and the second email never happen, whatever the job runs later.
    for day in (2, 3, 4, 7):
        services.run_due_steps(utc(2026, 12, day, 12))
    assert len(smtp_server.messages) == 1
    assert Enrolment.objects.get().position == 1
