"""Bounces: delivery status notifications (RFC 3464, ``multipart/report; report-type=delivery-status``) found in
synced mail, recorded against the address they are about; a permanent failure (status 5.x.x) suppresses it."""

from __future__ import annotations

import email
import email.policy
import importlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import suppression
from .models import Bounce, OutgoingMessage, TrackingEvent

logger = logging.getLogger("rapport.compose")
STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
HEADER_PARTS = ("text/rfc822-headers", "message/rfc822", "message/global-headers")
STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class Failure:
    address: str
    action: str
    status: str
    diagnostic: str

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass(frozen=True)
class Report:
    failures: list[Failure]
    original_message_id: str


def _fields(block: str) -> dict[str, str]:
    """Header-style fields of one block of a delivery-status part (continuation lines joined)."""
    out: dict[str, str] = {}
    last = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and last:
            out[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            out[last] = value.strip()
    return out


def parse_delivery_status(text: str) -> list[Failure]:
    """The per-recipient blocks of a message/delivery-status body (the first block is about the message)."""
    failures = []
    for block in re.split(r"\r?\n\s*\r?\n", text or ""):
        fields = _fields(block)
        recipient = fields.get("final-recipient") or fields.get("original-recipient") or ""
        if not recipient or "action" not in fields:
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        status = fields.get("status", "").split()[0] if fields.get("status") else ""
        failures.append(
            Failure(
                address=address,
                action=fields["action"].lower().split()[0],
                status=status if STATUS.match(status) else "",
                diagnostic=fields.get("diagnostic-code", "")[:500],
            )
        )
    return failures


def parse_dsn(raw: bytes) -> Report | None:
    """A DSN's failures and the Message-ID of the message it reports on; None when ``raw`` is not a DSN."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report" or msg.get_param("report-type") != "delivery-status":
        return None
    failures: list[Failure] = []
    original = ""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            # The delivery-status body is header blocks; the email package parses it as a list of messages.
            payload = part.get_payload()
            if isinstance(payload, list):
                text = "\n\n".join(p.as_string() if hasattr(p, "as_string") else str(p) for p in payload)
            else:
                text = str(payload)
            failures += parse_delivery_status(text)
        elif kind in ("message/rfc822", "text/rfc822-headers") and not original:
            inner: Any = part.get_payload()
            if isinstance(inner, list) and inner and hasattr(inner[0], "get"):
                original = str(inner[0].get("Message-ID", ""))
            else:
                headers = email.message_from_string(str(part.get_content()), policy=email.policy.default)
                original = str(headers.get("Message-ID", ""))
    return Report(failures=failures, original_message_id=original.strip().strip("<>"))


def record(report: Report, *, report_message: Any = None) -> list[Bounce]:
    """Store the report's failures (once per report and address), mark the message that bounced, suppress the
    addresses that failed for good."""
    outgoing = None
    if report.original_message_id:
        outgoing = OutgoingMessage.objects.filter(message_id=report.original_message_id).first()
    made = []
    now = timezone.now()
    for failure in report.failures:
        if failure.action not in ("failed", "delayed"):
            continue
        with transaction.atomic():
            if (
                report_message is not None
                and Bounce.objects.filter(report=report_message, address=failure.address).exists()
            ):
                continue
            bounce = Bounce.objects.create(
                address=failure.address, status=failure.status, action=failure.action, hard=failure.hard,
                diagnostic=failure.diagnostic, message=outgoing, report=report_message, at=now,
            )  # fmt: skip
            made.append(bounce)
            if outgoing is not None and failure.action == "failed":
                TrackingEvent.objects.create(
                    outgoing=outgoing, kind="bounce", address=failure.address, detail=failure.status, at=now
                )
                OutgoingMessage.objects.filter(pk=outgoing.pk, bounced_at__isnull=True).update(bounced_at=now)
            if failure.hard:
                suppression.suppress(
                    failure.address, reason="hard_bounce", detail=f"{failure.status} {failure.diagnostic}".strip(),
                    message=outgoing,
                )  # fmt: skip
    return made


def record_raw(raw: bytes, *, report_message: Any = None) -> list[Bounce]:
    report = parse_dsn(raw)
    return record(report, report_message=report_message) if report else []


def on_received(message: Any) -> None:
    """mail.services.RECEIVED_HOOKS: a newly synced message that is a DSN is recorded as bounces.

    The stored message keeps its delivery-status part as an attachment (content type message/delivery-status)
    or in its text; the original's Message-ID comes from an rfc822 part or In-Reply-To/References."""
    parts: list[str] = []
    headers: list[str] = []
    for attachment in message.attachments.all():
        kind = attachment.content_type
        if kind in STATUS_PARTS + HEADER_PARTS and attachment.file:
            with attachment.file.open("rb") as handle:
                text = handle.read(200_000).decode("utf-8", "replace")
            (parts if kind in STATUS_PARTS else headers).append(text)
    text = "\n\n".join(parts) or (message.body_text or "")
    failures = parse_delivery_status(text)
    if not failures:
        return
    original = ""
    ids = [message.in_reply_to, *(message.references or "").split()]
    for candidate in (i.strip().strip("<>") for i in ids if i):
        if OutgoingMessage.objects.filter(message_id=candidate).exists():
            original = candidate
            break
    if not original:
        found = re.search(r"^Message-ID:\s*<([^>]+)>", "\n".join([*headers, message.body_text or ""]), re.I | re.M)
        original = found.group(1) if found else ""
    record(Report(failures=failures, original_message_id=original), report_message=message)


def connect() -> None:
    """Register ``on_received`` with mail.services.RECEIVED_HOOKS when the mail services are installed."""
    try:
        mail_services: Any = importlib.import_module("rapport.mail.services")
    except ImportError:
        return
    hooks = getattr(mail_services, "RECEIVED_HOOKS", None)
    if hooks is not None and on_received not in hooks:
        hooks.append(on_received)
