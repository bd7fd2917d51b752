"""The writers of mail: storing a message (sync, sending, the dropbox all come through ``store_message``),
privacy rules, thread changes (private, linked deals), the people made from unknown senders.

``store_message`` parses, applies the organisation's ignored addresses, deduplicates per mailbox by
Message-ID (a copy in another folder only adds a location), threads, links to people, companies and deals,
and stores attachments, in one transaction. ``RECEIVED_HOOKS`` run after the commit for each new received
message (compose records bounces), ``RECEIVED_BATCH_HOOKS`` once for all the new received messages of a
commit — a sync batch — so a hook can first ask once whether anything could concern them (sequences stop on
reply); a failing hook is logged, never raised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from rapport.core import audit, inputs

from .models import Attachment, IgnoredAddress, Mailbox, MailFolder, Message, MessageLocation, Thread
from .parsing import MailLimits, ParsedMessage, parse, snippet, subject_key

logger = logging.getLogger("rapport.mail")

RECEIVED_HOOKS: list[Callable[[Message], None]] = []
RECEIVED_BATCH_HOOKS: list[Callable[[list[Message]], object]] = []

# Mail with the same subject (without Re:/Fwd:) and a common outside participant joins a thread when it
# carries no usable In-Reply-To/References, if the thread was active within this window.
SUBJECT_WINDOW = dt.timedelta(days=30)

# Personal mail providers: offered as suggestions for the ignored list (never applied on their own), and
# never used to link a company by domain (thousands of unrelated people share them).
PERSONAL_DOMAINS = (
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
    "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com",
    "yandex.ru", "mail.ru", "orange.fr", "free.fr", "laposte.net", "libero.it", "t-online.de",
)  # fmt: skip


# --- privacy -------------------------------------------------------------------------------------------
class IgnoreRules:
    """The organisation's ignored addresses and domains, read once per batch."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.addresses: set[str] = set()
        self.domains: set[str] = set()
        for pattern in patterns:
            pattern = pattern.strip().lower().lstrip("@")
            (self.addresses if "@" in pattern else self.domains).add(pattern)

    @classmethod
    def load(cls) -> IgnoreRules:
        return cls(IgnoredAddress.objects.values_list("pattern", flat=True))

    def ignores(self, address: str) -> bool:
        address = address.lower()
        if address in self.addresses:
            return True
        domain = address.rpartition("@")[2]
        # A domain covers its subdomains (example.com covers mail.example.com).
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


def normalize_pattern(value: str) -> str:
    """An ignored-address pattern as stored: ``ann@example.com`` or ``example.com`` (lower-case)."""
    value = (value or "").strip().lower().lstrip("@")
    if not value or " " in value or len(value) > 254:
        raise ValueError("Enter an address (ann@example.com) or a domain (example.com).")
    local, at, domain = value.rpartition("@")
    if (at and not local) or "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise ValueError("Enter an address (ann@example.com) or a domain (example.com).")
    return value


def add_ignored_address(pattern: str, *, actor: Any) -> IgnoredAddress:
    value = normalize_pattern(pattern)
    with transaction.atomic():
        entry, created = IgnoredAddress.objects.get_or_create(pattern=value, defaults={"created_by": actor})
        if created:
            audit.record_setting_change("mail_ignored", entry, actor=actor, action="created", after={"pattern": value})
    return entry


def remove_ignored_address(entry: IgnoredAddress, *, actor: Any) -> None:
    with transaction.atomic():
        audit.record_setting_change(
            "mail_ignored", entry, actor=actor, action="deleted", before={"pattern": entry.pattern}
        )
        entry.delete()


