"""The writes of sending email: ``send_email`` (queue one message, committed with the caller's transaction),
cancelling a scheduled one, the templates, and the suppression list by hand."""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Iterable
from email.utils import make_msgid, parseaddr
from typing import Any

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rapport.core import audit, visibility

from . import suppression, templates, tracking
from .models import EmailTemplate, OutgoingAttachment, OutgoingMessage, Suppression

MAX_RECIPIENTS = 50
BODY_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "hr", "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}  # fmt: skip
TEMPLATE_FIELDS = ("name", "subject", "body", "owner")


class ComposeError(ValueError):
    """A send or template that cannot be accepted; ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def max_attachment_bytes() -> int:
    return int(getattr(settings, "RAPPORT_MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))


def sanitise_html(body_html: str) -> str:
    return nh3.clean(
        body_html or "",
        tags=BODY_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
    )


def usable_mailboxes(user: Any) -> Any:
    """The mailboxes ``user`` may send from: their own, and shared ones of their team or of everyone."""
    from rapport.mail.models import Mailbox

    return (
        Mailbox.objects.filter(active=True, is_dropbox=False)
        .filter(Q(owner=user) | Q(shared=True, team__isnull=True) | Q(shared=True, team_id=user.team_id))
        .exclude(smtp_host="")
    )


def _addresses(values: Iterable[str], field: str) -> list[str]:
    out: list[str] = []
    for value in values or ():
        name, address = parseaddr(str(value))
        address = address.strip()
        try:
            validate_email(address)
        except ValidationError:
            raise ComposeError(field, f"{str(value)[:100]} is not an email address.")
        if address.lower() not in {a.lower() for a in out}:
            out.append(address)
    return out


def _reply_headers(message: Any) -> tuple[str, str]:
    own = f"<{message.message_id}>"
    references = " ".join([*(message.references or "").split(), own][-20:])
    return own, references


def _attachment(item: Any) -> tuple[str, bytes, str]:
    """(filename, content, content type) from an uploaded file or a (filename, content[, content type]) tuple."""
    if isinstance(item, tuple):
        filename, content = item[0], item[1]
        kind = item[2] if len(item) > 2 else ""
    else:
        filename, content, kind = item.name, item.read(), getattr(item, "content_type", "")
    filename = str(filename).replace("/", "_").replace("\\", "_")[:200] or "attachment"
    kind = kind or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return filename, bytes(content), kind


def send_email(
    *,
    sender: Any,
    mailbox: Any,
    to: list[str],
    subject: str,
    body_html: str,
    cc: Iterable[str] = (),
    bcc: Iterable[str] = (),
    in_reply_to: Any = None,
    template: Any = None,
    record: Any = None,
    attachments: Iterable[Any] = (),
    send_at: dt.datetime | None = None,
    tracking: bool = False,
    list_unsubscribe: bool = False,
    sequence_enrolment_id: int | None = None,
) -> OutgoingMessage:
    """Queue one email from ``sender``: the row commits with the caller's transaction and a job sends it after
    commit (or at ``send_at``) through ``mailbox``'s SMTP, or the organisation's server when ``mailbox`` is None.
    Raises ComposeError naming the field for anything that cannot be sent."""
    to_list = _addresses(to, "to")
    cc_list = _addresses(cc, "cc")
    bcc_list = _addresses(bcc, "bcc")
    if not to_list:
        raise ComposeError("to", "Add at least one recipient.")
    if len(to_list) + len(cc_list) + len(bcc_list) > MAX_RECIPIENTS:
        raise ComposeError("to", f"At most {MAX_RECIPIENTS} recipients in one message.")
    if list_unsubscribe and len(to_list) != 1:
        raise ComposeError("to", "A message with an unsubscribe link goes to exactly one recipient.")
    subject = " ".join((subject or "").split())
    if len(subject) > 900:
        raise ComposeError("subject", "The subject is longer than 900 characters.")
    if mailbox is not None and not usable_mailboxes(sender).filter(pk=mailbox.pk).exists():
        raise ComposeError("mailbox", "You cannot send from this mailbox.")
    if record is not None and not visibility.can(sender, record, "view"):
        raise ComposeError("record", "There is no such record.")
    files = [_attachment(item) for item in attachments or ()]
    if sum(len(content) for _, content, _ in files) > max_attachment_bytes():
        limit = max_attachment_bytes() // (1024 * 1024)
        raise ComposeError("attachments", f"Attachments may total at most {limit} MB.")
    if send_at is not None and timezone.is_naive(send_at):
        raise ComposeError("send_at", "Give the time with its time zone.")

    body = sanitise_html(body_html)
    if mailbox is not None:
        from_address, from_name = mailbox.address, sender.get_full_name() or mailbox.name
    else:
        from_name, from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        from_name = f"{sender.get_full_name() or sender.username} via Rapport"
    domain = from_address.rpartition("@")[2] or "rapport.invalid"
    reply_to, references = _reply_headers(in_reply_to) if in_reply_to is not None else ("", "")
    now = timezone.now()
    with transaction.atomic():
        message = OutgoingMessage.objects.create(
            sender=sender,
            mailbox=mailbox,
            from_address=from_address,
            from_name=from_name[:300],
            to=to_list,
            cc=cc_list,
            bcc=bcc_list,
            subject=subject,
            body_html=body,
            body_text=nh3.clean(body, tags=set()).strip(),
            message_id=make_msgid(domain=domain).strip("<>"),
            in_reply_to=in_reply_to,
            in_reply_to_header=reply_to,
            references_header=references,
            template=template,
            record_type=_type_key(record),
            record_id=getattr(record, "pk", None),
            sequence_enrolment_id=sequence_enrolment_id,
            tracking=tracking,
            list_unsubscribe=list_unsubscribe,
            links=tracking_links(body) if tracking else [],
            send_at=send_at or now,
            next_attempt_at=send_at or now,
        )
        for filename, content, kind in files:
            attachment = OutgoingAttachment(message=message, filename=filename, content_type=kind, size=len(content))
            attachment.file.save(filename, ContentFile(content), save=False)
            attachment.save()
        if message.send_at <= now + dt.timedelta(seconds=5):
            transaction.on_commit(lambda: _enqueue(message.pk))
    return message


def tracking_links(body: str) -> list[str]:
    return tracking.links_of(body)


def _enqueue(pk: int) -> None:
    from .tasks import send_outgoing_message

    send_outgoing_message.enqueue(pk)


def _type_key(record: Any) -> str:
    if record is None:
        return ""
    return str(getattr(type(record), "record_type_key", "") or "")


def cancel(message: OutgoingMessage, *, actor: Any) -> bool:
    """Cancel a message that has not been claimed yet (a scheduled send, or one waiting for a retry)."""
    return bool(OutgoingMessage.objects.filter(pk=message.pk, status="scheduled").update(status="cancelled"))


# --- templates ----------------------------------------------------------------------------------------------
def visible_templates(user: Any) -> Any:
    """The templates ``user`` may use: their own and the organisation's."""
    return EmailTemplate.objects.filter(Q(owner=user) | Q(owner__isnull=True))


