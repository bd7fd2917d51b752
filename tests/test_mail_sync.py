"""IMAP sync against a real Dovecot (tests/mail_servers.py): incremental runs, UIDVALIDITY changes, one message
in several folders, moves, messages gone from the server, sync-from date, plain-words errors, the per-mailbox
lease, and a worker killed mid-sync (a real process, SIGKILL) resuming without duplicates."""

from __future__ import annotations

import datetime as dt
import os
import signal
from typing import Any

import pytest
from django.utils import timezone

from rapport.mail import crypto
from rapport.mail.models import Mailbox, MailFolder, Message, MessageLocation
from rapport.mail.sync import claim, due_mailboxes, request_resync, sync_mailbox

from . import jobs_helpers
from .mail_servers import DovecotAccount, make_message


def connect_mailbox(account: DovecotAccount, owner: Any, **extra: Any) -> Mailbox:
    fields = {
        "name": "Test",
        "address": account.address,
        "owner": owner,
        "imap_host": account.host,
        "imap_port": account.port,
        "imap_security": "none",
        "username": account.username,
        "secret_encrypted": crypto.encrypt(account.password),
    }
    return Mailbox.objects.create(**{**fields, **extra})


def fill(account: DovecotAccount, start: int, count: int, folder: str = "INBOX", **extra: Any) -> list[int]:
    raws = [
        make_message(subject=f"Message {n}", message_id=f"<m{n}@sync.test>", sender=f"p{n}@client.example", **extra)
        for n in range(start, start + count)
    ]
    return account.append_many(raws, folder)


def message_ids() -> list[str]:
    return sorted(Message.objects.values_list("message_id", flat=True))


@pytest.fixture
def owner(users: dict[str, Any]) -> Any:
    return users["member"]


@pytest.mark.django_db
def test_incremental_sync_picks_up_exactly_the_new_messages_across_three_runs(
    imap_account: DovecotAccount, owner: Any, settings: Any
) -> None:
    settings.RAPPORT_MAIL_BATCH = 2  # several batches per run
    mailbox = connect_mailbox(imap_account, owner)
    fill(imap_account, 1, 5)
    first = sync_mailbox(mailbox)
    assert (first.status, first.stored, first.folders) == ("ok", 5, {"INBOX": 5, "Sent": 0})
    fill(imap_account, 6, 3)
    second = sync_mailbox(mailbox)
    assert (second.stored, second.located) == (3, 0)
    third = sync_mailbox(mailbox)
    assert (third.stored, third.located, third.folders) == (0, 0, {"INBOX": 0, "Sent": 0})
    assert message_ids() == sorted(f"m{n}@sync.test" for n in range(1, 9))
    inbox = MailFolder.objects.get(mailbox=mailbox, name="INBOX")
    assert (inbox.last_uid, inbox.uidvalidity) == (8, imap_account.status()["UIDVALIDITY"])
    assert inbox.highest_modseq is not None  # Dovecot has CONDSTORE
    mailbox.refresh_from_db()
    assert (mailbox.messages_synced, mailbox.last_error) == (8, "")
    assert mailbox.next_sync_at is not None and mailbox.last_success_at is not None
    # Read-only SELECT and BODY.PEEK: nothing was marked as read.
    assert "\\Seen" not in imap_account.flags(1)
    # The folder choice: INBOX and Sent by default (Sent found by its SPECIAL-USE flag), the others offered.
    assert sorted(MailFolder.objects.filter(mailbox=mailbox).values_list("name", "role", "selected")) == [
        ("Archive", "other", False),
        ("Drafts", "other", False),
        ("INBOX", "inbox", True),
        ("Sent", "sent", True),
        ("Trash", "other", False),
    ]


@pytest.mark.django_db
def test_a_uidvalidity_change_resyncs_without_duplicates(imap_account: DovecotAccount, owner: Any) -> None:
    mailbox = connect_mailbox(imap_account, owner)
    fill(imap_account, 1, 3)
    sync_mailbox(mailbox)
    new_validity = imap_account.set_uidvalidity("INBOX")
    fill(imap_account, 4, 1)
    result = sync_mailbox(mailbox)
    assert (result.stored, result.located) == (1, 3)
    assert message_ids() == ["m1@sync.test", "m2@sync.test", "m3@sync.test", "m4@sync.test"]
    assert set(MessageLocation.objects.values_list("uidvalidity", flat=True)) == {new_validity}
    assert MessageLocation.objects.count() == 4


