"""Emails per rep in the activity report: emails sent during the period, counted for whoever wrote them in
Rapport (even from a shared mailbox) or for the owner of the personal mailbox they were synced from, of the
mail the viewer may read; each figure opens /mail/ on exactly those emails' conversations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from rapport.compose.models import OutgoingMessage
from rapport.mail import crypto, services
from rapport.mail.models import Mailbox, Message

from .conftest import write
from .mail_servers import make_message
from .test_reports_standard import rows, run

Q1_LINK = "sent__after=2026-01-01&sent__before=2026-03-31"


def at(month: int, day: int) -> dt.datetime:
    return dt.datetime(2026, month, day, 10, tzinfo=dt.UTC)


def box(name: str, address: str, **fields: Any) -> Mailbox:
    return Mailbox.objects.create(name=name, address=address, imap_host="imap.example.com", username=address,
                                  secret_encrypted=crypto.encrypt("pw"), **fields)  # fmt: skip


def sent(mailbox: Mailbox, subject: str, when: dt.datetime, to: str = "someone@else.example", **kw: Any) -> Message:
    raw = make_message(sender=mailbox.address, to=to, subject=subject, date=when)
    message = services.store_message(mailbox, raw, direction=kw.get("direction", "out"))
    assert message is not None
    return message


@pytest.fixture
def mail(users: dict[str, Any], teams: dict[str, Any]) -> dict[str, Any]:
    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    write("people", {"first_name": "Ada", "emails": ["ada@acme.com"]}, actor=member)  # the member's team's
    mine = box("Member's", "member@rapport.test", owner=member)
    shared = box("Sales", "sales@rapport.test", shared=True, team=teams["east"])
    theirs = box("Outsider's", "outsider@rapport.test", owner=outsider)
    sent(mine, "M1 proposal", at(1, 10), to="ada@acme.com")
    sent(mine, "M2 follow-up", at(2, 5))
    sent(mine, "M3 after the quarter", at(4, 2))  # not in Q1
    sent(mine, "M4 a reply to me", at(1, 11), direction="in")  # received, not sent
    by_peer = sent(shared, "S1 written by peer", at(2, 1))
    OutgoingMessage.objects.create(sender=peer, mailbox=shared, from_address=shared.address, status="sent",
                                   message_id=by_peer.message_id, stored_message=by_peer, sent_at=at(2, 1))  # fmt: skip
    sent(shared, "S2 sent from elsewhere", at(3, 3))  # a shared mailbox's mail not written in Rapport: nobody's
    sent(theirs, "O1 to their own contact", at(1, 20), to="x@west.example")  # the member may not read it
    sent(theirs, "O2 to Ada", at(2, 20), to="ada@acme.com")  # linked to Ada, whom the member may see
    return users


def test_emails_sent_per_rep_by_hand(mail):
    member, outsider = mail["member"], mail["outsider"]
    emails = {label: values["emails"] for label, values in rows(run("activity", member)).items()}
    # the member reads their own mailbox (M1, M2 in Q1), their team's shared one (S1 by Peer, S2 by nobody)
    # and the outsider's O2, linked to Ada; not O1
    assert emails == {"Member": 2, "Peer": 1, "Outsider": 1, "Nobody": 1}
    assert run("activity", member)["summary"]["emails"] == 5
    # the outsider reads only their own mailbox: O1 and O2
    assert {k: v["emails"] for k, v in rows(run("activity", outsider)).items()} == {"Outsider": 2}
    # the team filter keeps the team's senders; the owner filter one sender
    east = str(mail["member"].team_id)
    assert {k: v["emails"] for k, v in rows(run("activity", member, f"{Q1_PERIOD}&team={east}")).items()} == {
        "Member": 2,
        "Peer": 1,
    }
    owner = f"{Q1_PERIOD}&owner={member.pk}"
    assert {k: v["emails"] for k, v in rows(run("activity", member, owner)).items()} == {"Member": 2}


Q1_PERIOD = "period=custom&start=2026-01-01&end=2026-03-31"


def listed(client: Client, url: str) -> tuple[set[str], str]:
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    subjects = {s for s in ("M1", "M2", "M3", "M4", "S1", "S2", "O1", "O2") if f">{s} " in html}
    return subjects, html


def test_each_figure_opens_its_emails(mail):
    member = mail["member"]
    client = Client()
    client.force_login(member)
    links = {row["label"]: row["links"] for row in run("activity", member)["rows"]}
    assert links["Member"]["emails"] == f"/mail/?sent_by={member.pk}&{Q1_LINK}"
    subjects, html = listed(client, links["Member"]["emails"])
    assert subjects == {"M1", "M2"} and "2 emails sent by Member" in html
    assert listed(client, links["Peer"]["emails"])[0] == {"S1"}
    assert listed(client, links["Nobody"]["emails"])[0] == {"S2"}
    assert listed(client, links["Outsider"]["emails"])[0] == {"O2"}  # never O1, which the member may not read
    # a period without any: said so, not "No mail yet"
    none, html = listed(client, f"/mail/?sent_by={member.pk}&sent__after=2025-01-01&sent__before=2025-12-31")
    assert none == set() and "No emails sent by Member in this period that you may read." in html
    assert "No mail yet" not in html
    assert "calls" not in links["Member"] or links["Member"]["calls"].startswith("/activities/")


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("sent__after=2026-02-30", "sent__after: 2026-02-30 is not a day of the calendar."),
        ("sent__before=9999-12-31", "sent__before: 9999-12-31: use a year from 1800 to 2999."),
        ("sent_by=abc", "sent_by: use a user&#x27;s id, or none."),
        ("sent_by=999999", "sent_by: there is no such user."),
        ("sent_by=1%002", "sent_by: Null characters are not allowed."),
    ],
)
def test_bad_mail_filters_are_named(mail, query, says):
    client = Client()
    client.force_login(mail["member"])
    response = client.get(f"/mail/?{query}")
    assert response.status_code == 400 and says in response.content.decode()
