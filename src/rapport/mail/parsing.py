"""Raw RFC 5322 bytes to the parts Rapport stores, with Python's email package (policy.default).

Hostile or broken input never raises: a header that does not parse is read as plain text, a body part whose
charset is unknown is decoded as UTF-8 with replacement characters. Limits (``MailLimits``) cut what is too big
and say so (``truncated``, an attachment's ``too_large``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from django.conf import settings

from .html import sanitize

_ID = re.compile(r"<([^<>\s]+)>")
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r)\s*(\[\d+\])?\s*[:：]\s*)+", re.I)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class MailLimits:
    message_bytes: int
    attachment_bytes: int
    body_chars: int

    @classmethod
    def from_settings(cls) -> MailLimits:
        return cls(
            message_bytes=getattr(settings, "RAPPORT_MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024),
            attachment_bytes=getattr(settings, "RAPPORT_MAIL_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024),
            body_chars=getattr(settings, "RAPPORT_MAIL_MAX_BODY_CHARS", 500_000),
        )


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None  # None when over the limit
    content_id: str = ""
    inline: bool = False


@dataclass
class ParsedMessage:
    message_id: str
    in_reply_to: str
    references: list[str]
    subject: str
    from_address: str
    from_name: str
    to: list[dict[str, str]]
    cc: list[dict[str, str]]
    bcc: list[dict[str, str]]
    sent_at: dt.datetime | None
    body_text: str
    body_html: str
    has_remote_images: bool
    size: int
    truncated: bool
    is_bounce: bool
    attachments: list[ParsedAttachment] = field(default_factory=list)
    envelope_recipients: list[str] = field(default_factory=list)  # Delivered-To, X-Original-To...
    headers: Message | None = None

    @property
    def participants(self) -> list[str]:
        """Every address of From, To and Cc (lower-cased, in order, once each)."""
        seen: dict[str, None] = {}
        for address in [self.from_address, *(p["address"] for p in self.to + self.cc)]:
            if address:
                seen.setdefault(address, None)
        return list(seen)


def subject_key(subject: str) -> str:
    """The subject without reply/forward prefixes, lower-cased and with spaces collapsed: the fallback key."""
    return _SPACE.sub(" ", _PREFIX.sub("", subject or "")).strip().lower()[:300]


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse: read its raw form
        value = None
        for key, raw in msg.raw_items() if hasattr(msg, "raw_items") else []:
            if key.lower() == name.lower():
                value = raw
                break
    return "" if value is None else str(value).replace("\r", "").replace("\n", " ").replace("\x00", "").strip()


def _all_headers(msg: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in (msg.get_all(name) or [])]
    except Exception:
        return []


def _addresses(values: list[str]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    seen: set[str] = set()
    for name, address in getaddresses(values):
        address = address.strip().strip("<>").lower()
        if "@" not in address or len(address) > 254 or address in seen:
            continue
        seen.add(address)
        found.append({"name": (name or "").strip()[:300], "address": address})
    return found


def message_ids(text: str) -> list[str]:
    ids = _ID.findall(text or "")
    if not ids and text.strip() and " " not in text.strip():
        ids = [text.strip()]  # a bare id without angle brackets (seen in the wild)
    return [i[:998] for i in ids]


def _decode(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
        return str(content)
    except Exception:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload.decode("utf-8", "replace")
        return ""


def parse(raw: bytes, *, limits: MailLimits | None = None, partial: bool = False) -> ParsedMessage:
    """Parse ``raw``. ``partial``: the bytes are only the first part of a bigger message (flagged truncated)."""
    limits = limits or MailLimits.from_settings()
    truncated = partial or len(raw) > limits.message_bytes
    if len(raw) > limits.message_bytes:
        raw = raw[: limits.message_bytes]
    msg: Message = message_from_bytes(raw, policy=policy.default)

    message_id = (message_ids(_header(msg, "Message-ID")) or [""])[0]
    if not message_id:
        # Stable for the same message wherever it is found: a digest of the headers that identify it.
        basis = "|".join(_header(msg, h) for h in ("Date", "From", "To", "Subject")).encode()
        message_id = f"{hashlib.sha256(basis).hexdigest()[:32]}@rapport.generated"
    in_reply_to = (message_ids(_header(msg, "In-Reply-To")) or [""])[0]
    references = message_ids(_header(msg, "References"))
    from_list = _addresses(_all_headers(msg, "From") or [_header(msg, "From")])
    sender = from_list[0] if from_list else {"name": "", "address": ""}
    try:
        sent_at = parsedate_to_datetime(_header(msg, "Date")) if _header(msg, "Date") else None
        if sent_at is not None and sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=dt.UTC)
    except (TypeError, ValueError, IndexError):
        sent_at = None

    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[ParsedAttachment] = []
    content_type = msg.get_content_type()
    is_bounce = content_type == "multipart/report" and "delivery-status" in _header(msg, "Content-Type").lower()
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            # Parsed as a list of header blocks (so is_multipart() is true): keep their text, which bounce
            # handling reads (compose.bounces: Final-Recipient, Action, Status per recipient).
            blocks = part.get_payload()
            if isinstance(blocks, list):
                text_parts.append("\n\n".join(str(b).strip() for b in blocks))
            continue
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = ""
        try:
            filename = part.get_filename() or ""
        except Exception:
            filename = "attachment"
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (text_parts if ctype == "text/plain" else html_parts).append(_decode(part))
            continue
        if ctype in ("message/delivery-status",):
            text_parts.append(_decode(part) if not part.is_multipart() else "")
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        content_id = (message_ids(_header(part, "Content-ID")) or [""])[0]
        too_big = len(data) > limits.attachment_bytes
        attachments.append(
            ParsedAttachment(
                filename=_safe_filename(filename or _default_name(ctype)),
                content_type=ctype[:255],
                size=len(data),
                data=None if too_big else data,
                content_id=content_id[:255],
                inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
            )
        )
        truncated = truncated or too_big

    body_text = "\n\n".join(t for t in text_parts if t)
    body_html = "\n".join(h for h in html_parts if h)
    if len(body_text) > limits.body_chars:
        body_text, truncated = body_text[: limits.body_chars], True
    if len(body_html) > limits.body_chars:
        body_html, truncated = body_html[: limits.body_chars], True
    safe_html, remote = sanitize(body_html) if body_html else ("", False)
    if not body_text and safe_html:
        import nh3

        body_text = _SPACE.sub(" ", nh3.clean(body_html, tags=set(), clean_content_tags={"script", "style"})).strip()
    envelope = [a["address"] for name in ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
                for a in _addresses(_all_headers(msg, name))]  # fmt: skip
    return ParsedMessage(
        message_id=message_id[:998],
        in_reply_to=in_reply_to,
        references=references,
        subject=_header(msg, "Subject")[:998],
        from_address=sender["address"],
        from_name=sender["name"],
        to=_addresses(_all_headers(msg, "To")),
        cc=_addresses(_all_headers(msg, "Cc")),
        bcc=_addresses(_all_headers(msg, "Bcc")),
        sent_at=sent_at,
        body_text=body_text.replace("\x00", ""),
        body_html=safe_html,
        has_remote_images=remote,
        size=len(raw),
        truncated=truncated,
        is_bounce=is_bounce,
        attachments=attachments,
        envelope_recipients=envelope,
        headers=msg,
    )


def _default_name(content_type: str) -> str:
    return "attachment." + (content_type.split("/")[-1][:10] or "bin")


def _safe_filename(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", name).strip().strip(".") or "attachment"
    return name[-200:]


def snippet(text: str, length: int = 200) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith(">")]
    return _SPACE.sub(" ", " ".join(lines)).strip()[:length]


def as_email_message(raw: bytes) -> EmailMessage:
    parsed: Any = message_from_bytes(raw, policy=policy.default)
    return parsed  # type: ignore[no-any-return]
