"""JSON-array membership, which Django's ``contains`` lookup does not offer on SQLite."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q
from django.db.models.lookups import Lookup


@models.JSONField.register_lookup
class HasElement(Lookup):
    """``tags__has_element="vip"``: the JSON array holds that string."""

    lookup_name = "has_element"

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        value = self.rhs
        if connection.vendor == "postgresql":
            return f"({lhs})::jsonb @> %s::jsonb", [*lhs_params, _json([value])]
        return (
            f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = %s)",  # noqa: S608
            [*lhs_params, value],
        )

    def get_prep_lookup(self) -> Any:
        return self.rhs

    def process_rhs(self, compiler: Any, connection: Any) -> Any:
        return "%s", [self.rhs]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def json_array_contains(path: str, value: Any) -> Q:
    return Q(**{f"{path}__has_element": value})
