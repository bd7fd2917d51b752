"""The OpenAPI contract: shared components (Error, Link, cursor pages), record schemas derived from
the registry, and the postprocessing hook that adds what every operation can answer and what this
installation's custom fields look like.

Record schemas come from the model (``tracked_fields``: the columns of the API representation) and
the ``RecordType`` (``columns`` for list rows, ``api_fields`` for child rows, the write serializer
for request bodies), so a new type or field is described without a per-type schema.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, models, transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from rapport.core.registry import RecordType


# --- shared components -----------------------------------------------------------------------------
class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (4xx, and 503 during a database outage)."""

    error = serializers.CharField(
        help_text="Machine code: invalid, malformed, bad_parameter, not_authenticated, authentication_failed, "
        "forbidden, permission_denied, not_found, deleted, stale, idempotency_mismatch, throttled, busy, unavailable…"
    )
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(  # type: ignore[assignment]  # a declared field, not Serializer.fields
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: messages by field path (`emails[1].email`, `custom.tier`) or parameter.",
    )


class LinkSerializer(serializers.Serializer):
    """A linked record or user: its id and the name to show."""

    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True, help_text="null when you may not see the linked record")


ERROR = OpenApiResponse(response=ErrorSerializer, description="Error: {error, message, fields}")


class DuplicateMatchSerializer(serializers.Serializer):
    """A record you may view that is likely the same as the one checked."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField(help_text="The record in the API.")
    score = serializers.FloatField(min_value=0, max_value=1, help_text="How alike, from 0 to 1.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text='What is alike, in words: "same phone", "similar name"…'
    )


class DuplicateMatchesSerializer(serializers.Serializer):
    results = DuplicateMatchSerializer(many=True)


class LikelyDuplicatesSerializer(serializers.Serializer):
    """A create with ``check_duplicates=true`` that found likely duplicates: nothing was created."""

    error = serializers.CharField(help_text="`likely_duplicates`")
    message = serializers.CharField()
    matches = DuplicateMatchSerializer(many=True)


CHECK_DUPLICATES = OpenApiParameter(
    "check_duplicates",
    bool,
    description="`true`: look for likely duplicates among the records you may view first; when there are "
    "any, nothing is created and the answer is 409 with the matches (send the request again without this "
    "parameter to create anyway). Default `false`.",
)
LIKELY_DUPLICATES = OpenApiResponse(
    response=LikelyDuplicatesSerializer,
    description="With check_duplicates=true: likely duplicates were found and nothing was created.",
)

ETAG = OpenApiParameter(
    "ETag",
    str,
    OpenApiParameter.HEADER,
    response=[200, 201, 304],
    required=True,
    description='The record\'s version tag, `"<id>-<version>"`: send it back in `If-Match` to update safely.',
)
LOCATION = OpenApiParameter(
    "Location", str, OpenApiParameter.HEADER, response=[201], required=True, description="The new record's URL."
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    response=[201],
    enum=["true"],
    description="Present when this is the stored answer to an earlier request with the same Idempotency-Key.",
)
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, description="ETag from a read; a stale value gets 412."
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", str, OpenApiParameter.HEADER, description="ETag from a read; unchanged → 304 without a body."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retry-safe creates: the same key and body within 24 h return the first answer "
    "(with `Idempotent-Replayed: true`); the same key with another body answers 422.",
)
CURSOR = OpenApiParameter(
    "cursor", str, description="Opaque cursor: the `cursor` of the `next` (or `previous`) link of a page."
)


def page_serializer(name: str, item: Any) -> type[serializers.Serializer]:
    """The one page shape of every list: ``{results, next, previous}``, links carrying ``cursor``."""
    return type(
        f"{name}Serializer",
        (serializers.Serializer,),
        {
            "results": serializers.ListField(child=item) if isinstance(item, serializers.Field) else item(many=True),
            "next": serializers.URLField(allow_null=True, help_text="The next page (null on the last one)."),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page (null on the first, and on forward-only feeds)."
            ),
        },
    )


# --- record schemas from the registry ----------------------------------------------------------------
def model_field(field: models.Field, *, custom: type[serializers.Field] | None = None) -> serializers.Field:
    """The read schema of one model field, as the API representation and list rows encode it."""
    null = bool(field.null)
    if isinstance(field, models.ForeignKey):
        return LinkSerializer(allow_null=null)
    if isinstance(field, models.JSONField):
        if field.name == "custom" and custom is not None:
            return custom()
        if field.name == "tags":
            return serializers.ListField(child=serializers.CharField())
        return serializers.JSONField()
    if field.choices:
        return serializers.ChoiceField(
            choices=[c for c, _ in field.flatchoices], allow_null=null, allow_blank=bool(field.blank)
        )
    if isinstance(field, models.BooleanField):
        return serializers.BooleanField(allow_null=null)
    if isinstance(field, models.DecimalField):
        return serializers.DecimalField(
            max_digits=field.max_digits, decimal_places=field.decimal_places, allow_null=null
        )
    if isinstance(field, (models.IntegerField, models.BigAutoField, models.AutoField)):
        return serializers.IntegerField(allow_null=null)
    if isinstance(field, models.FloatField):
        return serializers.FloatField(allow_null=null)
    if isinstance(field, models.DateTimeField):
        return serializers.DateTimeField(allow_null=null)
    if isinstance(field, models.DateField):
        return serializers.DateField(allow_null=null)
    return serializers.CharField(allow_null=null, allow_blank=True)


_cache: dict[tuple[str, str], Any] = {}


def _once(rtype: RecordType, what: str, build: Any) -> Any:
    key = (rtype.key, what)
    if key not in _cache:
        _cache[key] = build()
    return _cache[key]


def custom_serializer(rtype: RecordType) -> type[serializers.Field]:
    """``custom`` as a reference to ``<Label>Custom``, which :func:`postprocess` fills with this
    installation's custom fields each time the document is generated."""

    def build() -> type[serializers.Field]:
        field = type(f"{rtype.label}CustomField", (serializers.JSONField,), {})
        return extend_schema_field({"$ref": f"#/components/schemas/{rtype.label}Custom"})(field)

    return _once(rtype, "custom", build)


