"""Read-side helpers of imports: which imports a user sees, and what the mapping page and API show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from rapport.core import registry

from . import services
from .mapping import match_choices, targets
from .models import Import, SavedMapping


def visible_imports(user: Any) -> QuerySet[Import]:
    """A user's own imports of the types they may import (administrators: everyone's)."""
    types = [t.key for t in services.importable_types(user)]
    qs = Import.objects.filter(type_key__in=types)
    return qs if user.can_manage_settings() else qs.filter(actor=user)


@dataclass
class Column:
    index: int
    header: str
    target: str
    sample: list[str]


@dataclass
class MappingInfo:
    columns: list[Column]
    targets: list[tuple[str, str]]
    match_choices: list[tuple[str, str]]
    saved: list[str]

    @property
    def target_keys(self) -> set[str]:
        return {k for k, _ in self.targets}


def mapping_info(imp: Import) -> MappingInfo:
    rtype = registry.get(imp.type_key)
    found = targets(rtype)
    try:
        samples = services.sample_values(imp)
    except Exception:  # noqa: BLE001 - a file gone or unreadable shows no samples; the dry run says why
        samples = [[] for _ in imp.headers]
    columns = [
        Column(i, h, imp.mapping[i] if i < len(imp.mapping) else "", samples[i] if i < len(samples) else [])
        for i, h in enumerate(imp.headers)
    ]
    saved = list(SavedMapping.objects.filter(type_key=imp.type_key).values_list("name", flat=True))
    return MappingInfo(
        columns=columns,
        targets=[(k, t.label) for k, t in found.items()],
        match_choices=list(match_choices(rtype, found).items()),
        saved=saved,
    )
