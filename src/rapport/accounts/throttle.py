"""Login throttling per account and per address, atomic under parallel attempts.

Each attempt locks one LoginGate row per key inside a transaction, so attempts for the same
account or address queue: the failure count read and the failure written cannot interleave.
Over the limit the password is not even checked.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from .models import LoginFailure, LoginGate, User


@dataclass(frozen=True)
class LoginAttempt:
    user: User | None
    locked_seconds: int = 0  # > 0: refused without checking the password

    @property
    def locked(self) -> bool:
        return self.locked_seconds > 0

    @property
    def locked_message(self) -> str:
        minutes = max(1, math.ceil(self.locked_seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return f"Too many failed attempts; try again in {minutes} {unit}."


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return "unknown"
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def _lock_seconds(failures: Any, limit: int, now: dt.datetime, window: dt.timedelta) -> int:
    """Seconds until the oldest failure that keeps the count at ``limit`` leaves the window."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    if len(times) < limit:
        return 0
    oldest = times[-1]
    return max(1, int((oldest + window - now).total_seconds()))


def attempt_login(request: HttpRequest | None, username: str, password: str) -> LoginAttempt:
    """Check a sign-in under the throttle; records a failure or clears the account's failures."""
    name = username.strip().lower()[:150]
    address = client_address(request)
    keys = sorted({f"user:{name}"[:200], f"addr:{address}"})
    window = dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    with transaction.atomic():
        for key in keys:
            LoginGate.objects.get_or_create(key=key)
        # Locked in a fixed order so two attempts never wait on each other crosswise.
        list(LoginGate.objects.select_for_update().filter(key__in=keys).order_by("key"))
        now = timezone.now()
        since = now - window
        # Failures past the window no longer count; drop this key's old ones so the table stays small.
        LoginFailure.objects.filter(username=name, at__lt=since).delete()
        LoginFailure.objects.filter(address=address, at__lt=since).delete()
        per_user = LoginFailure.objects.filter(username=name, at__gte=since)
        per_addr = LoginFailure.objects.filter(address=address, at__gte=since)
        wait = max(
            _lock_seconds(per_user, settings.LOGIN_MAX_FAILURES_PER_ACCOUNT, now, window),
            _lock_seconds(per_addr, settings.LOGIN_MAX_FAILURES_PER_ADDRESS, now, window),
        )
        if wait:
            return LoginAttempt(user=None, locked_seconds=wait)
        user = authenticate(request, username=username, password=password)
        if user is None:
            LoginFailure.objects.create(username=name, address=address, at=now)
            return LoginAttempt(user=None)
        LoginFailure.objects.filter(username=name).delete()
        return LoginAttempt(user=user)


def purge_old_failures(*, older_than: dt.timedelta | None = None) -> int:
    """Delete failures that no longer count; returns how many went."""
    cutoff = timezone.now() - (older_than or dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS))
    deleted, _ = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted


__all__ = ["LoginAttempt", "attempt_login", "client_address", "purge_old_failures"]
