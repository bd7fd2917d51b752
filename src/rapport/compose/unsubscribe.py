"""One-click unsubscribe (RFC 8058): the List-Unsubscribe address of a message and what a POST to it does."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.db import transaction

from . import suppression
from .models import OutgoingMessage, TrackingEvent

SALT = "rapport.compose.unsubscribe"


def token(message_id: int, address: str) -> str:
    return signing.Signer(salt=SALT, algorithm="sha256").sign_object({"m": message_id, "a": address}, compress=True)


def read_token(value: str) -> tuple[int, str] | None:
    try:
        data = signing.Signer(salt=SALT, algorithm="sha256").unsign_object(value)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("m"), int) or not isinstance(data.get("a"), str):
        return None
    return data["m"], data["a"]


def headers(message: OutgoingMessage, site: str) -> dict[str, str]:
    """The RFC 8058 headers for the message's (single) recipient."""
    url = f"{site}/email/unsubscribe/{token(message.pk, message.to[0])}/"
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def unsubscribe(message_id: int, address: str, *, user_agent: str = "") -> bool:
    """Put the address on the suppression list (once); True when it was not there yet."""
    message: Any = OutgoingMessage.objects.filter(pk=message_id).first()
    with transaction.atomic():
        added = suppression.suppress(address, reason="unsubscribed", message=message)
        if added and message is not None:
            TrackingEvent.objects.create(
                outgoing=message, kind="unsubscribe", address=suppression.normalise(address), user_agent=user_agent
            )
    return added
