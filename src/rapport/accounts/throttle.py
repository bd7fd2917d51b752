"""Login throttling, atomic under parallel attempts, that a stranger cannot turn against an account's owner.

Failures are counted in a sliding window per bucket:
- per client address (many accounts tried from one place), the address read through the trusted proxies;
- per account *and* address: the owner signing in from elsewhere is not locked out by a stranger's guesses;
- per account everywhere, with a much higher limit (guessing spread over many addresses), which does not
  apply to a browser holding the account's device cookie (set at each successful sign-in): there the
  failures count per account and device instead, so nobody can lock the owner out of a browser they
  already signed in from.
Each attempt locks one LoginGate row per bucket inside a transaction, so attempts sharing a bucket queue:
the failure count read and the failure written cannot interleave. Over a limit the password is not checked.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .models import LoginFailure, LoginGate, User

DEVICE_COOKIE = "rapport_device"
DEVICE_SALT = "rapport.accounts.login-device"
DEVICE_MAX_AGE = 365 * 24 * 3600

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


# --- the client's address -----------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "RAPPORT_TRUSTED_PROXIES", ()) or ()))


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _bucket(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    # One IPv6 subscriber holds a whole /64: counting single addresses would give them 2^64 buckets.
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(request: HttpRequest | None) -> str:
    """The address the request came from: the peer, or, when the peer is a trusted proxy, the first address
    in X-Forwarded-For read from the right that is not a trusted proxy. A peer that is not trusted cannot
    choose its address by sending the header. IPv6 addresses count per /64."""
    if request is None:
        return "unknown"
    peer = _ip(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return "unknown"
    proxies = trusted_proxies()

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == net.version and address in net for net in proxies)

    client = peer
    if proxies and trusted(peer):
        hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:  # garbage a trusted proxy passed on: stop at the last hop we can vouch for
                break
            client = address
            if not trusted(address):
                break
    return _bucket(client)[:64]


# --- the device cookie ------------------------------------------------------------------------------
def _account(username: str) -> str:
    return username.strip().lower()[:150]


def device_cookie_value(username: str) -> str:
    """A signed cookie value naming this browser and the account that signed in on it."""
    return signing.dumps({"u": _account(username), "d": secrets.token_urlsafe(12)}, salt=DEVICE_SALT)


def device_for(request: HttpRequest | None, account: str) -> str:
    """The id of this browser if it holds a valid device cookie for ``account``, else ''."""
    raw = request.COOKIES.get(DEVICE_COOKIE, "") if request is not None else ""
    if not raw:
        return ""
    try:
        data = signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE)
    except signing.BadSignature:
        return ""
    if not isinstance(data, dict) or data.get("u") != account or not isinstance(data.get("d"), str):
        return ""
    return data["d"][:32]


def remember_device(response: HttpResponse, user: User) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie_value(user.get_username()),
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )


# --- the throttle -------------------------------------------------------------------------------------
def _lock_seconds(failures: Any, limit: int, now: dt.datetime, window: dt.timedelta) -> int:
    """Seconds until the oldest failure that keeps the count at ``limit`` leaves the window."""
    times = list(failures.order_by("-at").values_list("at", flat=True)[:limit])
    if len(times) < limit:
        return 0
    oldest = times[-1]
    return max(1, int((oldest + window - now).total_seconds()))


def attempt_login(request: HttpRequest | None, username: str, password: str) -> LoginAttempt:
    """Check a sign-in under the throttle; records a failure, or clears this place's failures."""
    name = _account(username)
    address = client_address(request)
    device = device_for(request, name)
    window = dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    if device:
        # The owner's own browser: only its own failures count, not the address's or the account's.
        keys = [f"dev:{name}|{device}"[:200]]
    else:
        keys = [f"addr:{address}", f"pair:{name}|{address}"[:200], f"user:{name}"[:200]]
    keys.sort()
    with transaction.atomic():
        for key in keys:
            LoginGate.objects.get_or_create(key=key)
        # Locked in a fixed order so two attempts never wait on each other crosswise.
        list(LoginGate.objects.select_for_update().filter(key__in=keys).order_by("key"))
        now = timezone.now()
        since = now - window
        # Failures past the window no longer count; drop this attempt's old ones so the table stays small.
        LoginFailure.objects.filter(username=name, at__lt=since).delete()
        LoginFailure.objects.filter(address=address, at__lt=since).delete()
        recent = LoginFailure.objects.filter(at__gte=since)
        if device:
            limits = [(recent.filter(username=name, device=device), settings.LOGIN_MAX_FAILURES_PER_ACCOUNT)]
        else:
            limits = [
                (recent.filter(address=address), settings.LOGIN_MAX_FAILURES_PER_ADDRESS),
                (recent.filter(username=name, address=address, device=""), settings.LOGIN_MAX_FAILURES_PER_ACCOUNT),
                (recent.filter(username=name), settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE),
            ]
        wait = max(_lock_seconds(failures, limit, now, window) for failures, limit in limits)
        if wait:
            return LoginAttempt(user=None, locked_seconds=wait)
        user = authenticate(request, username=username, password=password)
        if user is None:
            LoginFailure.objects.create(username=name, address=address, device=device, at=now)
            return LoginAttempt(user=None)
        # Only this place's failures go: a success must not reset what strangers elsewhere have tried.
        if device:
            LoginFailure.objects.filter(username=name, device=device).delete()
        else:
            LoginFailure.objects.filter(username=name, address=address, device="").delete()
        return LoginAttempt(user=user)


def purge_old_failures(*, older_than: dt.timedelta | None = None) -> int:
    """Delete failures that no longer count; returns how many went."""
    cutoff = timezone.now() - (older_than or dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS))
    deleted, _ = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted


# --- password-reset requests ------------------------------------------------------------------------
def reset_allowed(request: HttpRequest | None, email: str) -> tuple[bool, bool]:
    """Count one password-reset request; returns (this address may ask again, this email may be sent
    another link). Fixed windows counted where every web process sees them (the API's rate counter)."""
    from rapport.api.throttle import count_in_cache, count_in_database

    now = time.time()
    window = settings.PASSWORD_RESET_THROTTLE_WINDOW
    slot = int(now // window)
    by_cache = getattr(settings, "RAPPORT_API_RATE_STORE", "database") == "cache"
    counts = []
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    for key in (f"pwreset:addr:{client_address(request)}", f"pwreset:mail:{digest}"):
        count, _ = count_in_cache(key, slot, window) if by_cache else count_in_database(key, slot)
        counts.append(count)
    return (
        counts[0] <= settings.PASSWORD_RESET_MAX_PER_ADDRESS,
        counts[1] <= settings.PASSWORD_RESET_MAX_PER_EMAIL,
    )


__all__ = [
    "DEVICE_COOKIE",
    "LoginAttempt",
    "attempt_login",
    "client_address",
    "device_for",
    "purge_old_failures",
    "remember_device",
    "reset_allowed",
]