# --- the dropbox ---------------------------------------------------------------------------------------
def dropbox_token(user: Any) -> str:
    """The per-user part of the dropbox plus-address: the user id and a keyed digest (not guessable)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"mail-dropbox:{user.pk}".encode(), hashlib.sha256)
    return f"{user.pk}.{digest.hexdigest()[:12]}"


def dropbox_address(mailbox: Mailbox, user: Any) -> str:
    local, _, domain = mailbox.address.partition("@")
    return f"{local}+{dropbox_token(user)}@{domain}"


def dropbox_user(mailbox: Mailbox, addresses: Iterable[str]) -> Any:
    """The active user whose plus-address is among ``addresses``, or None."""
    from django.contrib.auth import get_user_model

    local, _, domain = mailbox.address.lower().partition("@")
    for address in addresses:
        a_local, _, a_domain = address.lower().partition("@")
        if a_domain != domain or not a_local.startswith(local + "+"):
            continue
        token = a_local[len(local) + 1 :]
        user_id, _, _ = token.partition(".")
        if not inputs.is_id(user_id):
            continue
        user = get_user_model().objects.filter(pk=int(user_id), is_active=True).first()
        if user is not None and hmac.compare_digest(dropbox_token(user), token):
            return user
    return None


def user_addresses(user: Any) -> set[str]:
    return {user.email.lower()} if getattr(user, "email", "") else set()


# --- storing -------------------------------------------------------------------------------------------
def own_addresses(mailbox: Mailbox) -> set[str]:
    own = {mailbox.address.lower()}
    if "@" in mailbox.username:
        own.add(mailbox.username.lower())
    if mailbox.owner_id is not None and mailbox.owner is not None:
        own |= user_addresses(mailbox.owner)
    return own


def store_message(
    mailbox: Mailbox,
    raw: bytes,
    *,
    folder: MailFolder | None = None,
    uid: int | None = None,
    direction: str | None = None,
    partial: bool = False,
    rules: IgnoreRules | None = None,
) -> Message | None:
    """Store one message of ``mailbox`` (found at ``folder``/``uid`` when synced) and return it.

    Returns the existing row when the mailbox already holds this Message-ID (adding the location), and None
    when the organisation's privacy rules say the message is never stored (every participant other than the
    mailbox itself is ignored) or a dropbox message names no user. ``direction`` is "in" or "out"; by default
    "out" when the sender is the mailbox's own address or the folder is Sent. ``partial``: only the start of
    a message over the size limit was fetched (stored with ``truncated``).
    """
    parsed = parse(raw, partial=partial)
    return store_parsed(mailbox, parsed, folder=folder, uid=uid, direction=direction, rules=rules)


def store_parsed(
    mailbox: Mailbox,
    parsed: ParsedMessage,
    *,
    folder: MailFolder | None = None,
    uid: int | None = None,
    direction: str | None = None,
    rules: IgnoreRules | None = None,
) -> Message | None:
    rules = rules or IgnoreRules.load()
    verdict = admit(mailbox, parsed, own_addresses(mailbox), rules, folder=folder, direction=direction)
    if verdict is None:
        return None
    direction, logged_for, own = verdict

    with transaction.atomic():
        existing = Message.objects.filter(mailbox=mailbox, message_id=parsed.message_id).first()
        if existing is not None:
            _add_location(existing, folder, uid)
            return existing
        try:
            with transaction.atomic():
                message = _create(mailbox, parsed, direction, logged_for, own, rules)
        except IntegrityError:
            # Another worker stored it in between (unique per mailbox and Message-ID): use theirs.
            message = Message.objects.get(mailbox=mailbox, message_id=parsed.message_id)
            _add_location(message, folder, uid)
            return message
        _add_location(message, folder, uid)
        if direction == "in":
            transaction.on_commit(lambda: run_received_hooks(message))
    return message


def admit(
    mailbox: Mailbox,
    parsed: ParsedMessage,
    own: set[str],
    rules: IgnoreRules,
    *,
    folder: MailFolder | None = None,
    direction: str | None = None,
) -> tuple[str, Any, set[str]] | None:
    """Whether ``parsed`` is stored at all (privacy rules, the dropbox's plus-address) and how: its direction,
    the user a dropbox message is logged for, and the addresses that count as the mailbox's own for it."""
    logged_for = None
    if mailbox.is_dropbox:
        logged_for = dropbox_user(
            mailbox, [*parsed.envelope_recipients, *(p["address"] for p in parsed.to + parsed.cc)]
        )
        if logged_for is None:
            logger.info("mail: dropbox message %s names no user; not stored", parsed.message_id)
            return None
        own = own | user_addresses(logged_for) | {mailbox.address.lower()}  # a copy: ``own`` is shared by a batch
        own |= {a for a in [*parsed.envelope_recipients, *(p["address"] for p in parsed.to + parsed.cc)]
                if a.startswith(mailbox.address.lower().partition("@")[0] + "+")}  # fmt: skip
    outside = [a for a in parsed.participants if a not in own]
    if outside and all(rules.ignores(a) for a in outside):
        return None
    if not outside and rules.ignores(parsed.from_address):
        return None
    if direction is None:
        direction = "out" if parsed.from_address in own or (folder is not None and folder.role == "sent") else "in"
    return direction, logged_for, own


def run_received_hooks(message: Message) -> None:
    run_received_batch_hooks([message])


def run_received_batch_hooks(messages: list[Message]) -> None:
    """Every received hook for newly stored received messages (oldest first): the per-message hooks for each,
    then the batch hooks once with them all."""
    for message in messages:
        for hook in list(RECEIVED_HOOKS):
            try:
                hook(message)
            except Exception:
                logger.exception("mail: received hook %r failed for message %s", hook, message.pk)
    if not messages:
        return
    for batch_hook in list(RECEIVED_BATCH_HOOKS):
        try:
            batch_hook(messages)
        except Exception:
            logger.exception("mail: received hook %r failed for messages %s…", batch_hook, messages[0].pk)


def _add_location(message: Message, folder: MailFolder | None, uid: int | None) -> None:
    if folder is None or uid is None:
        return
    validity = folder.uidvalidity or 0
    MessageLocation.objects.get_or_create(folder=folder, uidvalidity=validity, uid=uid, defaults={"message": message})
    if message.gone_from_server_at is not None:
        message.gone_from_server_at = None
        Message.objects.filter(pk=message.pk).update(gone_from_server_at=None)


def _create(
    mailbox: Mailbox, parsed: ParsedMessage, direction: str, logged_for: Any, own: set[str], rules: IgnoreRules
) -> Message:
    at = parsed.sent_at or timezone.now()
    outside = {a for a in parsed.participants if a not in own and not rules.ignores(a)}
    thread = _find_thread(mailbox, parsed, at, outside)
    if thread is None:
        thread = Thread.objects.create(
            mailbox=mailbox,
            subject=parsed.subject,
            subject_key=subject_key(parsed.subject),
            first_at=at,
            last_at=at,
            message_count=0,
        )
    message = Message.objects.create(
        mailbox=mailbox,
        thread=thread,
        direction=direction,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references)[:100_000],
        subject=parsed.subject,
        from_address=parsed.from_address,
        from_name=parsed.from_name,
        to=parsed.to,
        cc=parsed.cc,
        bcc=parsed.bcc,
        sent_at=parsed.sent_at,
        received_at=timezone.now(),
        snippet=snippet(parsed.body_text),
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        has_remote_images=parsed.has_remote_images,
        size=parsed.size,
        truncated=parsed.truncated,
        is_bounce=parsed.is_bounce,
        logged_for=logged_for,
    )
    Thread.objects.filter(pk=thread.pk).update(
        message_count=Message.objects.filter(thread=thread).count(),
        first_at=min(thread.first_at, at) if thread.message_count else at,
        last_at=max(thread.last_at, at) if thread.message_count else at,
    )
    _adopt_children(mailbox, message, thread)
    _store_attachments(message, parsed)
    _link(message, outside)
    return message


