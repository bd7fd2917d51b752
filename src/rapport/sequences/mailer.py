"""Sequences' side of the mail interfaces (docs/email.md): sending through compose, suppression, merge fields,
and finding the Message a step went out as. compose is another app of this release; it is looked up by name so
that sequences loads (and waits instead of sending) on an installation without it."""

from __future__ import annotations

import html
import importlib
import re
from types import ModuleType
from typing import Any

from django.apps import apps

from rapport.mail.models import Mailbox, Message


class ComposeMissing(RuntimeError):
    """Sending needs the compose app; enrolments wait until it is installed."""


def _compose(module: str) -> ModuleType:
    if not apps.is_installed("rapport.compose"):
        raise ComposeMissing("Sequences send through the compose app, which is not installed.")
    return importlib.import_module(f"rapport.compose.{module}")


def _compose_model(name: str) -> Any:
    app_label = "compose"
    return apps.get_model(app_label, name)


def send_email(**kwargs: Any) -> Any:
    """compose.services.send_email: queues an OutgoingMessage committed with the caller's transaction."""
    return _compose("services").send_email(**kwargs)


def is_suppressed(address: str) -> bool:
    """compose.suppression.is_suppressed: unsubscribed or hard-bounced addresses get nothing more."""
    if not apps.is_installed("rapport.compose"):
        return False
    return bool(_compose("suppression").is_suppressed(address))


def render_template(template_id: int, *, record: Any, sender: Any) -> tuple[str, str]:
    templates = _compose("templates")
    model = _compose_model("Template")
    return templates.render(model.objects.get(pk=template_id), record=record, sender=sender)  # type: ignore[no-any-return]


def sent_message(outgoing_id: int | None) -> Message | None:
    """The stored Message an OutgoingMessage became once sent (None while it waits in compose's queue)."""
    if outgoing_id is None or not apps.is_installed("rapport.compose"):
        return None
    outgoing = _compose_model("OutgoingMessage").objects.filter(pk=outgoing_id).first()
    if outgoing is None:
        return None
    for name in ("stored_message", "message"):  # compose keeps the stored copy of what it sent
        message = getattr(outgoing, name, None)
        if isinstance(message, Message):
            return message
    message_id = (getattr(outgoing, "message_id", "") or "").strip("<>")
    mailbox_id = getattr(outgoing, "mailbox_id", None)
    if not message_id:
        return None
    found = Message.objects.filter(message_id=message_id)
    if mailbox_id:
        found = found.filter(mailbox_id=mailbox_id)
    return found.first()


def enrolments_in_thread(thread_id: int) -> set[int]:
    """The enrolments whose steps went out in this thread (compose's OutgoingMessage keeps the enrolment id)."""
    if not apps.is_installed("rapport.compose"):
        return set()
    model = _compose_model("OutgoingMessage")
    names = {f.name for f in model._meta.get_fields()}
    if "stored_message" in names:
        rows = model.objects.filter(stored_message__thread_id=thread_id)
    elif "message" in names:
        rows = model.objects.filter(message__thread_id=thread_id)
    else:
        ids = Message.objects.filter(thread_id=thread_id, direction="out").values("message_id")
        rows = model.objects.filter(message_id__in=ids)
    return set(rows.exclude(sequence_enrolment_id=None).values_list("sequence_enrolment_id", flat=True))


def tracking_counts(sequence_id: int) -> dict[int, dict[str, int]] | None:
    """Per step id, how many of its emails were opened and clicked (compose's tracking events); None without
    compose's tracking."""
    if not apps.is_installed("rapport.compose"):
        return None
    try:
        model = _compose_model("TrackingEvent")
    except LookupError:
        return None
    from .models import StepRun

    step_of = dict(
        StepRun.objects.filter(enrolment__sequence_id=sequence_id, outcome="sent", outgoing_id__isnull=False)
        .filter(step__isnull=False)
        .values_list("outgoing_id", "step_id")
    )
    out: dict[int, dict[str, int]] = {}
    seen = model.objects.filter(outgoing_id__in=list(step_of)).values_list("outgoing_id", "kind").distinct()
    for outgoing_id, kind in seen:
        key = {"open": "opened", "opened": "opened", "click": "clicked", "clicked": "clicked"}.get(kind)
        if key:
            counts = out.setdefault(step_of[outgoing_id], {"opened": 0, "clicked": 0})
            counts[key] += 1
    return out


def sender_mailbox(user: Any) -> Mailbox | None:
    """The enrolling user's own mailbox (the first active one that is not a BCC drop box); None sends through
    the organisation's server (RAPPORT_EMAIL_URL)."""
    return (
        Mailbox.objects.filter(owner=user, active=True, is_dropbox=False, shared=False).order_by("id").first()
        if user is not None
        else None
    )


# --- merge fields of a step's own subject and body -------------------------------------------------------------
MERGE = re.compile(r"\{\{\s*([a-z_]+(?:\.[a-z_]+)?)\s*\}\}")
MERGE_FIELDS = (
    "person.first_name",
    "person.last_name",
    "person.full_name",
    "person.email",
    "person.job_title",
    "company.name",
    "sender.first_name",
    "sender.last_name",
    "sender.full_name",
    "sender.email",
)


def merge_values(person: Any, sender: Any) -> dict[str, str]:
    company = person.company if person.company_id else None
    return {
        "person.first_name": person.first_name,
        "person.last_name": person.last_name,
        "person.full_name": person.full_name,
        "person.email": person.primary_email,
        "person.job_title": person.job_title,
        "company.name": company.name if company is not None else "",
        "sender.first_name": sender.first_name,
        "sender.last_name": sender.last_name,
        "sender.full_name": sender.display_name,
        "sender.email": sender.email,
    }


def merge(text: str, values: dict[str, str], *, escape: bool) -> str:
    """Fill ``{{ person.first_name }}``-style fields; unknown fields stay as written (the editor refuses them)."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            return match.group(0)
        return html.escape(values[key]) if escape else values[key]

    return MERGE.sub(fill, text)


def unknown_fields(text: str) -> list[str]:
    return sorted({m.group(1) for m in MERGE.finditer(text)} - set(MERGE_FIELDS))


def body_html(text: str) -> str:
    """A plain-text body as paragraphs of HTML (the merge values already escaped)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + p.replace("\n", "<br>") + "</p>" for p in paragraphs)
