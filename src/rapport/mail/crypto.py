"""Mailbox secrets (passwords, OAuth2 tokens) encrypted at rest, with key rotation.

Keys come from ``RAPPORT_MAIL_KEY``: one or more Fernet keys separated by commas, the newest first. Encryption
always uses the first; decryption tries each (cryptography's MultiFernet), so a new key is rolled out by putting
it in front, running ``rapport mail_rotate_key`` (re-encrypts every stored secret with it), then dropping the old
one. Without the variable a key is derived from the installation's secret key (RAPPORT_SECRET_KEY or the
generated ``secret_key`` file in RAPPORT_DATA_DIR): the secrets are then only as safe as that key, and changing
the secret key makes them unreadable — set RAPPORT_MAIL_KEY in production.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["SecretUnreadable", "decrypt", "encrypt", "generate_key", "keys", "reencrypt"]


class SecretUnreadable(Exception):
    """A stored secret none of the configured keys opens (the key was changed or dropped too early)."""


def generate_key() -> str:
    """A new random key for RAPPORT_MAIL_KEY."""
    return Fernet.generate_key().decode()


def derived_key(secret_key: str) -> str:
    """The embedded default: a Fernet key derived from the Django secret key (domain-separated)."""
    digest = hashlib.sha256(b"rapport.mail.crypto:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def keys() -> list[str]:
    """The configured keys, newest first."""
    configured = getattr(settings, "RAPPORT_MAIL_KEY", "") or os.environ.get("RAPPORT_MAIL_KEY", "")
    found = [key.strip() for key in configured.split(",") if key.strip()]
    return found or [derived_key(settings.SECRET_KEY)]


@lru_cache(maxsize=8)
def _fernet(joined: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in joined.split(",")])
    except ValueError as exc:
        raise ValueError(
            "RAPPORT_MAIL_KEY must be Fernet keys (32 url-safe base64-encoded bytes) separated by commas; "
            "make one with: rapport mail_rotate_key --new-key"
        ) from exc


def _multi() -> MultiFernet:
    return _fernet(",".join(keys()))


def encrypt(value: str) -> str:
    """Encrypt ``value`` with the newest key; the empty string stays empty (nothing stored)."""
    if not value:
        return ""
    return _multi().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _multi().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured RAPPORT_MAIL_KEY opens this secret") from exc


def rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    if not token:
        return ""
    try:
        return _multi().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured RAPPORT_MAIL_KEY opens this secret") from exc


def reencrypt() -> dict[str, int]:
    """Re-encrypt every stored mailbox secret with the newest key; returns counts (``rotated``, ``unreadable``)."""
    from django.db import transaction

    from .models import Mailbox

    counts = {"rotated": 0, "unreadable": 0}
    with transaction.atomic():
        for mailbox in Mailbox.objects.select_for_update().only("id", "secret_encrypted", "oauth_refresh_encrypted"):
            changed = {}
            for name in ("secret_encrypted", "oauth_refresh_encrypted"):
                token = getattr(mailbox, name)
                if not token:
                    continue
                try:
                    changed[name] = rotate(token)
                except SecretUnreadable:
                    counts["unreadable"] += 1
            if changed:
                Mailbox.objects.filter(pk=mailbox.pk).update(**changed)
                counts["rotated"] += 1
    return counts