@pytest.mark.django_db
def test_a_message_in_inbox_and_sent_is_one_message_and_a_moved_message_stays_one(
    imap_account: DovecotAccount, owner: Any
) -> None:
    mailbox = connect_mailbox(imap_account, owner)
    raw = make_message(sender=imap_account.address, to="ann@client.example", message_id="<both@x>")
    imap_account.append(raw, "INBOX")
    imap_account.append(raw, "Sent")
    fill(imap_account, 1, 1)
    sync_mailbox(mailbox)
    both = Message.objects.get(message_id="both@x")
    assert sorted(both.locations.values_list("folder__name", flat=True)) == ["INBOX", "Sent"]
    assert both.direction == "out"
    # Archive chosen too; a message moved there is the same message in its new place.
    MailFolder.objects.filter(mailbox=mailbox, name="Archive").update(selected=True)
    imap_account.move(2, "INBOX", "Archive")  # m1 was UID 2 in INBOX
    result = sync_mailbox(mailbox)
    assert (result.stored, result.located, result.gone) == (0, 1, 0)
    moved = Message.objects.get(message_id="m1@sync.test")
    assert list(moved.locations.values_list("folder__name", flat=True)) == ["Archive"]
    assert moved.gone_from_server_at is None
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_messages_gone_from_the_server_are_kept(imap_account: DovecotAccount, owner: Any) -> None:
    mailbox = connect_mailbox(imap_account, owner)
    fill(imap_account, 1, 2)
    sync_mailbox(mailbox)
    imap_account.expunge(1)
    result = sync_mailbox(mailbox)
    assert result.gone == 1
    gone = Message.objects.get(message_id="m1@sync.test")
    assert gone.gone_from_server_at is not None and not gone.locations.exists()
    assert Message.objects.get(message_id="m2@sync.test").gone_from_server_at is None


@pytest.mark.django_db
def test_sync_starts_from_the_chosen_date(imap_account: DovecotAccount, owner: Any) -> None:
    old = dt.datetime(2020, 1, 5, 12, 0, tzinfo=dt.UTC)
    imap_account.append(make_message(message_id="<old@x>", date=old), date=old)
    imap_account.append(make_message(message_id="<new@x>"))
    mailbox = connect_mailbox(imap_account, owner, sync_from=dt.date(2024, 1, 1))
    assert sync_mailbox(mailbox).stored == 1
    assert message_ids() == ["new@x"]


@pytest.mark.django_db
def test_a_rejected_password_is_reported_in_plain_words_with_the_fix(imap_account: DovecotAccount, owner: Any) -> None:
    mailbox = connect_mailbox(imap_account, owner)
    Mailbox.objects.filter(pk=mailbox.pk).update(secret_encrypted=crypto.encrypt("wrong"))
    mailbox.refresh_from_db()
    result = sync_mailbox(mailbox)
    assert (result.status, result.error) == ("error", "password rejected: update it in the mailbox settings")
    mailbox.refresh_from_db()
    assert mailbox.last_error == "password rejected: update it in the mailbox settings"
    assert mailbox.sync_locked_by == ""  # released
    unreachable = connect_mailbox(imap_account, owner, imap_port=1)
    assert sync_mailbox(unreachable).error.startswith("cannot reach 127.0.0.1:1 (")
    assert sync_mailbox(unreachable).error.endswith("): check the server name and port")


@pytest.mark.django_db
def test_a_mailbox_signing_in_with_an_oauth2_token_syncs_and_a_rejected_token_says_renew_it(
    imap_account: DovecotAccount, owner: Any
) -> None:
    token = imap_account.oauth2_token()
    introspection = imap_account.server.introspection
    mailbox = connect_mailbox(imap_account, owner, auth_method="xoauth2", secret_encrypted=crypto.encrypt(token))
    fill(imap_account, 1, 3)
    result = sync_mailbox(mailbox)
    assert (result.status, result.error, result.stored) == ("ok", "", 3)
    assert message_ids() == ["m1@sync.test", "m2@sync.test", "m3@sync.test"]
    asked = introspection.calls_for(token)
    assert asked >= 1  # Dovecot checked the token with the provider; the password was never used
    assert introspection.calls_for(imap_account.password) == 0
    # The token expires: the next sync is refused, says how to fix it, and stores nothing new.
    introspection.revoke(token)
    fill(imap_account, 4, 1)
    mailbox.refresh_from_db()
    result = sync_mailbox(mailbox)
    fix = "the OAuth2 access token was rejected: renew the token in the mailbox settings"
    assert (result.status, result.error, result.stored) == ("error", fix, 0)
    assert introspection.calls_for(token) == asked + 1
    mailbox.refresh_from_db()
    assert (mailbox.last_error, mailbox.sync_locked_by) == (fix, "")
    assert message_ids() == ["m1@sync.test", "m2@sync.test", "m3@sync.test"]
    # With a renewed token the next sync picks up exactly the one new message.
    Mailbox.objects.filter(pk=mailbox.pk).update(secret_encrypted=crypto.encrypt(imap_account.oauth2_token()))
    mailbox.refresh_from_db()
    assert sync_mailbox(mailbox).status == "ok"
    assert message_ids() == ["m1@sync.test", "m2@sync.test", "m3@sync.test", "m4@sync.test"]
    mailbox.refresh_from_db()
    assert mailbox.last_error == ""