def record_serializer(rtype: RecordType) -> type[serializers.Serializer]:
    """``<Label>``: a record as retrieve, create, update and restore answer it (``represent``)."""

    def build() -> type[serializers.Serializer]:
        custom = custom_serializer(rtype)
        attrs: dict[str, Any] = {
            "id": serializers.IntegerField(),
            "type": serializers.ChoiceField(choices=[rtype.key]),
        }
        for f in rtype.model.tracked_fields():
            attrs[f.name] = model_field(f, custom=custom)
        attrs.update(rtype.api_fields() if rtype.api_fields else {})
        attrs.update(
            created_by=LinkSerializer(allow_null=True),
            created_at=serializers.DateTimeField(),
            updated_at=serializers.DateTimeField(),
            deleted_at=serializers.DateTimeField(allow_null=True),
            version=serializers.IntegerField(),
            url=serializers.CharField(),
            __doc__=f"One {rtype.label.lower()} record.",
        )
        return type(f"{rtype.label}Serializer", (serializers.Serializer,), attrs)

    return _once(rtype, "record", build)


def row_serializer(rtype: RecordType) -> type[serializers.Serializer]:
    """``<Label>Row``: one row of the list (its columns, typed from the model fields they read)."""

    def build() -> type[serializers.Serializer]:
        attrs: dict[str, Any] = {"id": serializers.IntegerField()}
        for col in rtype.columns:
            field = rtype.model._meta.get_field(col.path)
            attrs[col.key] = model_field(field)  # type: ignore[arg-type]
        attrs.update(
            custom=custom_serializer(rtype)(),
            url=serializers.CharField(),
            __doc__=f"A {rtype.label.lower()} as the list shows it.",
        )
        return type(f"{rtype.label}RowSerializer", (serializers.Serializer,), attrs)

    return _once(rtype, "row", build)