def may_change_template(user: Any, template: EmailTemplate) -> bool:
    return template.owner_id == user.pk if template.owner_id else user.can_manage_settings()


def _check_template(data: dict[str, Any]) -> None:
    for field in ("name", "subject", "body"):
        if field in data and not str(data[field] or "").strip():
            raise ComposeError(field, "This field is required.")
    templates.check(data.get("subject", ""), field="subject")
    templates.check(data.get("body", ""), field="body")


def create_template(*, actor: Any, name: str, subject: str, body: str, shared: bool = False) -> EmailTemplate:
    if shared and not actor.can_manage_settings():
        raise ComposeError("shared", "Only administrators can make templates for everyone.")
    _wrap(lambda: _check_template({"name": name, "subject": subject, "body": body}))
    with transaction.atomic():
        template = EmailTemplate.objects.create(
            name=name.strip()[:150], subject=subject.strip()[:500], body=body, owner=None if shared else actor,
            created_by=actor,
        )  # fmt: skip
        if shared:
            audit.record_setting_change(
                "email_template", template, actor=actor, action="created",
                after=audit.values(template, TEMPLATE_FIELDS),
            )  # fmt: skip
    return template


def update_template(template: EmailTemplate, *, actor: Any, **changes: Any) -> EmailTemplate:
    if not may_change_template(actor, template):
        raise ComposeError("template", "You cannot change this template.")
    changes = {k: v for k, v in changes.items() if k in ("name", "subject", "body")}
    _wrap(lambda: _check_template(changes))
    with transaction.atomic():
        before = audit.values(template, TEMPLATE_FIELDS)
        for key, value in changes.items():
            setattr(template, key, value.strip() if key != "body" else value)
        template.updated_at = timezone.now()
        template.save()
        if template.owner_id is None:
            audit.record_setting_change(
                "email_template", template, actor=actor, before=before, after=audit.values(template, TEMPLATE_FIELDS)
            )
    return template


def delete_template(template: EmailTemplate, *, actor: Any) -> None:
    if not may_change_template(actor, template):
        raise ComposeError("template", "You cannot delete this template.")
    with transaction.atomic():
        if template.owner_id is None:
            audit.record_setting_change(
                "email_template", template, actor=actor, action="deleted",
                before=audit.values(template, TEMPLATE_FIELDS),
            )  # fmt: skip
        template.delete()


def _wrap(check: Any) -> None:
    try:
        check()
    except templates.TemplateError as exc:
        raise ComposeError(exc.field, exc.message)


def add_suppression(address: str, *, actor: Any, detail: str = "") -> bool:
    """Put ``address`` on the suppression list by hand (no later send goes to it); False when it was there."""
    if not actor.can_manage_settings():
        raise ComposeError("address", "Only administrators can change the suppression list.")
    (cleaned,) = _addresses([address], "address") or [""]
    with transaction.atomic():
        added = suppression.suppress(cleaned, reason="manual", detail=detail, actor=actor)
        if added:
            entry = Suppression.objects.get(address=suppression.normalise(cleaned))
            audit.record_setting_change(
                "email_suppression", entry, actor=actor, action="created",
                after={"address": entry.address, "reason": entry.reason, "detail": entry.detail},
            )  # fmt: skip
    return added


def remove_suppression(entry: Suppression, *, actor: Any) -> None:
    """Take an address off the suppression list: later sends go to it again (an unsubscribe undone by hand
    needs the person's consent again; the audit trail keeps who did it)."""
    if not actor.can_manage_settings():
        raise ComposeError("address", "Only administrators can change the suppression list.")
    with transaction.atomic():
        audit.record_setting_change(
            "email_suppression", entry, actor=actor, action="deleted",
            before={"address": entry.address, "reason": entry.reason, "detail": entry.detail},
        )  # fmt: skip
        entry.delete()
