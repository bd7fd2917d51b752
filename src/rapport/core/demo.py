"""What every app's ``demo.py`` shares: the context the small demo hands from app to app, and the one
way demo records are written (through their serializer and the write services, like the API)."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import os
import random
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from django.apps import apps
from django.core.management.base import CommandError
from django.utils import timezone as django_timezone

from . import registry, services
from .visibility import SYSTEM


@dataclass
class DemoContext:
    """Filled in app order (``INSTALLED_APPS``): accounts adds users, contacts adds companies and people,
    deals adds deals, later apps read them."""

    rng: random.Random
    now: Any = None  # the moment the demo is loaded: every part's "today" and "N days ago" count from it
    logins: list[str] = field(default_factory=list)
    admin: Any = None
    users: list[Any] = field(default_factory=list)
    sellers: list[Any] = field(default_factory=list)
    companies: list[Any] = field(default_factory=list)
    people: list[Any] = field(default_factory=list)
    deals: list[Any] = field(default_factory=list)


def login_url(host: str | None = None, port: int | str | None = None) -> str:
    """Where people open Rapport: RAPPORT_SITE_URL when it is set, else the address ``rapport serve``
    listens on (``host``/``port``, or RAPPORT_HOST/RAPPORT_PORT, which ``make run HOST=… PORT=…`` sets);
    a server listening on every interface is reached on 127.0.0.1."""
    explicit = os.environ.get("RAPPORT_SITE_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    host = host or os.environ.get("RAPPORT_HOST") or "127.0.0.1"
    port = port or os.environ.get("RAPPORT_PORT") or "8000"
    if host in ("0.0.0.0", "::", "[::]", ""):  # every interface: open it on this machine
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def write(type_key: str, data: dict[str, Any], *, actor: Any, instance: Any = None) -> Any:
    rtype = registry.get(type_key)
    serializer = rtype.get_serializer_class()(
        instance, data=data, partial=instance is not None, context={"actor": SYSTEM}
    )
    if not serializer.is_valid():
        raise CommandError(f"demo {type_key} is invalid: {serializer.errors}")
    if instance is None:
        return services.create_record(rtype.model, serializer.validated_data, actor=actor, source="system")
    return services.update_record(instance, serializer.validated_data, actor=actor, source="system")


def demo_modules() -> list[ModuleType]:
    """Each installed app's ``demo`` module, in ``INSTALLED_APPS`` order (found by name, so core imports
    no domain app)."""
    found = []
    for config in apps.get_app_configs():
        name = f"{config.name}.demo"
        if config.name.startswith("rapport.") and importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


@contextmanager
def clock(at: dt.datetime) -> Iterator[None]:
    """Writes inside happen at ``at``: ``django.utils.timezone.now()`` returns it, so every time a write
    stamps — a record's created_at, its events' occurred_at, a deal's entry into its stage and the stage
    change, an activity's done_at — tells the same past, through the same services as any write. For
    the demo's history only (one thread); calls nest."""
    if at.tzinfo is None:
        raise ValueError("the demo clock needs an aware datetime")
    real: Any = getattr(django_timezone, "datetime")  # noqa: B009 (the name the module's now() reads)

    class _At(real):  # type: ignore[misc,valid-type]
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
            return at.astimezone(tz) if tz is not None else at.astimezone(dt.UTC).replace(tzinfo=None)

    setattr(django_timezone, "datetime", _At)  # noqa: B010
    try:
        yield
    finally:
        setattr(django_timezone, "datetime", real)  # noqa: B010


def at_local(day: dt.date, hour: int, minute: int = 0, *, zone: str = "UTC") -> dt.datetime:
    """``day`` at ``hour:minute`` on the wall clock of ``zone``, as an aware datetime."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zoneinfo.ZoneInfo(zone or "UTC"))


def working_moment(day: dt.date, rng: random.Random, *, zone: str = "UTC", later: bool = False) -> dt.datetime:
    """A working hour (9:00–17:45) of ``day`` on the wall clock of ``zone``; a Saturday or Sunday moves to
    the Friday before, or with ``later`` to the Monday after."""
    if day.weekday() >= 5:
        day += dt.timedelta(days=7 - day.weekday()) if later else -dt.timedelta(days=day.weekday() - 4)
    return at_local(day, rng.randint(9, 17), rng.choice((0, 15, 30, 45)), zone=zone)


def local_today(now: dt.datetime, zone: str) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(zone or "UTC")).date()
