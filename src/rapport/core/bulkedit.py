"""Bulk actions of the list pages (assign owner, add or remove a tag, delete) on chosen records or
on every record matching a list's filters. Every change goes through the write services, with an
event per changed record; large selections run as a job (``run_bulk_change``) in keyset batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from . import listing, registry, services
from .inputs import is_id
from .models import BulkChange
from .registry import RecordType
from .serializers import MAX_TAG_LENGTH
from .visibility import can_assign_owner

ACTIONS = {"assign_owner": "change", "add_tag": "change", "remove_tag": "change", "delete": "delete"}
BATCH = 200
MAX_PARAMS = 2000


class BulkInputError(ValueError):
    """A bulk action that cannot run as asked; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class Action:
    name: str
    permission: str
    owner: Any = None
    tag: str = ""

    @property
    def value(self) -> dict[str, Any]:
        return {"owner": self.owner.pk} if self.owner is not None else {"tag": self.tag} if self.tag else {}


def check_action(rtype: RecordType, name: str, value: dict[str, Any], actor: Any) -> Action:
    """The action as the actor may run it now, or BulkInputError naming the field (checked on the
    page and again when a job starts: a role or a user may have changed meanwhile)."""
    if name not in ACTIONS:
        raise BulkInputError("action", "choose an action.")
    permission = ACTIONS[name]
    if not getattr(actor, "is_active", False) or actor.scope_for(rtype.key, permission) is None:
        raise BulkInputError("action", f"you may not {permission} {rtype.label_plural.lower()}.")
    action = Action(name, permission)
    if name == "assign_owner":
        owner_id = str(value.get("owner", ""))
        owner = get_user_model().objects.filter(pk=owner_id, is_active=True).first() if is_id(owner_id) else None
        if owner is None:
            raise BulkInputError("owner", "choose an active user.")
        if not can_assign_owner(actor, rtype.key, "change", owner):
            raise BulkInputError("owner", "you may not give records to that owner.")
        action.owner = owner
    elif name in ("add_tag", "remove_tag"):
        tag = str(value.get("tag", "")).strip()
        if not tag:
            raise BulkInputError("tag", "give the tag to add or remove.")
        if len(tag) > MAX_TAG_LENGTH:
            raise BulkInputError("tag", f"use at most {MAX_TAG_LENGTH} characters.")
        action.tag = tag
    return action


def apply(rtype: RecordType, ids: list[int], action: Action, *, actor: Any, source: str = "ui") -> int:
    """Apply ``action`` to the records with these ids that ``actor`` may change (or delete); the
    others are left alone. Runs in the caller's transaction; returns how many records changed."""
    model = rtype.model
    allowed = model.objects.visible_to(actor, action.permission).filter(pk__in=ids)
    if action.name == "assign_owner":
        # One UPDATE for the batch, an event per changed record (services.update_records_in_bulk);
        # the team follows the owner, as on every write.
        where = Q(pk__in=allowed.values("pk"))
        values = {"owner": action.owner.pk, "team": action.owner.team_id}
        return len(services.update_records_in_bulk(model, where, values, actor=actor, source=source))
    changed = 0
    serializer_class = rtype.get_serializer_class()
    for record in allowed.order_by("pk"):
        if action.name == "delete":
            services.delete_record(record, actor=actor, source=source)
            changed += 1
            continue
        if action.name == "add_tag":
            data: dict[str, Any] = {"tags": [*record.tags, action.tag]}
        else:
            data = {"tags": [t for t in record.tags if t.lower() != action.tag.lower()]}
        serializer = serializer_class(record, data=data, partial=True, context={"actor": actor})
        if not serializer.is_valid():
            raise ValidationError({k: [str(e) for e in v] for k, v in serializer.errors.items()})
        before = record.version
        updated = services.update_record(record, serializer.validated_data, actor=actor, source=source)
        changed += 1 if updated.version != before else 0
    return changed


def matching(rtype: RecordType, params: str, actor: Any, action: str = "view") -> QuerySet:
    """The records matching a list's query string (filters and search) that ``actor`` may ``action``."""
    if len(params) > MAX_PARAMS:
        raise listing.QueryError("params", f"the filters are longer than {MAX_PARAMS} characters.")
    query = QueryDict(params)
    q = listing.build_filter(rtype, query, actor, extra=("ordering", "count"))
    return rtype.model.objects.visible_to(actor, action).filter(q)


def start(rtype: RecordType, params: str, action: Action, *, actor: Any) -> BulkChange:
    """Record a bulk change over everything matching ``params`` now; the caller enqueues the job."""
    matching(rtype, params, actor)  # refuse bad filters before anything is queued
    last = rtype.model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return BulkChange.objects.create(
        record_type=rtype.key, action=action.name, value=action.value, params=params, actor=actor, max_id=last
    )


def run_bulk_change(change_id: int, *, final_attempt: bool = True) -> BulkChange:
    """Work a BulkChange through in keyset batches of ``BATCH`` records. Idempotent and retry-safe:
    each batch commits together with its progress (``last_id``), a finished change is not run
    again, and the actor's permission, the owner and the visibility are checked again here."""
    change = BulkChange.objects.select_related("actor").get(pk=change_id)
    if change.status in (BulkChange.DONE, BulkChange.FAILED):
        return change
    try:
        rtype = registry.get(change.record_type)
        actor = change.actor
        action = check_action(rtype, change.action, change.value, actor)
        scope = matching(rtype, change.params, actor, action.permission).filter(pk__lte=change.max_id)
        if change.status == BulkChange.QUEUED:
            total = scope.count()
            seen = matching(rtype, change.params, actor).filter(pk__lte=change.max_id).count()
            change.status, change.total, change.skipped = BulkChange.RUNNING, total, max(0, seen - total)
            change.save(update_fields=["status", "total", "skipped"])
        while True:
            ids = list(scope.filter(pk__gt=change.last_id).order_by("pk").values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            with transaction.atomic():
                changed = apply(rtype, ids, action, actor=actor)
                BulkChange.objects.filter(pk=change.pk).update(
                    done=F("done") + len(ids), changed=F("changed") + changed, last_id=ids[-1]
                )
            change.refresh_from_db(fields=["done", "changed", "last_id"])
    except (BulkInputError, listing.QueryError) as exc:
        return _finish(change, BulkChange.FAILED, f"Stopped: {exc}")  # asking again would not help
    except Exception as exc:
        if final_attempt:
            _finish(change, BulkChange.FAILED, f"Stopped after {change.done:,} records: {exc}")
        else:
            BulkChange.objects.filter(pk=change.pk).update(error=f"Trying again after: {exc}")
        raise
    return _finish(change, BulkChange.DONE, "")


def _finish(change: BulkChange, status: str, error: str) -> BulkChange:
    change.status, change.error, change.finished_at = status, error[:2000], timezone.now()
    change.save(update_fields=["status", "error", "finished_at"])
    return change
