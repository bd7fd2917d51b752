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
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from django.conf import settings

from .html import sanitize

_ID = re.compile(r"<([^<>\s]+)>")
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r)\s*(\[\d+\])?\s*[:：]\s*)+", re.I)
_SPACE = re.compile(r"\s+")
_FOLD = re.compile(r"[\r\n]")
# Comments in an address header ("(Ann) ann@example.com") are read differently by getaddresses and the policy.
_ADDRESS_HEADERS = {"from", "to", "cc", "bcc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to"}


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


class _Headers:
    """A part's headers as ``policy.default`` reads them, parsed only when they need it.

    The structure is parsed with ``policy.compat32`` (its headers stay raw strings: about half the time of
    ``policy.default``, which builds a typed header object for every header it is asked for). A header that is
    plain ASCII without encoded words reads the same either way; any other goes through ``policy.default``."""

    def __init__(self, msg: Message) -> None:
        self.raw: dict[str, list[str]] = {}
        for key, value in msg.raw_items():
            self.raw.setdefault(key.lower(), []).append(value)

    def all(self, name: str, *, plain: bool = False, exact: bool = False) -> list[str]:
        """Every value of header ``name``. ``plain``: raw (ids, dates), never decoded; ``exact``: always as
        ``policy.default`` reads it (what a digest is made of must not change between versions)."""
        found = []
        address = name.lower() in _ADDRESS_HEADERS
        for value in self.raw.get(name.lower(), []):
            simple = isinstance(value, str) and value.isascii() and "=?" not in value and not (address and "(" in value)
            if isinstance(value, str) and (plain or (simple and not exact)):
                found.append(_FOLD.sub("", value))
                continue
            try:
                found.append(str(policy.default.header_fetch_parse(name, value)))
            except Exception:  # a header the policy cannot parse: read its raw form
                found.append(str(value))
        return found

    def get(self, name: str, *, plain: bool = False, exact: bool = False) -> str:
        values = self.all(name, plain=plain, exact=exact)
        return values[0].replace("\r", "").replace("\n", " ").replace("\x00", "").strip() if values else ""


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
    """A text part as ``policy.default``'s ``get_content()`` reads it: its charset (ASCII when it names none),
    UTF-8 when the charset is unknown, replacement characters for what does not decode."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "ascii"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        return "attachment"
    if "=?" in name:  # an encoded word in a parameter (not the standard, common in the wild)
        try:
            name = str(make_header(decode_header(name)))
        except Exception:
            pass
    return name


def parse(raw: bytes, *, limits: MailLimits | None = None, partial: bool = False) -> ParsedMessage:
    """Parse ``raw``. ``partial``: the bytes are only the first part of a bigger message (flagged truncated)."""
    limits = limits or MailLimits.from_settings()
    truncated = partial or len(raw) > limits.message_bytes
    if len(raw) > limits.message_bytes:
        raw = raw[: limits.message_bytes]
    msg: Message = message_from_bytes(raw, policy=policy.compat32)
    head = _Headers(msg)

    message_id = (message_ids(head.get("Message-ID", plain=True)) or [""])[0]
    if not message_id:
        # Stable for the same message wherever it is found: a digest of the headers that identify it.
        basis = "|".join(head.get(h, exact=True) for h in ("Date", "From", "To", "Subject")).encode()
        message_id = f"{hashlib.sha256(basis).hexdigest()[:32]}@rapport.generated"
    in_reply_to = (message_ids(head.get("In-Reply-To", plain=True)) or [""])[0]
    references = message_ids(head.get("References", plain=True))
    from_list = _addresses(head.all("From"))
    sender = from_list[0] if from_list else {"name": "", "address": ""}
    try:
        date = head.get("Date", plain=True)
        sent_at = parsedate_to_datetime(date) if date else None
        if sent_at is not None and sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=dt.UTC)
    except (TypeError, ValueError, IndexError):
        sent_at = None

    text_parts: list[str] = []
    html_parts: list[str] = []
    attachments: list[ParsedAttachment] = []
    content_type = msg.get_content_type()
    is_bounce = content_type == "multipart/report" and "delivery-status" in head.get("Content-Type").lower()
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
        filename = _filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (text_parts if ctype == "text/plain" else html_parts).append(_decode(part))
            continue
        if ctype in ("message/delivery-status",):
            text_parts.append(_decode(part) if not part.is_multipart() else "")
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        content_id = (message_ids(_Headers(part).get("Content-ID", plain=True)) or [""])[0]
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
                for a in _addresses(head.all(name))]  # fmt: skip
    return ParsedMessage(
        message_id=message_id[:998],
        in_reply_to=in_reply_to,
        references=references,
        subject=head.get("Subject")[:998],
        from_address=sender["address"],
        from_name=sender["name"],
        to=_addresses(head.all("To")),
        cc=_addresses(head.all("Cc")),
        bcc=_addresses(head.all("Bcc")),
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
