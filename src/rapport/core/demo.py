"""What every app's ``demo.py`` shares: the context the small demo hands from app to app, and the one
way demo records are written (through their serializer and the write services, like the API)."""

from __future__ import annotations

import importlib
import importlib.util
import random
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from django.apps import apps
from django.core.management.base import CommandError

from . import registry, services
from .visibility import SYSTEM

SITE_URL = "http://127.0.0.1:8000"


@dataclass
class DemoContext:
    """Filled in app order (``INSTALLED_APPS``): accounts adds users, contacts adds companies and people,
    deals adds deals, later apps read them."""

    rng: random.Random
    logins: list[str] = field(default_factory=list)
    admin: Any = None
    users: list[Any] = field(default_factory=list)
    sellers: list[Any] = field(default_factory=list)
    companies: list[Any] = field(default_factory=list)
    people: list[Any] = field(default_factory=list)
    deals: list[Any] = field(default_factory=list)


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