def list_page_serializer(rtype: RecordType) -> type[serializers.Serializer]:
    return _once(rtype, "page", lambda: page_serializer(f"{rtype.label}Page", row_serializer(rtype)))


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    before = serializers.JSONField(help_text="Any JSON value, null when unset.")
    after = serializers.JSONField(help_text="Any JSON value, null when unset.")


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="created, updated, deleted, restored, …")
    occurred_at = serializers.DateTimeField()
    actor = LinkSerializer(allow_null=True)
    source = serializers.CharField(help_text="ui, api, import, automation, email, system")  # type: ignore[assignment]
    request_id = serializers.CharField(allow_blank=True)
    changes = ChangeSerializer(many=True)


HistoryPageSerializer = page_serializer("HistoryPage", HistoryEntrySerializer)


# --- custom fields, per installation -------------------------------------------------------------------
def custom_value_schema(field_type: str, choices: list[str]) -> dict[str, Any]:
    if field_type == "number":
        schema: dict[str, Any] = {"type": "number"}
    elif field_type == "money":
        schema = {
            "type": "object",
            "properties": {
                "amount": {"type": "string", "format": "decimal", "example": "25000.00"},
                "currency": {"type": "string", "minLength": 3, "maxLength": 3, "example": "EUR"},
            },
            "required": ["amount", "currency"],
        }
    elif field_type == "date":
        schema = {"type": "string", "format": "date"}
    elif field_type == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif field_type == "boolean":
        schema = {"type": "boolean"}
    elif field_type == "choice":
        schema = {"type": "string", "enum": list(choices)}
    elif field_type == "multi_choice":
        schema = {"type": "array", "items": {"type": "string", "enum": list(choices)}}
    elif field_type in ("user", "reference"):
        schema = {"type": "integer"}
    elif field_type == "email":
        schema = {"type": "string", "format": "email"}
    elif field_type == "url":
        schema = {"type": "string", "format": "uri"}
    else:
        schema = {"type": "string"}
    return nullable(schema)


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema or null (OpenAPI 3.1)."""
    if "enum" in schema:
        return {**schema, "type": [schema["type"], "null"], "enum": [*schema["enum"], None]}
    if "type" in schema and isinstance(schema["type"], str):
        return {**schema, "type": [schema["type"], "null"]}
    return {"oneOf": [schema, {"type": "null"}]}


def _filter_parameter_schemas(definition: Any) -> list[dict[str, Any]]:
    from rapport.core.customfields import TEXT_TYPES

    t = definition.field_type
    key = definition.key
    value = custom_value_schema(t, definition.choices)
    value = value["oneOf"][0] if "oneOf" in value else {**value, "type": value["type"][0]}
    value.pop("enum", None) if t in ("choice", "multi_choice") else None
    if t in ("choice", "multi_choice"):
        value = {"type": "string", "enum": list(definition.choices)}
    if t == "money":
        value = {"type": "string", "description": "an amount, e.g. 25000"}

    def param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"in": "query", "name": name, "schema": schema, "description": description}

    out = [param(f"cf_{key}", value, f"{definition.label} (custom field) equals. Comma-separate for any of.")]
    if t in ("number", "money", "date", "datetime"):
        out.append(param(f"cf_{key}__gte", value, f"{definition.label} at least."))
        out.append(param(f"cf_{key}__lte", value, f"{definition.label} at most."))
    if t in TEXT_TYPES:
        out.append(param(f"cf_{key}__contains", {"type": "string"}, f"{definition.label} contains (any case)."))
    out.append(param(f"cf_{key}__isnull", {"type": "boolean"}, f"{definition.label} is empty (true) or set (false)."))
    out.append(
        param(
            f"cf_{key}__not",
            {"type": "string"},
            f"{definition.label}: none of these (comma-separated); records without a value included.",
        )
    )
    return out


def _apply_custom_fields(result: dict[str, Any]) -> None:
    from rapport.core import registry
    from rapport.core.models import CustomField

    by_type: dict[str, list[Any]] = {}
    try:
        with transaction.atomic():
            definitions = list(CustomField.objects.order_by("position", "id"))
    except (DatabaseError, RuntimeError):
        # no database yet: not migrated (`rapport check --deploy` generates the schema), or none allowed
        # (a test generating the document without the db fixture)
        definitions = []
    for definition in definitions:
        by_type.setdefault(definition.record_type, []).append(definition)
    schemas = result.get("components", {}).get("schemas", {})
    for rtype in registry.all_types():
        definitions = by_type.get(rtype.key, [])
        name = f"{rtype.label}Custom"
        schemas[name] = {
            "type": "object",
            "description": f"Custom field values of a {rtype.label.lower()} on this installation, by key.",
            "properties": {
                d.key: {**custom_value_schema(d.field_type, d.choices), "description": d.label} for d in definitions
            },
        }
        write = schemas.get(f"{rtype.get_serializer_class().__name__.removesuffix('Serializer')}Request")
        if write and "custom" in write.get("properties", {}):
            write["properties"]["custom"] = {
                "allOf": [{"$ref": f"#/components/schemas/{name}"}],
                "description": "Custom field values by key; null or empty clears one.",
            }
        params = [p for d in definitions for p in _filter_parameter_schemas(d)]
        for path in (f"/api/v1/{rtype.key}/", f"/api/v1/{rtype.key}/export/"):
            operation = result["paths"].get(path, {}).get("get")
            if operation is not None:
                operation.setdefault("parameters", []).extend(params)


# --- what every operation can answer ----------------------------------------------------------------
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error answer of the API (4xx, and 503 during a database outage).",
    "properties": {
        "error": {"type": "string", "description": "Machine code (invalid, bad_parameter, stale, …)."},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
    "required": ["error", "message"],
}
ERROR_DESCRIPTIONS = {
    "400": "Invalid input or query parameter (the fields are named)",
    "401": "Missing, unknown, expired or revoked token",
    "403": "Your role (or a read-only token) does not allow it",
    "404": "No such record, or not visible to you",
    "409": "The record is in the recycle bin",
    "412": "If-Match did not match: re-read and retry",
    "422": "Idempotency-Key reused with another request",
    "429": "Over the rate limit: wait Retry-After seconds",
    "503": "The database is unavailable or a lock or statement time limit was reached (error `unavailable` or "
    "`busy`): wait Retry-After seconds and retry (a create with the same Idempotency-Key, an update with If-Match)",
}


def _error_response(code: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if code in ("429", "503"):
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."}
        }
    if code == "412":
        response["headers"] = {
            "ETag": {"schema": {"type": "string"}, "required": True, "description": "The record's current ETag."}
        }
    return response


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            params = operation.get("parameters", [])
            header_names = {p["name"] for p in params if p.get("in") == "header"}
            codes = {"401", "403", "429", "503"}
            if "{" in path:
                codes.add("404")
            if any(p.get("in") == "query" for p in params) or "requestBody" in operation:
                codes.add("400")
            if "If-Match" in header_names:
                codes |= {"409", "412"}
            if "Idempotency-Key" in header_names:
                codes.add("422")
            for code in codes:
                if code not in responses or "content" not in responses[code]:
                    responses[code] = _error_response(code)
                else:
                    responses[code]["content"] = {"application/json": {"schema": ERROR_REF}}
                    responses[code].setdefault("headers", {}).update(_error_response(code).get("headers", {}))
            if any(p.get("in") == "query" for p in params) and "414" not in responses:
                # the HTTP server's answer to a request line past its limit (gunicorn: 4,094 bytes)
                responses["414"] = {"description": "The address with its query is too long"}
            if "If-None-Match" in header_names and "304" not in responses:
                responses["304"] = {
                    "description": "Not modified since the ETag you sent",
                    "headers": {"ETag": {"schema": {"type": "string"}, "required": True}},
                }
    _apply_custom_fields(result)
    return result
