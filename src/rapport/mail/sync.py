"""Incremental IMAP sync of a connected mailbox, resumable and never twice at once.

Per selected folder: SELECT (read-only, so nothing is marked read) gives UIDVALIDITY, UIDNEXT, EXISTS and, on
CONDSTORE servers, HIGHESTMODSEQ. Nothing changed since the last run → nothing more is asked. Otherwise the UIDs
above the folder's ``last_uid`` (and since the mailbox's ``sync_from`` date) are fetched in batches: first their
Message-ID and size only — a message the mailbox already holds (the copy in Sent, a message moved to another
folder, everything after a UIDVALIDITY change) just gains a location — then ``BODY.PEEK[]`` of the new ones
(only the first RAPPORT_MAIL_MAX_MESSAGE_BYTES of a bigger one). Each batch is one transaction that also moves
``last_uid``: a worker killed mid-sync resumes after the last committed batch, and the Message-ID dedup covers the
rest. A UIDVALIDITY change forgets the folder's UIDs and reads it again, without duplicates. Messages gone from
the server keep their rows (``gone_from_server_at``).

A lease on the mailbox row (``sync_locked_by``/``sync_locked_until``, renewed per batch) keeps two workers from
syncing one mailbox at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from . import imap
from .models import Mailbox, MailFolder, Message, MessageLocation
from .parsing import message_ids, parse
from .services import IgnoreRules, mark_gone
from .storing import store_batch

logger = logging.getLogger("rapport.mail")


def lease() -> dt.timedelta:
    """How long a claim holds without renewal (renewed after every batch): a dead worker's mailbox waits this
    long before another worker takes it over."""
    return dt.timedelta(seconds=int(getattr(settings, "RAPPORT_MAIL_SYNC_LEASE", 120)))


WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class SyncResult:
    mailbox_id: int
    status: str = "ok"  # ok, busy (another worker holds it), error
    stored: int = 0  # new messages
    located: int = 0  # known messages found in another place
    gone: int = 0
    folders: dict[str, int] = field(default_factory=dict)
    error: str = ""


def batch_size() -> int:
    return max(1, int(getattr(settings, "RAPPORT_MAIL_BATCH", 200)))


def sync_every() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "RAPPORT_MAIL_SYNC_EVERY", 300)))


# --- the lease -----------------------------------------------------------------------------------------
def claim(mailbox: Mailbox, worker: str = WORKER_ID, *, now: dt.datetime | None = None) -> bool:
    """Take the mailbox's sync lease unless another worker holds a live one."""
    now = now or timezone.now()
    taken = Mailbox.objects.filter(
        Q(sync_locked_until__isnull=True) | Q(sync_locked_until__lt=now) | Q(sync_locked_by=worker), pk=mailbox.pk
    ).update(sync_locked_by=worker, sync_locked_until=now + lease())
    return taken == 1


def renew(mailbox: Mailbox, worker: str = WORKER_ID) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, sync_locked_by=worker).update(sync_locked_until=timezone.now() + lease())


def release(mailbox: Mailbox, worker: str = WORKER_ID) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, sync_locked_by=worker).update(sync_locked_by="", sync_locked_until=None)


