"""System checks: every registered type must have what the generic paths need."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.core import checks

from . import registry


@checks.register()
def check_registry(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for rtype in registry.all_types():
        if rtype.serializer is None:
            errors.append(checks.Error(f"Record type {rtype.key} has no write serializer.", id="rapport.E001"))
        fields = {f.name for f in rtype.model._meta.get_fields()}
        for col in rtype.columns:
            if col.path.split("__")[0] not in fields:
                errors.append(
                    checks.Error(f"Column {col.key} of {rtype.key} reads unknown field {col.path}.", id="rapport.E002")
                )
            if col.kind == "money" and col.currency not in {c.key for c in rtype.columns}:
                # Exports write money as an amount in its currency's format: they need to know the currency.
                errors.append(
                    checks.Error(
                        f"Money column {col.key} of {rtype.key} names no currency column (Column.currency).",
                        id="rapport.E021",
                    )
                )
    return errors


def link_fields(serializer: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every relation field of a serializer, nested ones included: (dotted name, field)."""
    from rest_framework import serializers

    for name, f in serializer.fields.items():
        path = f"{prefix}{name}"
        if isinstance(f, serializers.ListSerializer):
            f = f.child
        if isinstance(f, serializers.ManyRelatedField):
            f = f.child_relation
        if isinstance(f, serializers.Serializer):
            yield from link_fields(f, f"{path}.")
        elif isinstance(f, serializers.RelatedField):
            yield path, f


@checks.register()
def check_links(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A write serializer field linking to a record must be a RecordLinkField, which accepts only
    records the actor may view (issue 7: links respect visibility)."""
    from .models import Record
    from .serializers import RecordLinkField

    errors: list[checks.CheckMessage] = []
    for rtype in registry.all_types():
        if rtype.serializer is None:
            continue
        for path, f in link_fields(rtype.get_serializer_class()()):
            model = getattr(getattr(f, "queryset", None), "model", None) or getattr(f, "model", None)
            if model is not None and issubclass(model, Record) and not isinstance(f, RecordLinkField):
                errors.append(
                    checks.Error(
                        f"Field {path} of the {rtype.key} serializer links to {model.__name__} without "
                        "visibility: declare it as core.serializers.RecordLinkField.",
                        id="rapport.E003",
                    )
                )
    return errors
