"""How one record looks in the API (retrieve, create and update answers, history, webhooks later)."""

from __future__ import annotations

from typing import Any

from django.db import models

from rapport.core import registry
from rapport.core.models import Record, to_json_value
from rapport.core.visibility import record_link


def link(obj: Any, viewer: Any = None) -> dict[str, Any] | None:
    """``{"id", "name"}`` of a linked user, settings row or record; a record's name is null when
    ``viewer`` may not see it (core.visibility.link_label)."""
    if obj is None:
        return None
    if getattr(obj, "record_type_key", ""):
        return record_link(viewer, obj)
    name = getattr(obj, "display_name", None) or str(obj)
    return {"id": obj.pk, "name": name}


def represent(record: Record, viewer: Any) -> dict[str, Any]:
    """The record as ``viewer`` sees it: links to records they may not view carry no name."""
    data: dict[str, Any] = {"id": record.pk, "type": record.record_type_key}
    for f in record.tracked_fields():
        if isinstance(f, models.ForeignKey):
            data[f.name] = link(getattr(record, f.name), viewer)
        else:
            data[f.name] = to_json_value(getattr(record, f.attname))
    data.update(record.api_extra(viewer))
    data["created_by"] = link(record.created_by) if record.created_by_id else None
    data["created_at"] = to_json_value(record.created_at)
    data["updated_at"] = to_json_value(record.updated_at)
    data["deleted_at"] = to_json_value(record.deleted_at)
    data["version"] = record.version
    data["url"] = f"/api/v1/{record.record_type_key}/{record.pk}/"
    return data


def detail_queryset(type_key: str, *, prefetch: bool = True) -> models.QuerySet:
    """One record as the API shows it: its links joined, its child rows prefetched (without
    ``prefetch``, read them with ``core.children.prefetch_children``)."""
    rtype = registry.get(type_key)
    fks = [f.name for f in rtype.model.tracked_fields() if isinstance(f, models.ForeignKey)]
    qs = rtype.model.objects.select_related(*fks, "created_by")
    if prefetch and rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    return qs
