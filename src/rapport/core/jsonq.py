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


KEY_RE = __import__("re").compile(r"^[a-z][a-z0-9_]*$")


class JsonValue(models.Func):
    """The value under one key of a record's ``custom`` column, written exactly like the
    expression indexes of :func:`rapport.core.customfields.sync_indexes`, so they are used."""

    # A plain field: SQLite's json_extract returns SQL scalars, compared with unencoded values.
    output_field = models.Field()

    def __init__(self, column: str, key: str):
        if not KEY_RE.match(key):
            raise ValueError(f"invalid custom field key {key!r}")
        self.key = key
        super().__init__(models.F(column))

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"json_extract({sql}, '$.{self.key}')", params

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> Any:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} -> '{self.key}')", params


def index_expression(vendor: str, key: str) -> str:
    """The indexed expression for ``key`` on a table's unqualified ``custom`` column."""
    if not KEY_RE.match(key):
        raise ValueError(f"invalid custom field key {key!r}")
    if vendor == "sqlite":
        return f"json_extract(custom, '$.{key}')"
    return f"(custom -> '{key}')"
