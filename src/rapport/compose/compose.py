"""Turning a compose form or API body into ``send_email``: template, record, mailbox and reply resolved for the
actor, each refused with the field named when the actor may not use it."""

from __future__ import annotations

from typing import Any

from rapport.activities.markdown import render as markdown_to_html
from rapport.core import registry

from . import services, templates
from .services import ComposeError

RECORD_TYPES = ("people", "companies", "deals")


def resolve_record(actor: Any, type_key: str | None, record_id: int | None) -> Any:
    if not type_key or not record_id:
        return None
    if type_key not in RECORD_TYPES:
        raise ComposeError("record_type", "Use people, companies or deals.")
    model = registry.get(type_key).model
    record = model.objects.visible_to(actor, "view").filter(pk=record_id).first()
    if record is None:
        raise ComposeError("record_id", f"There is no {registry.get(type_key).label.lower()} #{record_id}.")
    return record


def resolve_reply(actor: Any, message_id: int | None) -> Any:
    if not message_id:
        return None
    from rapport.mail.models import Message

    try:
        from rapport.mail.queries import visible_messages

        rows = visible_messages(actor)
    except ImportError:  # before the mail queries exist: only mail of the actor's own mailboxes
        rows = Message.objects.filter(mailbox__owner=actor)
    message = rows.filter(pk=message_id).first()
    if message is None:
        raise ComposeError("in_reply_to", f"There is no message #{message_id}.")
    return message


def send_from_form(actor: Any, data: dict[str, Any], *, attachments: Any = ()) -> Any:
    """``data`` as validated by SendSerializer (or the compose page's form)."""
    record = resolve_record(actor, data.get("record_type"), data.get("record_id"))
    reply = resolve_reply(actor, data.get("in_reply_to"))
    template = None
    subject, body_html = data.get("subject") or "", markdown_to_html(data.get("body") or "")
    if data.get("template"):
        template = services.visible_templates(actor).filter(pk=data["template"]).first()
        if template is None:
            raise ComposeError("template", f"There is no template #{data['template']}.")
        t_subject, t_html = templates.render(template, record=record, sender=actor)
        subject = subject or t_subject
        body_html = body_html if data.get("body") else t_html
    if not subject.strip():
        raise ComposeError("subject", "Write a subject or choose a template.")
    mailbox = None
    if data.get("mailbox"):
        mailbox = services.usable_mailboxes(actor).filter(pk=data["mailbox"]).first()
        if mailbox is None:
            raise ComposeError("mailbox", f"There is no mailbox #{data['mailbox']} you can send from.")
    return services.send_email(
        sender=actor, mailbox=mailbox, to=data["to"], cc=data.get("cc") or (), bcc=data.get("bcc") or (),
        subject=subject, body_html=body_html, in_reply_to=reply, template=template, record=record,
        attachments=attachments, send_at=data.get("send_at"), tracking=bool(data.get("tracking")),
    )  # fmt: skip
