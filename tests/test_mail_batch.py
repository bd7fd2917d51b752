"""Storing a synced batch at once (mail.storing.store_batch) keeps every rule of storing one message at a time
(mail.services.store_message): threads by headers within the batch and with mail stored before, stragglers
adopted, the subject fallback, links to people, companies and deals, ignored addresses, attachments, a message
twice in one batch, and the received hooks once per new inbound message after the commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rapport.mail import services
from rapport.mail.models import Attachment, Mailbox, MailFolder, Message, MessageLocation, Thread
from rapport.mail.parsing import parse
from rapport.mail.storing import store_batch

from .conftest import default_pipeline, write
from .mail_servers import make_message

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def scenario() -> list[bytes]:
    """In UID order; the expected threads are worked out in ``test_a_batch_threads_links_and_skips_by_hand``."""
    m = make_message
    return [
        m(subject="Quote", message_id="<1@x>", date=T0),
        m(subject="Re: Quote", sender="me@rapport.test", to="ann@client.example", message_id="<2@x>",
          in_reply_to="<1@x>", references="<1@x>", date=T0 + H),
        m(subject="Fwd: Quote", sender="me@rapport.test", to="boss@rapport.test", message_id="<3@x>",
          references="<1@x> <2@x>", date=T0 + 2 * H),
        m(subject="Re: Other", message_id="<5@x>", in_reply_to="<4@x>", date=T0),  # before its parent
        m(subject="Other", message_id="<4@x>", date=T0 - H),
        m(subject="Pricing", sender="ann@client.example", message_id="<6@x>", date=T0),
        m(subject="RE: pricing", sender="ann@client.example", message_id="<7@x>", date=T0 + 48 * H),
        m(subject="Re: Pricing", sender="bob@else.example", message_id="<8@x>", date=T0 + 48 * H),
        m(subject="Pricing", sender="ann@client.example", message_id="<9@x>", date=T0 + 90 * 24 * H),
        m(subject="Deal talk", sender="Ada <ada@acme.com>", message_id="<10@x>", date=T0),
        m(subject="Weekend", sender="friend@gmail.com", message_id="<11@x>", date=T0),
        m(subject="Quote", message_id="<1@x>", date=T0),  # the same message again, another UID
        m(subject="Contract", sender="ada@acme.com", message_id="<13@x>", date=T0 + H,
          attachments=[("contract.pdf", "application/pdf", b"%PDF-1.4 contract")]),
    ]  # fmt: skip


def inbox(mailbox: Mailbox) -> MailFolder:
    return MailFolder.objects.create(mailbox=mailbox, name="INBOX", role="inbox", uidvalidity=7)


def shape(mailbox: Mailbox) -> dict[str, Any]:
    """What a user sees of the stored mail, independent of row ids."""
    messages = Message.objects.filter(mailbox=mailbox).prefetch_related("people", "companies", "thread__deals")
    threads: dict[int, set[str]] = {}
    for message in messages:
        threads.setdefault(message.thread_id, set()).add(message.message_id)
    return {
        "threads": sorted(sorted(ids) for ids in threads.values()),
        "figures": sorted((t.message_count, t.first_at, t.last_at) for t in Thread.objects.filter(mailbox=mailbox)),
        "links": sorted(
            (
                m.message_id,
                sorted(p.last_name for p in m.people.all()),
                sorted(c.name for c in m.companies.all()),
                sorted(d.title for d in m.thread.deals.all()),
                m.direction,
            )
            for m in messages
        ),  # fmt: skip
        "locations": sorted(
            MessageLocation.objects.filter(message__mailbox=mailbox).values_list("message__message_id", "uid")
        ),
        "attachments": sorted(
            Attachment.objects.filter(message__mailbox=mailbox).values_list("filename", "size", "sha256")
        ),
    }


def batch(mailbox: Mailbox, folder: MailFolder, raws: list[bytes], first_uid: int = 1) -> tuple[int, int]:
    result = store_batch(
        mailbox, folder, [(first_uid + i, parse(raw)) for i, raw in enumerate(raws)], rules=services.IgnoreRules.load()
    )
    return result.stored, result.located


@pytest.fixture
def world(users: dict[str, Any], person: Any) -> Any:
    """Ada (acme.com, Acme) with an open deal; gmail.com ignored."""
    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first()
    deal = {"title": "Big one", "pipeline": pipeline.pk, "stage": stage.pk, "contacts": [{"person": person.pk}]}
    write("deals", deal, actor=users["member"])
    services.add_ignored_address("gmail.com", actor=users["admin"])
    return users["member"]


def mailbox_for(owner: Any) -> Mailbox:
    return Mailbox.objects.create(name="Mine", address="me@rapport.test", owner=owner, imap_host="127.0.0.1",
                                  username="me@rapport.test")  # fmt: skip


@pytest.mark.django_db
def test_a_batch_threads_links_and_skips_by_hand(world: Any) -> None:
    mailbox = mailbox_for(world)
    assert batch(mailbox, inbox(mailbox), scenario()) == (11, 1)
    got = shape(mailbox)
    assert got["threads"] == [
        ["10@x"],
        ["13@x"],
        ["1@x", "2@x", "3@x"],
        ["4@x", "5@x"],
        ["6@x", "7@x"],
        ["8@x"],
        ["9@x"],
    ]
    assert not Message.objects.filter(message_id="11@x").exists()  # gmail.com is ignored
    assert ("1@x", 1) in got["locations"] and ("1@x", 12) in got["locations"]
    links = {row[0]: row[1:] for row in got["links"]}
    assert links["10@x"] == (["Lovelace"], ["Acme"], ["Big one"], "in")
    assert links["13@x"] == (["Lovelace"], ["Acme"], ["Big one"], "in")
    assert links["2@x"] == ([], [], [], "out")
    quote = Thread.objects.get(messages__message_id="1@x")
    assert (quote.message_count, quote.first_at, quote.last_at) == (3, T0, T0 + 2 * H)
    assert got["attachments"][0][:2] == ("contract.pdf", 17)


@pytest.mark.django_db
def test_a_batch_stores_what_storing_one_by_one_stores(world: Any, users: dict[str, Any]) -> None:
    one_by_one = mailbox_for(world)
    folder = inbox(one_by_one)
    for uid, raw in enumerate(scenario(), start=1):
        services.store_message(one_by_one, raw, folder=folder, uid=uid)
    at_once = mailbox_for(users["admin"])
    batch(at_once, inbox(at_once), scenario())
    assert shape(at_once) == shape(one_by_one)


@pytest.mark.django_db
def test_a_batch_joins_threads_stored_by_earlier_batches_and_adopts_their_stragglers(world: Any) -> None:
    mailbox = mailbox_for(world)
    folder = inbox(mailbox)
    m = make_message
    # Two replies to <p@x> arrive first, in two batches (so two threads), then the parent and a reply to it.
    batch(mailbox, folder, [m(subject="Re: Plan", message_id="<r1@x>", in_reply_to="<p@x>", date=T0 + H)], 1)
    batch(mailbox, folder, [m(subject="Re: Plan", message_id="<r2@x>", in_reply_to="<p@x>", date=T0 + 2 * H,
                              sender="zed@else.example")], 2)  # fmt: skip
    assert Thread.objects.filter(mailbox=mailbox).count() == 2
    private = Thread.objects.get(messages__message_id="r2@x")
    services.set_thread_private(private, True, actor=world)
    assert batch(mailbox, folder, [
        m(subject="Plan", message_id="<p@x>", date=T0),
        m(subject="Re: Plan", message_id="<r3@x>", in_reply_to="<r1@x>", references="<p@x> <r1@x>", date=T0 + 3 * H),
    ], 3) == (2, 0)  # fmt: skip
    (thread,) = Thread.objects.filter(mailbox=mailbox)
    assert sorted(thread.messages.values_list("message_id", flat=True)) == ["p@x", "r1@x", "r2@x", "r3@x"]
    assert (thread.message_count, thread.first_at, thread.last_at, thread.private) == (4, T0, T0 + 3 * H, True)
    # Found again in another folder later: a location, not a message.
    sent = MailFolder.objects.create(mailbox=mailbox, name="Sent", role="sent", uidvalidity=9)
    assert batch(mailbox, sent, [m(subject="Plan", message_id="<p@x>", date=T0)], 1) == (0, 1)
    assert Message.objects.filter(mailbox=mailbox).count() == 4


@pytest.mark.django_db(transaction=True)
def test_received_hooks_run_once_per_new_inbound_message_after_the_commit(world: Any) -> None:
    from django.db import transaction

    mailbox = mailbox_for(world)
    folder = inbox(mailbox)
    seen: list[tuple[str, list[str]]] = []
    batches: list[list[str]] = []
    services.RECEIVED_HOOKS.append(
        lambda message: seen.append((message.message_id, [p.last_name for p in message.people.all()]))
    )
    services.RECEIVED_BATCH_HOOKS.append(lambda messages: batches.append([m.message_id for m in messages]))
    try:
        with transaction.atomic():
            batch(mailbox, folder, scenario())
            assert seen == [] and batches == []  # nothing before the commit
    finally:
        services.RECEIVED_HOOKS.pop()
        services.RECEIVED_BATCH_HOOKS.pop()
    # the batch hooks: once, with the same messages in the same order
    assert batches == [[message_id for message_id, _ in seen]]
    # Inbound only (2@x and 3@x are the mailbox's own), once each (1@x twice in the batch), never 11@x.
    assert seen == [
        ("1@x", []), ("5@x", []), ("4@x", []), ("6@x", []), ("7@x", []), ("8@x", []), ("9@x", []),
        ("10@x", ["Lovelace"]), ("13@x", ["Lovelace"]),
    ]  # fmt: skip


@pytest.mark.django_db
def test_a_batch_that_collides_with_another_writer_is_stored_one_by_one(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rapport.mail import storing

    mailbox = mailbox_for(world)
    folder = inbox(mailbox)
    # Compose stored the Sent copy of <2@x> after the batch looked up its Message-IDs: the batch does not see it.
    theirs = services.store_message(mailbox, scenario()[1], direction="out")
    monkeypatch.setattr(storing, "stored_ids", lambda mailbox, ids: {})
    assert batch(mailbox, folder, scenario()[:3]) == (2, 1)
    assert Message.objects.filter(mailbox=mailbox).count() == 3
    assert theirs is not None and list(theirs.locations.values_list("uid", flat=True)) == [2]
    (thread,) = Thread.objects.filter(mailbox=mailbox)
    assert thread.message_count == 3
