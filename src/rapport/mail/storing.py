"""Storing a fetched batch of synced messages at once (``store_batch``, called by mail.sync per batch).

The same rules as ``services.store_parsed`` — privacy, one row per Message-ID, threading by Message-ID /
In-Reply-To / References with the subject fallback, links to people, companies and deals, attachments — with a
fixed handful of queries per batch instead of a dozen per message: one lookup of the batch's Message-IDs, one of
the messages they reference and of the replies that name them, one of the subject-fallback threads, then
``bulk_create`` of threads, messages, locations, attachments and link rows. Within a batch the messages are
taken in UID order and see each other as if stored one by one. When the batch collides with another writer
(compose storing the Sent copy of a message at the same moment), it rolls back to its savepoint and the
messages are stored one by one through ``store_parsed``, which settles the collision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Attachment, Mailbox, MailFolder, Message, MessageLocation, Thread
from .parsing import ParsedMessage, snippet, subject_key
from .services import (
    PERSONAL_DOMAINS,
    SUBJECT_WINDOW,
    IgnoreRules,
    admit,
    merge_threads,
    own_addresses,
    refresh_thread,
    run_received_batch_hooks,
    store_parsed,
)

# A thread while the batch is placed: ("db", id) for a stored one, ("new", n) for one this batch creates.
Ref = tuple[str, int]


@dataclass
class _New:
    uid: int
    parsed: ParsedMessage
    direction: str
    logged_for: Any
    outside: set[str]
    at: dt.datetime
    thread: Ref = ("new", -1)


@dataclass
class _NewThread:
    subject: str
    key: str
    first_at: dt.datetime
    last_at: dt.datetime
    people: set[str] = field(default_factory=set)


@dataclass
class BatchResult:
    stored: int = 0  # new messages
    located: int = 0  # messages already held, found at a new place


def store_batch(
    mailbox: Mailbox, folder: MailFolder, items: list[tuple[int, ParsedMessage]], *, rules: IgnoreRules
) -> BatchResult:
    """Store ``items`` ((UID, parsed message) in UID order) found in ``folder``; inside the caller's
    transaction. Received hooks run after the commit, once per new inbound message."""
    try:
        with transaction.atomic():
            return _store(mailbox, folder, items, rules)
    except IntegrityError:
        result = BatchResult()
        for uid, parsed in items:
            before = Message.objects.filter(mailbox=mailbox, message_id=parsed.message_id).exists()
            if store_parsed(mailbox, parsed, folder=folder, uid=uid, rules=rules) is not None:
                result.stored += int(not before)
                result.located += int(before)
        return result


def _store(
    mailbox: Mailbox, folder: MailFolder, items: list[tuple[int, ParsedMessage]], rules: IgnoreRules
) -> BatchResult:
    result = BatchResult()
    own = own_addresses(mailbox)
    validity = folder.uidvalidity or 0
    admitted: list[_New] = []
    for uid, parsed in items:
        verdict = admit(mailbox, parsed, own, rules, folder=folder)
        if verdict is None:
            continue
        direction, logged_for, own_here = verdict
        outside = {a for a in parsed.participants if a not in own_here and not rules.ignores(a)}
        admitted.append(_New(uid, parsed, direction, logged_for, outside, parsed.sent_at or timezone.now()))
    if not admitted:
        return result

    existing = stored_ids(mailbox, {n.parsed.message_id for n in admitted})
    locations: list[MessageLocation] = []
    copies: list[tuple[str, int]] = []  # the same message twice in this batch: the later UID is a location
    found_again: list[int] = []
    new: list[_New] = []
    taken: set[str] = set()
    for item in admitted:
        message_id = item.parsed.message_id
        if message_id in existing:
            locations.append(MessageLocation(message_id=existing[message_id], folder=folder, uidvalidity=validity,
                                             uid=item.uid))  # fmt: skip
            found_again.append(existing[message_id])
            result.located += 1
        elif message_id in taken:
            copies.append((message_id, item.uid))
            result.located += 1
        else:
            taken.add(message_id)
            new.append(item)
    if found_again:
        Message.objects.filter(pk__in=found_again, gone_from_server_at__isnull=False).update(gone_from_server_at=None)

    threads = _place(mailbox, new)
    stored = _insert(mailbox, new, threads)
    by_id = {m.message_id: m.pk for m in stored}
    locations += [MessageLocation(message_id=by_id[message_id], folder=folder, uidvalidity=validity, uid=uid)
                  for message_id, uid in copies]  # fmt: skip
    locations += [MessageLocation(message=m, folder=folder, uidvalidity=validity, uid=n.uid)
                  for n, m in zip(new, stored, strict=True)]  # fmt: skip
    MessageLocation.objects.bulk_create(locations, ignore_conflicts=True)
    _store_attachments(new, stored)
    _link(mailbox, new, stored)
    result.stored += len(stored)

    received = [m.pk for m, n in zip(stored, new, strict=True) if n.direction == "in"]
    if received:
        transaction.on_commit(lambda: _run_hooks(received))
    return result


def stored_ids(mailbox: Mailbox, message_ids: set[str]) -> dict[str, int]:
    """Message-ID → id of the messages ``mailbox`` already holds among ``message_ids``."""
    return dict(Message.objects.filter(mailbox=mailbox, message_id__in=message_ids).values_list("message_id", "id"))


def _place(mailbox: Mailbox, new: list[_New]) -> list[_NewThread]:
    """Give every new message its thread (``_New.thread``), as ``services._find_thread`` would one by one, and
    merge the threads a message joins together (``_adopt_children``). Returns the threads to create."""
    if not new:
        return []
    ids = {n.parsed.message_id for n in new}
    referenced = {r for n in new for r in [*n.parsed.references, n.parsed.in_reply_to] if r}
    # Stored messages this batch refers to, and stored replies to this batch's messages.
    parents: dict[str, tuple[Any, int, int]] = {}
    for message_id, thread_id, sent_at, pk in Message.objects.filter(
        mailbox=mailbox, message_id__in=referenced
    ).values_list("message_id", "thread_id", "sent_at", "id"):
        parents[message_id] = (sent_at, pk, thread_id)
    children: dict[str, set[int]] = {}
    for in_reply_to, thread_id in Message.objects.filter(mailbox=mailbox, in_reply_to__in=ids).values_list(
        "in_reply_to", "thread_id"
    ):
        children.setdefault(in_reply_to, set()).add(thread_id)
    # Subject-fallback candidates, with their participants.
    keys = {subject_key(n.parsed.subject) for n in new if n.outside} - {""}
    candidates: list[tuple[int, str, dt.datetime, dt.datetime]] = []
    people: dict[int, set[str]] = {}
    if keys:
        earliest = min(n.at for n in new) - SUBJECT_WINDOW
        latest = max(n.at for n in new) + SUBJECT_WINDOW
        candidates = list(
            Thread.objects.filter(mailbox=mailbox, subject_key__in=keys, last_at__gte=earliest, first_at__lte=latest)
            .order_by("-last_at")
            .values_list("id", "subject_key", "last_at", "first_at")
        )
        seen: dict[int, int] = {}
        rows = Message.objects.filter(thread_id__in=[c[0] for c in candidates]).order_by("-sent_at", "-id")
        for thread_id, sender, to, cc in rows.values_list("thread_id", "from_address", "to", "cc"):
            seen[thread_id] = seen.get(thread_id, 0) + 1
            if seen[thread_id] <= 50:
                found = people.setdefault(thread_id, set())
                found.add(sender)
                found |= {p.get("address", "") for p in (to or []) + (cc or [])}

    union: dict[Ref, Ref] = {}

    def root(ref: Ref) -> Ref:
        while union.get(ref, ref) != ref:
            ref = union[ref]
        return ref

    def join(a: Ref, b: Ref) -> None:
        a, b = root(a), root(b)
        if a != b:
            if b[0] == "db" and a[0] == "new":
                a, b = b, a  # a stored thread absorbs a new one (fewer rows moved)
            union[b] = a

    created: list[_NewThread] = []
    placed: dict[str, _New] = {}  # earlier messages of this batch by Message-ID
    replies: dict[str, list[_New]] = {}  # earlier messages of this batch by In-Reply-To
    for item in new:
        parsed = item.parsed
        thread: Ref | None = None
        refs = [r for r in [*parsed.references, parsed.in_reply_to] if r and r != parsed.message_id]
        # Of the messages it names, the newest (by date, then id) gives the thread, as in services._find_thread.
        best: tuple[tuple[Any, ...], Ref] | None = None
        for ref in refs:
            if ref in placed:  # stored just before, in this batch: the newest ids
                order: tuple[Any, ...] = (True, placed[ref].at, 1 << 62)
                option: Ref = placed[ref].thread
            elif ref in parents:
                sent_at, pk, thread_id = parents[ref]
                order = (sent_at is not None, sent_at or dt.datetime.min.replace(tzinfo=dt.UTC), pk)
                option = ("db", thread_id)
            else:
                continue
            if best is None or order > best[0]:
                best = (order, option)
        if best is not None:
            thread = best[1]
        if thread is None:
            earlier = replies.get(parsed.message_id)
            if earlier:
                thread = earlier[0].thread
            elif parsed.message_id in children:
                thread = ("db", min(children[parsed.message_id]))
        key_text = subject_key(parsed.subject)
        if thread is None and key_text and item.outside:
            for thread_id, candidate_key, last_at, first_at in candidates:
                if (
                    candidate_key == key_text
                    and last_at >= item.at - SUBJECT_WINDOW
                    and first_at <= item.at + SUBJECT_WINDOW
                ):
                    if people.get(thread_id, set()) & item.outside:
                        thread = ("db", thread_id)
                        break
            if thread is None:
                for index, pending in enumerate(created):
                    near = pending.last_at >= item.at - SUBJECT_WINDOW and pending.first_at <= item.at + SUBJECT_WINDOW
                    if pending.key == key_text and near and pending.people & item.outside:
                        thread = ("new", index)
                        break
        if thread is None:
            created.append(_NewThread(parsed.subject, key_text, item.at, item.at))
            thread = ("new", len(created) - 1)
        item.thread = thread
        # Replies stored earlier (here or before) in other threads join this one.
        for earlier_reply in replies.get(parsed.message_id, ()):
            join(thread, earlier_reply.thread)
        for thread_id in children.get(parsed.message_id, ()):
            join(thread, ("db", thread_id))
        if thread[0] == "new":
            pending = created[thread[1]]
            pending.first_at, pending.last_at = min(pending.first_at, item.at), max(pending.last_at, item.at)
            pending.people |= {parsed.from_address, *(p["address"] for p in parsed.to + parsed.cc)}
        placed[parsed.message_id] = item
        if parsed.in_reply_to:
            replies.setdefault(parsed.in_reply_to, []).append(item)

    for item in new:
        item.thread = root(item.thread)
    # Stored threads joined together: merged as services.merge_threads does (deals, privacy kept).
    groups: dict[Ref, set[int]] = {}
    for joined in list(union):
        if joined[0] == "db":
            top = root(joined)
            if top[0] == "db" and top != joined:
                groups.setdefault(top, set()).add(joined[1])
    for top, others in groups.items():
        target = Thread.objects.get(pk=top[1])
        for other in Thread.objects.filter(pk__in=others):
            merge_threads(target, other)
    return created


def _insert(mailbox: Mailbox, new: list[_New], created: list[_NewThread]) -> list[Message]:
    if not new:
        return []
    used = {n.thread[1] for n in new if n.thread[0] == "new"}
    rows: dict[int, Thread] = {}
    for index in sorted(used):
        pending = created[index]
        members = [n.at for n in new if n.thread == ("new", index)]
        rows[index] = Thread(mailbox=mailbox, subject=pending.subject, subject_key=pending.key,
                             first_at=min(members), last_at=max(members), message_count=len(members))  # fmt: skip
    Thread.objects.bulk_create(list(rows.values()))
    now = timezone.now()
    messages = [
        Message(
            mailbox=mailbox,
            thread_id=rows[n.thread[1]].pk if n.thread[0] == "new" else n.thread[1],
            direction=n.direction,
            message_id=n.parsed.message_id,
            in_reply_to=n.parsed.in_reply_to,
            references=" ".join(n.parsed.references)[:100_000],
            subject=n.parsed.subject,
            from_address=n.parsed.from_address,
            from_name=n.parsed.from_name,
            to=n.parsed.to,
            cc=n.parsed.cc,
            bcc=n.parsed.bcc,
            sent_at=n.parsed.sent_at,
            received_at=now,
            snippet=snippet(n.parsed.body_text),
            body_text=n.parsed.body_text,
            body_html=n.parsed.body_html,
            has_remote_images=n.parsed.has_remote_images,
            size=n.parsed.size,
            truncated=n.parsed.truncated,
            is_bounce=n.parsed.is_bounce,
            logged_for=n.logged_for,
        )
        for n in new
    ]
    stored = Message.objects.bulk_create(messages)
    for thread_id in {n.thread[1] for n in new if n.thread[0] == "db"}:
        refresh_thread(Thread.objects.get(pk=thread_id))
    for n in new:
        if n.thread[0] == "new":
            n.thread = ("db", rows[n.thread[1]].pk)
    return stored


def _store_attachments(new: list[_New], stored: list[Message]) -> None:
    rows = []
    for item, message in zip(new, stored, strict=True):
        for part in item.parsed.attachments:
            attachment = Attachment(message=message, filename=part.filename, content_type=part.content_type,
                                    size=part.size, content_id=part.content_id, inline=part.inline,
                                    too_large=part.data is None)  # fmt: skip
            if part.data is not None:
                attachment.sha256 = hashlib.sha256(part.data).hexdigest()
                attachment.file.save(part.filename, ContentFile(part.data), save=False)
            rows.append(attachment)
    if rows:
        Attachment.objects.bulk_create(rows)


def _link(mailbox: Mailbox, new: list[_New], stored: list[Message]) -> None:
    """As ``services._link`` for the whole batch: people by address, companies through them and by domain,
    threads to the open deals of those people."""
    from rapport.contacts.models import Company, Person, PersonEmail
    from rapport.deals.models import DealContact

    addresses = {a for n in new for a in n.outside}
    if not addresses:
        return
    person_of: dict[str, set[int]] = {}
    for email, person_id in PersonEmail.objects.filter(
        email__in=addresses, live=True, person__deleted_at__isnull=True
    ).values_list("email", "person_id"):
        person_of.setdefault(email, set()).add(person_id)
    all_people = {p for found in person_of.values() for p in found}
    company_of = dict(
        Person.objects.filter(pk__in=all_people, company__isnull=False, company__deleted_at__isnull=True).values_list(
            "id", "company_id"
        )
    )
    own_domain = mailbox.address.lower().rpartition("@")[2]
    domains = {a.rpartition("@")[2] for a in addresses} - set(PERSONAL_DOMAINS) - {own_domain}
    companies_at: dict[str, set[int]] = {}
    if domains:
        for domain, company_id in Company.objects.filter(domain__in=domains, deleted_at__isnull=True).values_list(
            "domain", "id"
        ):
            companies_at.setdefault(domain, set()).add(company_id)
    deals_of: dict[int, set[int]] = {}
    if all_people:
        for person_id, deal_id in DealContact.objects.filter(
            person_id__in=all_people, deal__deleted_at__isnull=True, deal__status="open"
        ).values_list("person_id", "deal_id"):
            deals_of.setdefault(person_id, set()).add(deal_id)

    people_rows, company_rows, deal_rows = [], [], set()
    for item, message in zip(new, stored, strict=True):
        people = {p for a in item.outside for p in person_of.get(a, ())}
        companies = {company_of[p] for p in people if p in company_of}
        companies |= {c for a in item.outside for c in companies_at.get(a.rpartition("@")[2], ())}
        people_rows += [Message.people.through(message_id=message.pk, person_id=p) for p in people]
        company_rows += [Message.companies.through(message_id=message.pk, company_id=c) for c in companies]
        deal_rows |= {(message.thread_id, d) for p in people for d in deals_of.get(p, ())}
    Message.people.through.objects.bulk_create(people_rows, ignore_conflicts=True)
    Message.companies.through.objects.bulk_create(company_rows, ignore_conflicts=True)
    Thread.deals.through.objects.bulk_create(
        [Thread.deals.through(thread_id=t, deal_id=d) for t, d in deal_rows], ignore_conflicts=True
    )


def _run_hooks(message_ids: list[int]) -> None:
    """The received hooks for a committed batch, with what they read loaded for the whole batch at once."""
    run_received_batch_hooks(
        list(
            Message.objects.filter(pk__in=message_ids)
            .select_related("mailbox", "thread")
            .prefetch_related("people", "attachments")
            .order_by("id")
        )
    )