# --- one mailbox ---------------------------------------------------------------------------------------
def sync_mailbox(mailbox: Mailbox, *, worker: str = WORKER_ID, client: IMAPClient | None = None) -> SyncResult:
    """Sync every selected folder of ``mailbox``; records the outcome on the mailbox (health page)."""
    result = SyncResult(mailbox_id=mailbox.pk)
    if not claim(mailbox, worker):
        result.status = "busy"
        return result
    started = timezone.now()
    own_client = client is None
    try:
        mailbox.refresh_from_db()
        resync = mailbox.resync_requested
        if client is None:
            client = imap.connect(mailbox)
        if client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
            # SELECT then reports HIGHESTMODSEQ: an unchanged folder costs one SELECT per run.
            client.enable("CONDSTORE")
        folders = imap.discover_folders(mailbox, client)
        rules = IgnoreRules.load()
        on_server: dict[MailFolder, set[int]] = {}
        for folder in folders:
            if folder.selected:
                uids = _sync_folder(mailbox, client, folder, result, rules=rules, resync=resync, worker=worker)
                if uids is not None:
                    on_server[folder] = uids
        # After every folder: a message moved from INBOX to Archive has its new place before INBOX drops it.
        for folder, uids in on_server.items():
            result.gone += mark_gone(folder, uids)
        Mailbox.objects.filter(pk=mailbox.pk).update(
            last_sync_at=started,
            last_success_at=timezone.now(),
            next_sync_at=started + sync_every(),
            messages_synced=F("messages_synced") + result.stored,
            last_error="",
            last_error_at=None,
            resync_requested=False if resync else F("resync_requested"),
        )
    except imap.MailboxError as exc:
        _failed(mailbox, result, str(exc), started)
    except (IMAPClientError, OSError) as exc:
        _failed(mailbox, result, f"the server broke off the sync ({exc}); it is tried again at the next run", started)
    finally:
        if own_client and client is not None:
            imap.close(client)
        release(mailbox, worker)
    return result


def _failed(mailbox: Mailbox, result: SyncResult, message: str, started: dt.datetime) -> None:
    logger.warning("mail: sync of mailbox %s failed: %s", mailbox.pk, message)
    result.status, result.error = "error", message
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_sync_at=started,
        next_sync_at=started + sync_every(),
        messages_synced=F("messages_synced") + result.stored,
        last_error=message[:500],
        last_error_at=timezone.now(),
    )


def _sync_folder(
    mailbox: Mailbox,
    client: IMAPClient,
    folder: MailFolder,
    result: SyncResult,
    *,
    rules: IgnoreRules,
    resync: bool,
    worker: str,
) -> set[int] | None:
    """Fetch what is new in ``folder``; returns the UIDs on the server when some of ours may be gone."""
    status = client.select_folder(folder.name, readonly=True)
    validity = int(status[b"UIDVALIDITY"])
    exists = int(status.get(b"EXISTS", 0))
    uidnext = int(status.get(b"UIDNEXT", 0) or 0)
    modseq = status.get(b"HIGHESTMODSEQ")
    modseq = int(modseq) if modseq is not None else None

    if resync or (folder.uidvalidity is not None and folder.uidvalidity != validity):
        # Every UID we hold for this folder is meaningless now: read it again (dedup keeps one row each).
        logger.info("mail: folder %s of mailbox %s: UIDVALIDITY %s -> %s, resyncing", folder.name, mailbox.pk,
                    folder.uidvalidity, validity)  # fmt: skip
        MessageLocation.objects.filter(folder=folder).delete()
        folder.last_uid, folder.highest_modseq = 0, None
    folder.uidvalidity = validity
    MailFolder.objects.filter(pk=folder.pk).update(
        uidvalidity=validity, last_uid=folder.last_uid, highest_modseq=folder.highest_modseq
    )

    known = MessageLocation.objects.filter(folder=folder).count()
    unchanged = (
        folder.last_uid > 0
        and uidnext
        and uidnext - 1 <= folder.last_uid
        and exists == known
        and (modseq is None or folder.highest_modseq == modseq)
    )
    if unchanged:
        MailFolder.objects.filter(pk=folder.pk).update(last_synced_at=timezone.now())
        result.folders[folder.name] = 0
        return None

    criteria: list[Any] = ["UID", f"{folder.last_uid + 1}:*"]
    if mailbox.sync_from:
        criteria += ["SINCE", mailbox.sync_from]
    new_uids = sorted(uid for uid in client.search(criteria) if uid > folder.last_uid)
    stored_before = result.stored
    size = batch_size()
    for start in range(0, len(new_uids), size):
        batch = new_uids[start : start + size]
        _sync_batch(mailbox, client, folder, batch, result, rules=rules)
        renew(mailbox, worker)
    result.folders[folder.name] = result.stored - stored_before

    # Gone from the server: only looked for when the counts disagree (an expunge or a move away).
    known = MessageLocation.objects.filter(folder=folder).count()
    on_server = set(client.search(["ALL"])) if known != exists else None
    MailFolder.objects.filter(pk=folder.pk).update(highest_modseq=modseq, last_synced_at=timezone.now())
    folder.highest_modseq = modseq
    return on_server