@pytest.mark.django_db
def test_two_workers_never_sync_one_mailbox_at_once_and_resync_reads_everything_again(
    imap_account: DovecotAccount, owner: Any
) -> None:
    mailbox = connect_mailbox(imap_account, owner)
    fill(imap_account, 1, 2)
    assert claim(mailbox, "other-worker")
    assert sync_mailbox(mailbox).status == "busy"
    assert due_mailboxes() == []  # a held mailbox is not enqueued either
    Mailbox.objects.filter(pk=mailbox.pk).update(sync_locked_by="", sync_locked_until=None)
    assert sync_mailbox(mailbox).stored == 2
    assert due_mailboxes() == []  # next run in RAPPORT_MAIL_SYNC_EVERY
    request_resync(mailbox, actor=owner)
    assert due_mailboxes() == [mailbox.pk]
    result = sync_mailbox(mailbox)
    assert (result.stored, result.located) == (0, 2)
    mailbox.refresh_from_db()
    assert not mailbox.resync_requested and Message.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sync_resumes_without_duplicates(
    imap_account: DovecotAccount, users: dict[str, Any], tmp_path: Any
) -> None:
    total = 300
    mailbox = connect_mailbox(imap_account, users["member"])
    fill(imap_account, 1, total)
    proc = jobs_helpers.start(
        "mail_sync", tmp_path, "--mailbox", str(mailbox.pk),
        RAPPORT_MAIL_BATCH="5", RAPPORT_MAIL_KEY=",".join(crypto.keys()),
    )  # fmt: skip
    try:
        jobs_helpers.wait_for(lambda: Message.objects.count() >= 20, timeout=60, what="the first batches")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stored = Message.objects.count()
    inbox = MailFolder.objects.get(mailbox=mailbox, name="INBOX")
    assert 20 <= stored < total, jobs_helpers.output(proc)
    # Each batch committed with its checkpoint: what is stored is exactly what the checkpoint says.
    assert inbox.last_uid == stored and stored % 5 == 0
    mailbox.refresh_from_db()
    assert sync_mailbox(mailbox).status == "busy"  # the dead worker's lease still holds...
    Mailbox.objects.filter(pk=mailbox.pk).update(sync_locked_until=timezone.now() - dt.timedelta(seconds=1))
    result = sync_mailbox(mailbox)  # ...until it runs out (RAPPORT_MAIL_SYNC_LEASE)
    assert (result.status, result.stored) == ("ok", total - stored)
    assert Message.objects.count() == total == MessageLocation.objects.count()
    assert len(set(Message.objects.values_list("message_id", flat=True))) == total


@pytest.mark.django_db
def test_a_mail_server_on_this_machine_or_a_private_network_is_refused_unless_an_administrator_allows_it(
    imap_account: DovecotAccount, owner: Any, settings: Any
) -> None:
    from rapport.mail.imap import refusal

    fill(imap_account, 1, 1)
    settings.RAPPORT_MAIL_ALLOW_PRIVATE = []
    mailbox = connect_mailbox(imap_account, owner)
    result = sync_mailbox(mailbox)
    mailbox.refresh_from_db()
    assert result.status == "error" and not Message.objects.exists()
    assert mailbox.last_error == (
        "127.0.0.1 is this server itself (loopback): an administrator can allow a mail server on a private "
        "network with RAPPORT_MAIL_ALLOW_PRIVATE"
    )
    assert refusal("169.254.169.254") == "169.254.169.254 is a link-local address (such as the cloud metadata service)"
    assert refusal("10.0.5.7") == "10.0.5.7 is a private network address"
    assert refusal("2130706433") == "2130706433 (127.0.0.1) is this server itself (loopback)"
    assert refusal("[::ffff:10.0.0.1]") == "[::ffff:10.0.0.1] (::ffff:a00:1) is an IPv4 address written as IPv6"
    assert refusal("localhost", resolve=False) == "localhost (127.0.0.1) is this server itself (loopback)"
    assert refusal("imap.example.com", resolve=False) is None  # judged when connecting
    assert refusal("93.184.215.14") is None
    settings.RAPPORT_MAIL_ALLOW_PRIVATE = ["10.0.5.0/24", "127.0.0.1"]
    assert refusal("10.0.5.7") is None and refusal("10.0.6.7") == "10.0.6.7 is a private network address"
    assert sync_mailbox(mailbox).stored == 1
