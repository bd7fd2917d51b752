"""System checks: every registered type must have what the generic paths need."""

from __future__ import annotations

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
    return errors
