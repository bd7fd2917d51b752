"""The suppression list: addresses no later send goes to (unsubscribed, hard-bounced, added by hand)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .models import Suppression


def normalise(address: str) -> str:
    return (address or "").strip().lower()


def is_suppressed(address: str) -> bool:
    return Suppression.objects.filter(address=normalise(address)).exists()


def suppressed_among(addresses: list[str]) -> set[str]:
    """The addresses of ``addresses`` (lower-cased) that are on the list, in one query."""
    wanted = {normalise(a) for a in addresses if a}
    return set(Suppression.objects.filter(address__in=wanted).values_list("address", flat=True)) if wanted else set()


def suppress(address: str, *, reason: str, detail: str = "", message: Any = None, actor: Any = None) -> bool:
    """Put ``address`` on the list; False when it was there already (the first reason stays)."""
    address = normalise(address)
    if not address:
        return False
    try:
        with transaction.atomic():
            Suppression.objects.create(
                address=address, reason=reason, detail=detail[:500], message=message, created_by=actor
            )
    except IntegrityError:
        return False
    return True


def unsuppress(address: str) -> bool:
    return bool(Suppression.objects.filter(address=normalise(address)).delete()[0])