HEADER_ITEM = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"


def _sync_batch(
    mailbox: Mailbox, client: IMAPClient, folder: MailFolder, uids: list[int], result: SyncResult, *, rules: IgnoreRules
) -> None:
    limit = int(getattr(settings, "RAPPORT_MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024))
    heads = client.fetch(uids, [b"RFC822.SIZE", b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    ids: dict[int, str] = {}
    sizes: dict[int, int] = {}
    for uid, data in heads.items():
        header = data.get(HEADER_ITEM, b"") or b""
        found = message_ids(header.decode("latin-1").partition(":")[2]) if header.strip() else []
        if found:
            ids[uid] = found[0]
        sizes[uid] = int(data.get(b"RFC822.SIZE", 0) or 0)
    existing = dict(
        Message.objects.filter(mailbox=mailbox, message_id__in=set(ids.values())).values_list("message_id", "id")
    )
    to_fetch = [uid for uid in uids if uid in heads and ids.get(uid) not in existing]
    small = [uid for uid in to_fetch if sizes.get(uid, 0) <= limit]
    big = [uid for uid in to_fetch if sizes.get(uid, 0) > limit]
    bodies: dict[int, tuple[bytes, bool]] = {}
    if small:
        for uid, data in client.fetch(small, [b"BODY.PEEK[]"]).items():
            bodies[uid] = (data.get(b"BODY[]") or b"", False)
    for uid in big:  # one at a time: each may be large
        for got, data in client.fetch([uid], [f"BODY.PEEK[]<0.{limit}>".encode()]).items():
            raw = next((v for k, v in data.items() if k.startswith(b"BODY[]")), b"") or b""
            bodies[got] = (raw, True)

    # Parsed before the transaction, which then holds the database's write lock only for the writes. A UID in
    # neither list was expunged between the two fetches: the next run sees the truth.
    parsed = [(uid, parse(bodies[uid][0], partial=bodies[uid][1])) for uid in sorted(bodies)]
    with transaction.atomic():
        found_again = [uid for uid in uids if ids.get(uid) in existing]
        if found_again:
            result.located += _locate(folder, {uid: existing[ids[uid]] for uid in found_again})
        stored = store_batch(mailbox, folder, parsed, rules=rules)
        result.stored += stored.stored
        result.located += stored.located
        last = max(uids)
        MailFolder.objects.filter(pk=folder.pk).update(last_uid=last)
        folder.last_uid = last


def _locate(folder: MailFolder, found: dict[int, int]) -> int:
    """Add the locations (UID → message id) of messages the mailbox already holds; returns how many were new."""
    validity = folder.uidvalidity or 0
    known = set(
        MessageLocation.objects.filter(folder=folder, uidvalidity=validity, uid__in=list(found)).values_list(
            "uid", flat=True
        )
    )
    MessageLocation.objects.bulk_create(
        [MessageLocation(folder=folder, uidvalidity=validity, uid=uid, message_id=pk)
         for uid, pk in found.items() if uid not in known],
        ignore_conflicts=True,
    )  # fmt: skip
    Message.objects.filter(pk__in=set(found.values()), gone_from_server_at__isnull=False).update(
        gone_from_server_at=None
    )
    return len(set(found) - known)


# --- scheduling ----------------------------------------------------------------------------------------
def due_mailboxes(now: dt.datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        Mailbox.objects.filter(active=True)
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now) | Q(resync_requested=True))
        .exclude(sync_locked_until__gt=now)
        .order_by(F("next_sync_at").asc(nulls_first=True), "id")
        .values_list("id", flat=True)
    )


def request_resync(mailbox: Mailbox, *, actor: Any) -> None:
    """The Re-sync button: the next run reads every folder again (no duplicates) and runs soon."""
    Mailbox.objects.filter(pk=mailbox.pk).update(resync_requested=True, next_sync_at=timezone.now())
