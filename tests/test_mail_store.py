"""Storing mail (mail.services.store_message): dedup by Message-ID, threading, linking to people, companies and
deals, the ignored-address rule, sanitised HTML, attachments and limits, the dropbox, visibility; and the
encryption of mailbox secrets (mail.crypto)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command

from rapport.mail import crypto, services
from rapport.mail.models import Attachment, IgnoredAddress, Mailbox, MailFolder, Message, MessageLocation, Thread
from rapport.mail.queries import visible_messages, visible_threads

from .conftest import write
from .mail_servers import make_message

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def mailbox_for(user: Any, address: str = "me@rapport.test", **extra: Any) -> Mailbox:
    return Mailbox.objects.create(
        name="Mine", address=address, owner=user, imap_host="127.0.0.1", username=address, **extra
    )


@pytest.fixture
def mailbox(users: dict[str, Any]) -> Mailbox:
    return mailbox_for(users["member"])


# --- crypto --------------------------------------------------------------------------------------------
def test_secrets_round_trip_and_are_not_stored_in_clear(settings: Any) -> None:
    settings.RAPPORT_MAIL_KEY = crypto.generate_key()
    token = crypto.encrypt("p4ssw0rd")
    assert "p4ssw0rd" not in token
    assert crypto.decrypt(token) == "p4ssw0rd"
    assert crypto.encrypt("") == "" and crypto.decrypt("") == ""


def test_the_default_key_is_derived_from_the_secret_key(settings: Any) -> None:
    settings.RAPPORT_MAIL_KEY = ""
    assert crypto.keys() == [crypto.derived_key(settings.SECRET_KEY)]
    token = crypto.encrypt("x")
    settings.SECRET_KEY = "another secret key entirely, 50 characters long......"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


@pytest.mark.django_db
def test_rotation_reencrypts_every_secret_with_the_newest_key(settings: Any, users: dict[str, Any]) -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    settings.RAPPORT_MAIL_KEY = old
    box = mailbox_for(users["member"], secret_encrypted=crypto.encrypt("pw"))
    settings.RAPPORT_MAIL_KEY = f"{new},{old}"
    assert crypto.decrypt(box.secret_encrypted) == "pw"  # old secrets still open during the rollout
    call_command("mail_rotate_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    box.refresh_from_db()
    settings.RAPPORT_MAIL_KEY = new  # the old key dropped
    assert crypto.decrypt(box.secret_encrypted) == "pw"


def test_a_malformed_key_is_refused_with_the_fix(settings: Any) -> None:
    settings.RAPPORT_MAIL_KEY = "not-a-key"
    with pytest.raises(ValueError, match="rapport mail_rotate_key --new-key"):
        crypto.encrypt("x")


# --- dedup, locations ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_same_message_in_inbox_and_sent_is_one_message_with_two_locations(mailbox: Mailbox) -> None:
    inbox = MailFolder.objects.create(mailbox=mailbox, name="INBOX", role="inbox", uidvalidity=7)
    sent = MailFolder.objects.create(mailbox=mailbox, name="Sent", role="sent", uidvalidity=9)
    raw = make_message(sender="me@rapport.test", to="me@rapport.test", message_id="<self@x>", date=T0)
    first = services.store_message(mailbox, raw, folder=inbox, uid=3)
    second = services.store_message(mailbox, raw, folder=sent, uid=1)
    assert first is not None and second is not None and first.pk == second.pk
    assert Message.objects.count() == 1
    assert sorted(MessageLocation.objects.values_list("folder__name", "uid", "uidvalidity")) == [
        ("INBOX", 3, 7),
        ("Sent", 1, 9),
    ]
    assert first.direction == "out"  # the mailbox's own address sent it


@pytest.mark.django_db
def test_received_hooks_run_after_commit_for_new_received_mail_only(
    mailbox: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    seen: list[str] = []
    services.RECEIVED_HOOKS.append(lambda m: seen.append(m.message_id))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.store_message(mailbox, make_message(message_id="<a@x>"))
            services.store_message(mailbox, make_message(message_id="<a@x>"))  # a duplicate: no hook
            services.store_message(mailbox, make_message(sender="me@rapport.test", message_id="<b@x>"))  # sent
    finally:
        services.RECEIVED_HOOKS.pop()
    assert seen == ["a@x"]


# --- threading -----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_replies_and_forwards_thread_by_headers_and_stragglers_are_adopted(mailbox: Mailbox) -> None:
    store = services.store_message
    root = store(mailbox, make_message(subject="Quote", message_id="<1@x>", date=T0))
    reply = store(
        mailbox,
        make_message(
            subject="Re: Quote", sender="me@rapport.test", to="ann@client.example", message_id="<2@x>",
            in_reply_to="<1@x>", references="<1@x>", date=T0 + dt.timedelta(hours=1),
        ),
    )  # fmt: skip
    forward = store(
        mailbox,
        make_message(
            subject="Fwd: Quote", sender="me@rapport.test", to="boss@rapport.test", message_id="<3@x>",
            references="<1@x> <2@x>", date=T0 + dt.timedelta(hours=2),
        ),
    )  # fmt: skip
    # A reply to a message not stored yet opens its own thread, then joins when the parent arrives.
    late_child = store(mailbox, make_message(subject="Re: Other", message_id="<5@x>", in_reply_to="<4@x>", date=T0))
    late_parent = store(mailbox, make_message(subject="Other", message_id="<4@x>", date=T0 - dt.timedelta(hours=1)))
    assert root and reply and forward and late_child and late_parent
    assert reply.thread_id == root.thread_id == forward.thread_id
    late_child.refresh_from_db()
    assert late_child.thread_id == late_parent.thread_id != root.thread_id
    assert Thread.objects.count() == 2
    thread = Thread.objects.get(pk=root.thread_id)
    assert (thread.message_count, thread.first_at, thread.last_at) == (3, T0, T0 + dt.timedelta(hours=2))


@pytest.mark.django_db
def test_subject_fallback_needs_a_common_participant_and_the_time_window(mailbox: Mailbox) -> None:
    store = services.store_message
    first = store(mailbox, make_message(subject="Pricing", sender="ann@client.example", date=T0))
    # A client that drops In-Reply-To: same subject, same person, two days later: one thread.
    again = store(
        mailbox, make_message(subject="RE: pricing", sender="ann@client.example", date=T0 + dt.timedelta(days=2))
    )
    # Same subject from someone else: another conversation.
    other = store(
        mailbox, make_message(subject="Re: Pricing", sender="bob@else.example", date=T0 + dt.timedelta(days=2))
    )
    # Same person, but months later: another conversation.
    later = store(
        mailbox, make_message(subject="Pricing", sender="ann@client.example", date=T0 + dt.timedelta(days=90))
    )
    assert first and again and other and later
    assert again.thread_id == first.thread_id
    assert len({first.thread_id, other.thread_id, later.thread_id}) == 3


# --- linking -------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_messages_link_to_people_by_any_address_and_to_companies_by_people_and_domain(
    mailbox: Mailbox, users: dict[str, Any], person: Any, company: Any
) -> None:
    actor = users["member"]
    write("people", {"emails": ["grace@navy.example", "G.Hopper@Home.example"], "last_name": "Hopper"}, actor=actor)
    navy = write("companies", {"name": "Navy", "domain": "navy.example"}, actor=actor)
    message = services.store_message(
        mailbox,
        make_message(
            sender="Ada <ada@acme.com>", to="me@rapport.test", cc=["g.hopper@home.example", "x@gmail.com"],
            subject="Hi",
        ),
    )  # fmt: skip
    assert message is not None
    assert sorted(p.last_name for p in message.people.all()) == ["Hopper", "Lovelace"]
    # Acme through Ada (and its domain); Navy only by domain would need a navy.example address: not here.
    assert sorted(c.name for c in message.companies.all()) == ["Acme"]
    by_domain = services.store_message(mailbox, make_message(sender="someone@navy.example", subject="Hello"))
    assert by_domain is not None and list(by_domain.companies.all()) == [navy]


@pytest.mark.django_db
def test_a_thread_links_to_the_open_deals_of_its_people(mailbox: Mailbox, users: dict[str, Any], person: Any) -> None:
    from .conftest import default_pipeline

    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first()
    deal = write(
        "deals",
        {"title": "Big one", "pipeline": pipeline.pk, "stage": stage.pk, "contacts": [{"person": person.pk}]},
        actor=users["member"],
    )
    message = services.store_message(mailbox, make_message(sender="ada@acme.com"))
    assert message is not None and list(message.thread.deals.all()) == [deal]


# --- privacy -------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_ignored_addresses_and_domains_are_never_stored(mailbox: Mailbox, users: dict[str, Any]) -> None:
    services.add_ignored_address("Gmail.com", actor=users["admin"])
    services.add_ignored_address("hr@rapport.test", actor=users["admin"])
    assert sorted(IgnoredAddress.objects.values_list("pattern", flat=True)) == ["gmail.com", "hr@rapport.test"]
    assert services.store_message(mailbox, make_message(sender="friend@gmail.com")) is None
    assert services.store_message(mailbox, make_message(sender="friend@mail.gmail.com")) is None
    assert services.store_message(mailbox, make_message(sender="me@rapport.test", to="hr@rapport.test")) is None
    # A client's mail that also copies an ignored address is stored (the client is not ignored).
    kept = services.store_message(mailbox, make_message(sender="ann@client.example", cc="friend@gmail.com"))
    assert kept is not None
    assert Message.objects.count() == 1
    with pytest.raises(ValueError):
        services.normalize_pattern("not a pattern")


@pytest.mark.django_db
def test_visibility_follows_the_mailbox_owner_linked_records_and_private_threads(
    users: dict[str, Any], person: Any
) -> None:
    owner, peer, outsider = users["member"], users["peer"], users["outsider"]
    box = mailbox_for(owner)
    linked = services.store_message(box, make_message(sender="ada@acme.com", subject="About Acme"))
    unlinked = services.store_message(box, make_message(sender="stranger@nowhere.example", subject="Personal"))
    assert linked and unlinked
    assert set(visible_messages(owner)) == {linked, unlinked}
    assert set(visible_messages(peer)) == {linked}  # sees Ada (same team), not the unlinked mail
    assert set(visible_messages(outsider)) == set()  # Ada belongs to another team
    services.set_thread_private(linked.thread, True, actor=owner)
    assert set(visible_messages(peer)) == set()
    assert set(visible_threads(owner)) == {linked.thread, unlinked.thread}
    assert set(visible_messages(users["admin"])) == set()  # admins do not read private mail either


# --- display safety and limits -------------------------------------------------------------------------
@pytest.mark.django_db
def test_hostile_html_is_sanitised_when_stored(mailbox: Mailbox) -> None:
    html = (
        '<p onclick="steal()" style="color: red; width: expression(alert(1))">Hi'
        '<script>alert(1)</script><a href="javascript:alert(1)">x</a>'
        '<img src="https://tracker.example/p.gif" onerror="x()">'
        f'<img src="data:image/png;base64,{"A" * 100_000}"></p><style>p{{x:1}}</style>'
    )
    message = services.store_message(mailbox, make_message(html=html))
    assert message is not None
    assert message.body_html == (
        '<p style="color: red">Hi<a rel="noopener noreferrer nofollow">x</a>'
        '<img data-remote-src="https://tracker.example/p.gif"><img></p>'
    )
    assert message.has_remote_images


@pytest.mark.django_db
def test_attachments_are_stored_and_limits_say_so(mailbox: Mailbox, settings: Any) -> None:
    settings.RAPPORT_MAIL_MAX_ATTACHMENT_BYTES = 1000
    raw = make_message(
        attachments=[
            ("small.pdf", "application/pdf", b"%PDF-1" + b"x" * 10),
            ("big.zip", "application/zip", b"z" * 2000),
        ]
    )
    message = services.store_message(mailbox, raw)
    assert message is not None and message.truncated
    small, big = Attachment.objects.filter(message=message).order_by("id")
    assert (small.filename, small.size, small.too_large, small.file.read()) == (
        "small.pdf",
        16,
        False,
        b"%PDF-1" + b"x" * 10,
    )
    assert (big.filename, big.size, big.too_large, bool(big.file)) == ("big.zip", 2000, True, False)


# --- the dropbox ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_dropbox_mail_is_logged_for_the_user_its_plus_address_names(users: dict[str, Any]) -> None:
    box = Mailbox.objects.create(
        name="Log", address="log@rapport.test", shared=True, is_dropbox=True, imap_host="h", username="log"
    )
    member = users["member"]
    address = services.dropbox_address(box, member)
    assert address.startswith(f"log+{member.pk}.") and address.endswith("@rapport.test")
    raw = make_message(sender="member@rapport.test", to="ann@client.example", headers={"Delivered-To": address})
    message = services.store_message(box, raw)
    assert message is not None and message.logged_for == member
    forged = make_message(
        to="ann@client.example", headers={"Delivered-To": f"log+{member.pk}.000000000000@rapport.test"}
    )
    assert services.store_message(box, forged) is None
    assert list(visible_messages(member)) == [message]
