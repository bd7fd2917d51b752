"""The settings audit trail: one function the settings services call in the same transaction as
their change, and the human wording of an entry. Records keep their history in events; settings
(users, teams, roles, pipelines, stages, lost reasons, rates, quotas, custom fields, tokens) here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .models import AuditEntry, to_json_value

KINDS = {
    "user": "User",
    "team": "Team",
    "role": "Role",
    "pipeline": "Pipeline",
    "stage": "Stage",
    "lost_reason": "Lost reason",
    "exchange_rate": "Exchange rate",
    "quota": "Quota",
    "custom_field": "Custom field",
    "api_token": "API token",
    "saved_report": "Saved report",
    "dashboard": "Dashboard",
    "webhook": "Webhook",
    "sequence": "Sequence",
    "integration": "Integration",
    "email_template": "Email template",
    "automation_rule": "Workflow rule",
    "mailbox": "Mailbox",
    "mail_ignored": "Ignored mail address",
    "email_suppression": "Email suppression",
}
ACTIONS = {"created": "created", "changed": "changed", "deleted": "deleted"}
DECIMAL = re.compile(r"-?\d+\.\d+")


def values(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """``obj``'s fields as JSON values (foreign keys as ids), for before and after."""
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = to_json_value(getattr(value, "pk", value))
    return out


def record_setting_change(
    kind: str,
    obj: Any,
    *,
    actor: Any,
    action: str = "changed",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    label: str | None = None,
) -> AuditEntry | None:
    """Write one audit entry for a change to a settings object; a change that changes nothing
    writes none. ``before``/``after`` are {field: JSON value}; omit ``before`` for a creation and
    ``after`` for a deletion."""
    from .services import current_request_id

    if kind not in KINDS:
        raise ValueError(f"unknown settings kind {kind!r}")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    before, after = before or {}, after or {}
    changes = {k: [before.get(k), after.get(k)] for k in {**before, **after} if before.get(k) != after.get(k)}
    if action == "changed" and not changes:
        return None
    user = actor if getattr(actor, "pk", None) else None
    return AuditEntry.objects.create(
        labels=_link_labels(obj, changes),
        actor=user,
        actor_name=(user.get_full_name() or user.get_username()) if user else "",
        kind=kind,
        action=action,
        object_id=getattr(obj, "pk", None),
        object_label=(label if label is not None else str(obj))[:300],
        changes=dict(sorted(changes.items())),
        request_id=current_request_id(),
    )


def _link_labels(obj: Any, changes: dict[str, list[Any]]) -> dict[str, list[str | None]]:
    """The names of the rows each changed link (a foreign key of ``obj``) pointed to before and
    after, read now so the trail keeps them when a row is renamed or deleted later."""
    labels: dict[str, list[str | None]] = {}
    meta = getattr(obj, "_meta", None)
    for name, pair in changes.items():
        try:
            field = meta.get_field(name) if meta is not None else None
        except Exception:  # not a model field (e.g. "stage_order", "deals: delete")
            field = None
        if field is None or not getattr(field, "many_to_one", False):
            continue
        ids = [v for v in pair if v is not None]
        rows = field.related_model._default_manager.filter(pk__in=ids)
        names = {str(o.pk): getattr(o, "display_name", None) or str(o) for o in rows}
        labels[name] = [names.get(str(v)) if v is not None else None for v in pair]
    return labels


def field_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def value_label(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(value_label(v) for v in value) or "—"
    if isinstance(value, str) and DECIMAL.fullmatch(value):
        return f"{Decimal(value):,}"  # amounts and rates with thousands separators
    return str(value)


def _shown(value: Any, links: list[str | None] | None, side: int) -> str:
    """A link by the name it had then ("#id" when its row was already gone), any other value as is."""
    if links is None or value is None:
        return value_label(value)
    return links[side] or f"#{value}"


def describe(entry: AuditEntry) -> dict[str, Any]:
    """The entry in human words: "Ada Admin changed stage Proposal", and each field before → after."""
    who = entry.actor_name or "The system"
    what = KINDS.get(entry.kind, entry.kind).lower()
    return {
        "summary": f"{who} {ACTIONS.get(entry.action, entry.action)} {what} {entry.object_label}".strip(),
        "changes": [
            {
                "field": field_label(k),
                "before": _shown(v[0], entry.labels.get(k), 0),
                "after": _shown(v[1], entry.labels.get(k), 1),
            }
            for k, v in entry.changes.items()
        ],
    }


PAGE_SIZE = 50
FILTERS = ("kind", "actor", "cursor", "page_size")


def audit_page(params: Any, size: int = PAGE_SIZE) -> tuple[list[AuditEntry], str | None]:
    """Entries newest first, keyset by id, filtered by ``kind`` and ``actor`` (a user id);
    an unknown parameter or a bad value raises QueryError naming it."""
    from .inputs import is_id
    from .listing import QueryError

    unknown = set(params) - set(FILTERS)
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(FILTERS)}.")
    qs = AuditEntry.objects.select_related("actor")
    if kind := params.get("kind"):
        if kind not in KINDS:
            raise QueryError("kind", f"choose one of {', '.join(KINDS)}.")
        qs = qs.filter(kind=kind)
    for name in ("actor", "cursor"):
        raw = params.get(name)
        if raw in (None, ""):
            continue
        if not is_id(str(raw)):
            raise QueryError(name, "give a whole number." if name == "actor" else "this cursor is not valid.")
        qs = qs.filter(actor_id=int(raw)) if name == "actor" else qs.filter(id__lt=int(raw))
    entries = list(qs.order_by("-id")[: size + 1])
    more = len(entries) > size
    entries = entries[:size]
    return entries, (str(entries[-1].id) if more and entries else None)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "occurred_at": entry.occurred_at.isoformat(),
        "actor": {"id": entry.actor_id, "name": entry.actor_name} if entry.actor_id or entry.actor_name else None,
        "kind": entry.kind,
        "action": entry.action,
        "object_id": entry.object_id,
        "object": entry.object_label,
        "changes": [{"field": k, "before": v[0], "after": v[1]} for k, v in entry.changes.items()],
        "summary": describe(entry)["summary"],
        "request_id": entry.request_id,
    }
