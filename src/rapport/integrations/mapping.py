"""The generic integration kind: a JSON body names a record type, how to find the record and the values to
write, in the shape of the type's API (the same write serializer, so the same rules and messages):

    {"event": "crm.sync", "type": "companies", "match": {"domain": "acme.com"},
     "data": {"name": "Acme", "phone": "+33 1 23 45 67 89"}}

``match`` takes ``id`` or a key of the type's import matching (companies: ``domain``; people: ``email``;
invoices: ``number``, ``external_id``…). ``action``: ``upsert`` (default: update the match, or create),
``create``, ``update`` or ``delete``. ``records`` may carry up to 100 such entries, written all or none.
Every write goes through the write services as the integration's service user, with source ``api``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError

from rapport.api.errors import flatten
from rapport.core import inputs, registry, services
from rapport.core.errors import PermissionDenied, RecordGone

from .models import GENERIC, Integration
from .services import Outcome, Refused, handler

MAX_RECORDS = 100
ACTIONS = ("upsert", "create", "update", "delete")


def _refuse_fields(prefix: str, detail: Any) -> Refused:
    fields = {(f"{prefix}.{k}" if prefix else k) if k else (prefix or "body"): v for k, v in flatten(detail).items()}
    names = ", ".join(fields)
    return Refused(400, "invalid", f"Invalid fields: {names}.", fields)


def write(
    type_key: str, data: dict[str, Any], *, actor: Any, instance: Any = None, prefix: str = "data", source: str = "api"
) -> Any:
    """Create (``instance`` None) or update a record through the type's write serializer and the write services;
    a refusal names the field under ``prefix``."""
    rtype = registry.get(type_key)
    serializer = rtype.get_serializer_class()(
        instance, data=data, partial=instance is not None, context={"actor": actor}
    )
    if not serializer.is_valid():
        raise _refuse_fields(prefix, serializer.errors)
    try:
        if instance is None:
            return services.create_record(rtype.model, serializer.validated_data, actor=actor, source=source)
        return services.update_record(instance, serializer.validated_data, actor=actor, source=source)
    except (ValidationError, DjangoValidationError) as exc:
        detail = exc.detail if isinstance(exc, ValidationError) else getattr(exc, "message_dict", exc.messages)
        raise _refuse_fields(prefix, detail) from exc
    except (PermissionDenied, RecordGone) as exc:
        raise Refused(403, "forbidden", str(exc)) from exc


def find(rtype: registry.RecordType, match: Any, *, actor: Any, prefix: str = "match") -> Any:
    """The one visible record ``match`` names, or None; a match that names several is refused."""
    if match in (None, {}):
        return None
    if not isinstance(match, dict) or len(match) != 1:
        raise Refused(400, "invalid", "match: give one key.", {prefix: ['Give one key, such as {"id": 5}.']})
    ((key, value),) = match.items()
    lookups = {"id": "pk", **rtype.import_match}
    if key not in lookups:
        allowed = ", ".join(lookups)
        raise Refused(400, "invalid", f"match.{key}: not a key.", {f"{prefix}.{key}": [f"Use one of: {allowed}."]})
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value in ("", None):
        raise Refused(400, "invalid", f"match.{key}: give a value.", {f"{prefix}.{key}": ["Give a text or a number."]})
    if key == "id" and not inputs.is_id(str(value)):
        raise Refused(400, "invalid", "match.id: not an id.", {f"{prefix}.id": ["Give a record id (a number)."]})
    path = lookups[key]
    value = str(value).strip()
    if path != "pk" and "__" not in path:
        path = f"{path}__iexact"
    found = list(rtype.model.objects.visible_to(actor).filter(**{path: value}).distinct()[:2])
    if len(found) > 1:
        raise Refused(
            400,
            "invalid",
            f"match.{key}: several records match.",
            {f"{prefix}.{key}": [f"Several {rtype.label_plural.lower()} match {value}; match by id."]},
        )
    return found[0] if found else None


def apply_entry(entry: Any, *, actor: Any, prefix: str) -> dict[str, Any]:
    p = f"{prefix}." if prefix else ""
    if not isinstance(entry, dict):
        raise Refused(400, "invalid", f"{prefix or 'body'}: not an object.", {prefix or "body": ["Send an object."]})
    unknown = set(entry) - {"type", "match", "data", "action"}
    if unknown:
        name = sorted(unknown)[0]
        raise Refused(
            400,
            "invalid",
            f"{p}{name}: unknown key.",
            {f"{p}{name}": ["Unknown key; use type, match, data and action."]},
        )
    type_key = entry.get("type")
    rtype = registry.find(type_key) if isinstance(type_key, str) else None
    if rtype is None:
        raise Refused(
            400,
            "invalid",
            f"{p}type: unknown record type.",
            {f"{p}type": [f"Use one of: {', '.join(registry.keys())}."]},
        )
    action = entry.get("action", "upsert")
    if action not in ACTIONS:
        raise Refused(400, "invalid", f"{p}action: unknown.", {f"{p}action": [f"Use one of: {', '.join(ACTIONS)}."]})
    data = entry.get("data", {})
    if not isinstance(data, dict):
        raise Refused(400, "invalid", f"{p}data: not an object.", {f"{p}data": ["Send an object."]})
    record = None if action == "create" else find(rtype, entry.get("match"), actor=actor, prefix=f"{p}match")
    if action in ("update", "delete") and record is None:
        raise Refused(
            404, "not_found", f"{p}match: no such record.", {f"{p}match": [f"No {rtype.label.lower()} matches."]}
        )
    if action == "delete":
        assert record is not None
        try:
            services.delete_record(record, actor=actor, source="api")
        except (PermissionDenied, RecordGone) as exc:
            raise Refused(403, "forbidden", str(exc)) from exc
        return {"type": rtype.key, "id": record.pk, "action": "deleted"}
    if record is None:
        created = write(rtype.key, data, actor=actor, prefix=f"{p}data")
        return {"type": rtype.key, "id": created.pk, "action": "created"}
    before = record.version
    updated = write(rtype.key, data, actor=actor, instance=record, prefix=f"{p}data")
    return {"type": rtype.key, "id": updated.pk, "action": "updated" if updated.version != before else "unchanged"}


@handler(GENERIC)
def generic(integration: Integration, payload: dict[str, Any]) -> Outcome:
    actor = integration.service_user
    event = payload.get("event", "")
    if not isinstance(event, str) or len(event) > 100:
        raise Refused(
            400, "invalid", "event: a text of at most 100 characters.", {"event": ["At most 100 characters."]}
        )
    if "records" in payload:
        entries = payload["records"]
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECORDS:
            raise Refused(
                400, "invalid", "records: 1 to 100 entries.", {"records": [f"Send 1 to {MAX_RECORDS} entries."]}
            )
        extra = set(payload) - {"records", "event"}
        if extra:
            raise Refused(
                400,
                "invalid",
                "records: send entries alone.",
                {sorted(extra)[0]: ["Put it inside an entry of records."]},
            )
        written = [apply_entry(e, actor=actor, prefix=f"records[{i}]") for i, e in enumerate(entries)]
    else:
        rest = {k: v for k, v in payload.items() if k != "event"}
        written = [apply_entry(rest, actor=actor, prefix="")]
    changed = sum(1 for w in written if w["action"] != "unchanged")
    return Outcome(event or "records", f"{len(written)} record(s), {changed} changed.", written)