def _find_thread(mailbox: Mailbox, parsed: ParsedMessage, at: dt.datetime, outside: set[str]) -> Thread | None:
    ids = [*parsed.references, parsed.in_reply_to]
    ids = [i for i in ids if i and i != parsed.message_id]
    if ids:
        parent = (
            Message.objects.filter(mailbox=mailbox, message_id__in=ids)
            .select_related("thread")
            .order_by("-sent_at", "-id")
            .first()
        )
        if parent is not None:
            return parent.thread
    # A reply stored before its parent arrives: the children name this message.
    child = Message.objects.filter(mailbox=mailbox, in_reply_to=parsed.message_id).select_related("thread").first()
    if child is not None:
        return child.thread
    key = subject_key(parsed.subject)
    if not key or not outside:
        return None
    candidates = Thread.objects.filter(
        mailbox=mailbox, subject_key=key, last_at__gte=at - SUBJECT_WINDOW, first_at__lte=at + SUBJECT_WINDOW
    ).order_by("-last_at")[:5]
    for thread in candidates:
        people: set[str] = set()
        for sender, to, cc in Message.objects.filter(thread=thread).values_list("from_address", "to", "cc")[:50]:
            people.add(sender)
            people |= {p.get("address", "") for p in (to or []) + (cc or [])}
        if people & outside:
            return thread
    return None


def _adopt_children(mailbox: Mailbox, message: Message, thread: Thread) -> None:
    """Replies stored before this message (in their own threads) join its thread."""
    strays = list(
        Message.objects.filter(mailbox=mailbox, in_reply_to=message.message_id)
        .exclude(thread=thread)
        .values_list("thread_id", flat=True)
        .distinct()
    )
    for stray in strays:
        merge_threads(thread, Thread.objects.get(pk=stray))


