"""Open and click tracking: signed, unguessable addresses for the pixel and the links of one message.

A token is the message's id (and a link's position) signed with HMAC-SHA256 under the installation's secret key
(``django.core.signing``), so ids cannot be guessed into tokens. A click leads only to a link that was in the
message (``OutgoingMessage.links``): a token names a position, never a URL, so there is no open redirect. The
copy of the message kept in the CRM and in the Sent folder has neither pixel nor rewritten links, so the sender
reading their own mail is never counted; a hit from the sender signed in to Rapport is not counted either.
"""

from __future__ import annotations

import html
import re
from typing import Any

from django.core import signing
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from rapport.core import inputs

from .models import OutgoingMessage, TrackingEvent

OPEN_SALT = "rapport.compose.open"
CLICK_SALT = "rapport.compose.click"
HREF = re.compile(r'(<a\b[^>]*?\shref=")([^"]*)(")', re.I)


def open_token(message_id: int) -> str:
    return signing.Signer(salt=OPEN_SALT, algorithm="sha256").sign(str(message_id))


def click_token(message_id: int, index: int) -> str:
    return signing.Signer(salt=CLICK_SALT, algorithm="sha256").sign(f"{message_id}.{index}")


def read_open_token(token: str) -> int | None:
    try:
        value = signing.Signer(salt=OPEN_SALT, algorithm="sha256").unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if inputs.is_id(value) else None


def read_click_token(token: str) -> tuple[int, int] | None:
    try:
        value = signing.Signer(salt=CLICK_SALT, algorithm="sha256").unsign(token)
    except signing.BadSignature:
        return None
    pk, _, index = value.partition(".")
    return (int(pk), int(index)) if inputs.is_id(pk) and inputs.is_id(index) else None


def links_of(body_html: str) -> list[str]:
    """The http(s) links of a sanitised body, in order, each once."""
    out: list[str] = []
    for match in HREF.finditer(body_html or ""):
        url = html.unescape(match.group(2))
        if url.lower().startswith(("http://", "https://")) and url not in out:
            out.append(url)
    return out


def tracked_html(message: OutgoingMessage, site: str) -> str:
    """The body as delivered when tracking is on: links through the click redirect, a pixel at the end."""

    def swap(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2))
        if url not in message.links:
            return match.group(0)
        target = f"{site}/email/t/c/{click_token(message.pk, message.links.index(url))}/"
        return f"{match.group(1)}{html.escape(target)}{match.group(3)}"

    body = HREF.sub(swap, message.body_html)
    pixel = f'<img src="{html.escape(site)}/email/t/o/{open_token(message.pk)}.gif" width="1" height="1" alt="">'
    return f"{body}\n{pixel}"


def _is_sender(request: Any, message: OutgoingMessage) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.pk == message.sender_id)


def record_open(message: OutgoingMessage, request: Any) -> bool:
    if _is_sender(request, message) or message.status != "sent":
        return False
    now = timezone.now()
    TrackingEvent.objects.create(outgoing=message, kind="open", user_agent=_agent(request), at=now)
    OutgoingMessage.objects.filter(pk=message.pk).update(
        opens=F("opens") + 1, first_opened_at=Coalesce(F("first_opened_at"), now), last_opened_at=now
    )
    return True


def record_click(message: OutgoingMessage, url: str, request: Any) -> bool:
    if _is_sender(request, message) or message.status != "sent":
        return False
    TrackingEvent.objects.create(outgoing=message, kind="click", url=url[:2000], user_agent=_agent(request))
    OutgoingMessage.objects.filter(pk=message.pk).update(clicks=F("clicks") + 1)
    return True


def _agent(request: Any) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:300]