def merge_threads(target: Thread, other: Thread) -> None:
    Message.objects.filter(thread=other).update(thread=target)
    target.deals.add(*other.deals.all())
    if other.private:
        Thread.objects.filter(pk=target.pk).update(private=True, private_by=other.private_by)
    other.delete()
    refresh_thread(target)


def refresh_thread(thread: Thread) -> None:
    from django.db.models import Count, Max, Min

    figures = Message.objects.filter(thread=thread).aggregate(n=Count("id"), first=Min("sent_at"), last=Max("sent_at"))
    Thread.objects.filter(pk=thread.pk).update(
        message_count=figures["n"] or 0,
        first_at=figures["first"] or thread.first_at,
        last_at=figures["last"] or thread.last_at,
    )


def _store_attachments(message: Message, parsed: ParsedMessage) -> None:
    for part in parsed.attachments:
        attachment = Attachment(
            message=message,
            filename=part.filename,
            content_type=part.content_type,
            size=part.size,
            content_id=part.content_id,
            inline=part.inline,
            too_large=part.data is None,
        )
        if part.data is not None:
            attachment.sha256 = hashlib.sha256(part.data).hexdigest()
            attachment.file.save(part.filename, ContentFile(part.data), save=False)
        attachment.save()


def _link(message: Message, outside: set[str]) -> None:
    """People by any of their addresses (From/To/Cc), companies through those people and by domain, and the
    thread to the open deals those people are contacts of."""
    from rapport.contacts.models import Company, PersonEmail
    from rapport.deals.models import DealContact

    if not outside:
        return
    addresses = outside | {a.lower() for a in outside}
    person_ids = set(
        PersonEmail.objects.filter(email__in=addresses, live=True, person__deleted_at__isnull=True).values_list(
            "person_id", flat=True
        )
    )
    domains = {a.rpartition("@")[2] for a in outside} - set(PERSONAL_DOMAINS)
    own_domain = message.mailbox.address.lower().rpartition("@")[2]
    domains.discard(own_domain)
    from rapport.contacts.models import Person

    company_ids = set(
        Person.objects.filter(pk__in=person_ids, company__isnull=False, company__deleted_at__isnull=True).values_list(
            "company_id", flat=True
        )
    )
    if domains:
        company_ids |= set(
            Company.objects.filter(domain__in=domains, deleted_at__isnull=True).values_list("id", flat=True)
        )
    if person_ids:
        message.people.add(*person_ids)
        deal_ids = set(
            DealContact.objects.filter(
                person_id__in=person_ids, deal__deleted_at__isnull=True, deal__status="open"
            ).values_list("deal_id", flat=True)
        )
        if deal_ids:
            message.thread.deals.add(*deal_ids)
    if company_ids:
        message.companies.add(*company_ids)


def relink_address(address: str) -> int:
    """Link the stored messages that mention ``address`` to the people and companies it now belongs to
    (after "Create person" from an unknown sender); returns the number of messages looked at."""
    address = address.lower()
    candidates = Message.objects.filter(Q(from_address=address) | Q(to__icontains=address) | Q(cc__icontains=address))
    count = 0
    for message in candidates.select_related("mailbox", "thread")[:5000]:
        _link(message, {address})
        count += 1
    return count


# --- thread changes ------------------------------------------------------------------------------------
def set_thread_private(thread: Thread, private: bool, *, actor: Any) -> Thread:
    """Mark a thread private (only its mailbox's owner — or, in a shared mailbox, the user who marked it —
    sees it) or shared again."""
    thread.private = private
    thread.private_by = actor if private else None
    Thread.objects.filter(pk=thread.pk).update(private=thread.private, private_by=thread.private_by)
    return thread


def link_thread_to_deal(thread: Thread, deal: Any, *, actor: Any) -> None:
    thread.deals.add(deal)


def unlink_thread_from_deal(thread: Thread, deal: Any, *, actor: Any) -> None:
    thread.deals.remove(deal)


def mark_gone(folder: MailFolder, uids_on_server: set[int]) -> int:
    """Locations of ``folder`` no longer on the server are dropped; a message with no location left is kept
    and stamped ``gone_from_server_at``. Returns the number of messages stamped."""
    gone = (
        MessageLocation.objects.filter(folder=folder).exclude(uid__in=uids_on_server)
        if len(uids_on_server) < 5000
        else None
    )
    if gone is None:
        known = dict(MessageLocation.objects.filter(folder=folder).values_list("uid", "id"))
        gone_ids = [pk for uid, pk in known.items() if uid not in uids_on_server]
        gone = MessageLocation.objects.filter(pk__in=gone_ids)
    message_ids = list(gone.values_list("message_id", flat=True))
    gone.delete()
    if not message_ids:
        return 0
    return Message.objects.filter(pk__in=message_ids, locations__isnull=True, gone_from_server_at__isnull=True).update(
        gone_from_server_at=timezone.now()
    )


def limits() -> MailLimits:
    return MailLimits.from_settings()


# --- mailboxes -----------------------------------------------------------------------------------------
MAILBOX_FIELDS = (
    "name", "address", "imap_host", "imap_port", "imap_security", "username", "auth_method", "oauth_provider",
    "smtp_host", "smtp_port", "smtp_security", "sync_from", "active", "shared", "team", "is_dropbox",
)  # fmt: skip


def save_mailbox(mailbox: Mailbox | None, data: dict[str, Any], *, actor: Any) -> Mailbox:
    """Create or change a mailbox from validated form/API data. ``secret`` (password or access token) is
    encrypted; left empty on a change it keeps the stored one. Shared and dropbox mailboxes: settings managers
    only (the caller checks); a personal mailbox belongs to the actor who adds it."""
    from . import crypto

    with transaction.atomic():
        created = mailbox is None
        before = {} if mailbox is None else _mailbox_values(mailbox)
        if mailbox is None:
            mailbox = Mailbox(owner=None if data.get("shared") or data.get("is_dropbox") else actor)
        for name in MAILBOX_FIELDS:
            if name in data:
                setattr(mailbox, name, data[name])
        if mailbox.shared or mailbox.is_dropbox:
            mailbox.owner = None
        elif mailbox.owner_id is None:
            mailbox.owner = actor
        secret = data.get("secret") or ""
        if secret:
            mailbox.secret_encrypted = crypto.encrypt(secret)
            mailbox.last_error = ""
        mailbox.updated_at = timezone.now()
        if created or secret or "sync_from" in data:
            mailbox.next_sync_at = timezone.now()  # try it soon, so the health page tells whether it works
        mailbox.save()
        if "folders" in data:
            chosen = set(data["folders"])
            for folder in MailFolder.objects.filter(mailbox=mailbox):
                selected = folder.name in chosen or folder.role in ("inbox", "sent")
                if folder.selected != selected:
                    MailFolder.objects.filter(pk=folder.pk).update(selected=selected)
        after = _mailbox_values(mailbox)
        if secret:
            after["secret"] = "changed"  # that it changed, never the secret
        audit.record_setting_change(
            "mailbox", mailbox, actor=actor, action="created" if created else "changed", before=before, after=after
        )
    return mailbox


def _mailbox_values(mailbox: Mailbox) -> dict[str, Any]:
    """A mailbox's settings for the audit trail: its fields and selected folders (no secret)."""
    out = audit.values(mailbox, (*MAILBOX_FIELDS, "owner"))
    if mailbox.pk:
        selected = MailFolder.objects.filter(mailbox=mailbox, selected=True)
        out["folders"] = sorted(selected.values_list("name", flat=True))
    return out


def delete_mailbox(mailbox: Mailbox, *, actor: Any) -> None:
    """Disconnect a mailbox and forget its mail (its messages, threads and attachments)."""
    with transaction.atomic():
        audit.record_setting_change("mailbox", mailbox, actor=actor, action="deleted", before=_mailbox_values(mailbox))
        mailbox.delete()


def create_person_from_address(address: str, name: str, *, actor: Any) -> Any:
    """ "Create person" from an unknown sender: a person with this address (through the write path), then
    the stored mail that mentions the address is linked to them."""
    from rapport.core import registry
    from rapport.core.services import create_record

    first, _, last = (name or "").strip().partition(" ")
    if not first and not last:
        first = address.partition("@")[0][:100]
    rtype = registry.get("people")
    serializer = rtype.get_serializer_class()(
        data={"first_name": first[:100], "last_name": last[:100], "emails": [address]}, context={"actor": actor}
    )
    serializer.is_valid(raise_exception=True)
    person = create_record(rtype.model, serializer.validated_data, actor=actor, source="email")
    relink_address(address)
    return person
