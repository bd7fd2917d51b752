"""The one write path for every record type: create, update, delete, restore.

Each function is atomic, checks the actor's permission with the visibility rule, writes the
event (history and outbox) and updates the search index in the same transaction.
"""

from __future__ import annotations

import copy
import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import rowsql, search
from .customfields import CustomPatch, memoized
from .errors import PermissionDenied, RecordGone, VersionConflict
from .models import Event, Record, normalize_decimals, to_json_value
from .visibility import can, can_assign_owner

_local = threading.local()


@contextmanager
def request_context(request_id: str | None = None) -> Iterator[str]:
    """Tag every event written inside with one request id (set per HTTP request and job)."""
    previous = getattr(_local, "request_id", "")
    _local.request_id = request_id or uuid.uuid4().hex
    try:
        with memoized():
            yield _local.request_id
    finally:
        _local.request_id = previous


def current_request_id() -> str:
    return getattr(_local, "request_id", "") or ""


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


SOURCES = frozenset(key for key, _ in Event.SOURCES)


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown event source {source!r}; use one of {sorted(SOURCES)}")


# Called inside a write's transaction once it wrote events. core imports no app: the job system adds its
# on-commit dispatch here (rapport.jobs), so consumers (webhooks) hear of a change in seconds, not at the sweep.
EVENT_HOOKS: list[Callable[[], None]] = []


def on_events_written(hook: Callable[[], None]) -> Callable[[], None]:
    if hook not in EVENT_HOOKS:
        EVENT_HOOKS.append(hook)
    return hook


def events_written() -> None:
    for hook in EVENT_HOOKS:
        hook()


def record_event(record: Record, kind: str, *, actor: Any, source: str, changes: dict[str, Any] | None = None) -> Event:
    _check_source(source)
    event = Event(
        type_key=record.record_type_key,
        record_id=record.pk,
        record_title=str(record)[:300],
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        source=source,
        request_id=current_request_id(),
        changes=changes or {},
    )
    rowsql.insert(event)  # Event.objects.create's INSERT, its SQL built once
    events_written()
    return event


def _is_system(actor: Any) -> bool:
    return actor is None


def _check_owner(actor: Any, type_key: str, action: str, owner: Any) -> None:
    if _is_system(actor):
        return
    if not can_assign_owner(actor, type_key, action, owner):
        raise ValidationError({"owner": "You may not give this record to that owner."})


def _save(record: Record, *, new: bool = False, **kwargs: Any) -> None:
    # No savepoint of its own: a unique-constraint failure ends the whole write (every service
    # runs in a transaction that the raised ValidationError rolls back), so the savepoint's two
    # statements per write bought nothing.
    try:
        with transaction.atomic(savepoint=False):
            if new:
                rowsql.insert(record)  # save()'s INSERT, its SQL built once
            else:
                record.save(**kwargs)
    except IntegrityError as exc:
        raise ValidationError(record.integrity_error_message(exc)) from exc


def create_record(model: type[Record], data: dict[str, Any], *, actor: Any, source: str) -> Record:
    """Create a record from validated data (a write serializer's ``validated_data``).

    The statements of a create: the record's INSERT, one per child list given, the type's own
    rows (``after_write``), the event and the search entry; nothing is read back."""
    type_key = model.record_type_key
    data = dict(data)
    related = {k: data.pop(k) for k in list(data) if k in model.related_write_keys}
    with transaction.atomic():
        if not _is_system(actor) and actor.scope_for(type_key, "add") is None:
            raise PermissionDenied(f"You may not add {type_key}.")
        if "owner" not in data and not _is_system(actor):
            data["owner"] = actor
        owner = data.get("owner")
        _check_owner(actor, type_key, "add", owner)
        record = model(**data)
        record.prepare_write(None, related)
        record.team_id = getattr(owner, "team_id", None)
        record.created_by = actor if not _is_system(actor) else None
        now = timezone.now()
        record.created_at = record.updated_at = now
        normalize_decimals(record)
        after = record.snapshot(pending=related)  # no child rows yet: nothing to read
        _save(record, new=True)
        # A new record's child lists not given are empty: say so, so that nothing reads them.
        record.write_related({k: related.get(k, []) for k in model.related_write_keys}, created=True)
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        record.after_write(changes, actor=actor, source=source, created=True)
        record_event(record, "created", actor=actor, source=source, changes=changes)
        search.index_record(record)
    return record


def _locked(record: Record) -> Record:
    return type(record).objects.select_for_update().get(pk=record.pk)


def _locked_with_children(record: Record) -> Record:
    """The record as stored, locked, with its child rows read under the lock: the answer of an
    update is then the state this write produced, not a later writer's rows read after commit."""
    from . import registry
    from .children import prefetch_children

    current = _locked(record)
    rtype = registry.find(type(record).record_type_key)
    if rtype is not None:
        prefetch_children(current, rtype.prefetch_related)
    return current


def _write_if_unchanged(record: Record, version: int, stored: dict[str, Any]) -> bool:
    """UPDATE the record's columns that differ from ``stored`` (their values as read, by attname)
    only if its stored version is still ``version`` (optimistic concurrency: no locking read first).
    False when another write came in between."""
    changed = {
        a for a, v in record.__dict__.items() if a in _columns(type(record)) and (a not in stored or stored[a] != v)
    }
    try:
        with transaction.atomic(savepoint=False):
            updated = rowsql.update_if_version(record, version, changed)  # save()'s own UPDATE, with a condition
    except IntegrityError as exc:
        raise ValidationError(record.integrity_error_message(exc)) from exc
    return bool(updated)


@functools.cache
def _columns(model: type[Record]) -> frozenset[str]:
    """The attnames of ``model``'s columns but its id."""
    return frozenset(f.attname for f in model._meta.concrete_fields if not f.primary_key)


def update_record(
    record: Record,
    data: dict[str, Any],
    *,
    actor: Any,
    source: str,
    expected_version: int | None = None,
    checked: bool = False,
) -> Record:
    """Apply validated changes. A stale ``expected_version`` raises VersionConflict and
    writes nothing; a write that changes nothing writes no event and keeps the version.

    ``record`` is the state the change is computed against (as the caller read it, with its
    child rows if it prefetched them); the UPDATE carries ``version = <read version>``, so a
    write that came in since is detected without a locking read. Then the change is computed
    again against the locked current state (or refused, with ``expected_version``).

    ``checked``: the caller has decided the actor may make this change although they may not change
    the record itself (a merge re-points the links of records its actor cannot see); the event still
    names the actor."""
    try:
        with transaction.atomic():
            return _update(
                _working_copy(record),
                data,
                actor=actor,
                source=source,
                expected_version=expected_version,
                checked=checked,
            )
    except _Raced:
        with transaction.atomic():
            current = _locked_with_children(record)
            return _update(
                current, data, actor=actor, source=source, expected_version=expected_version, checked=checked
            )


class _Raced(Exception):
    pass


def _working_copy(record: Record) -> Record:
    """The caller's record as read, to change: the caller's own object stays as it was whatever
    happens (a refused write leaves it untouched), with its related-object and child-row caches."""
    current = copy.copy(record)
    current._state = copy.copy(record._state)
    current._state.fields_cache = dict(record._state.fields_cache)
    prefetched = getattr(record, "_prefetched_objects_cache", None)
    if prefetched is not None:
        current.__dict__["_prefetched_objects_cache"] = dict(prefetched)
    return current


def _update(
    current: Record,
    data: dict[str, Any],
    *,
    actor: Any,
    source: str,
    expected_version: int | None,
    checked: bool = False,
) -> Record:
    model = type(current)
    type_key = model.record_type_key
    data = dict(data)
    if current.deleted_at is not None:
        raise RecordGone("This record is in the recycle bin.")
    if not checked and not _is_system(actor) and not can(actor, current, "change"):
        raise PermissionDenied("You may not change this record.")
    if expected_version is not None and current.version != expected_version:
        raise VersionConflict(current.etag)
    columns = _columns(model)
    # The row as read (JSON values copied: a change made to them in place must still be seen).
    stored = {
        a: copy.deepcopy(v) if isinstance(v, list | dict) else v for a, v in current.__dict__.items() if a in columns
    }
    before = current.snapshot()
    before_shown = _shown(current)
    read_version = current.version
    related = {k: data.pop(k) for k in list(data) if k in model.related_write_keys}
    if "owner" in data and getattr(data["owner"], "pk", None) != current.owner_id:
        _check_owner(actor, type_key, "change", data["owner"])
    custom = data.get("custom")
    if isinstance(custom, CustomPatch):  # the keys this write sets, on the row as it is now
        data["custom"] = custom.apply(current.custom)
    for name, value in data.items():
        setattr(current, name, value)
    current.prepare_write(before, related)
    normalize_decimals(current)
    # Child rows are unchanged unless given: reuse their snapshot instead of reading them again.
    proposed = {**before, **current.field_snapshot(), **current.pending_snapshot(related)}
    changes = _diff(before, proposed)
    if not changes:
        return current
    if "owner" in data:  # a record's team is its owner's (see visibility.scope_q)
        current.team_id = current.owner.team_id if current.owner is not None else None
    current.version = read_version + 1
    current.updated_at = timezone.now()
    if not _write_if_unchanged(current, read_version, stored):
        gone = not model._base_manager.filter(pk=current.pk, deleted_at__isnull=True).exists()
        if gone or expected_version is not None:
            fresh = model._base_manager.filter(pk=current.pk).first()
            if fresh is None or fresh.deleted_at is not None:
                raise RecordGone("This record is in the recycle bin.")
            raise VersionConflict(fresh.etag)
        raise _Raced
    if related:
        current.write_related(related)
    current.after_write(changes, actor=actor, source=source, created=False)
    record_event(current, "updated", actor=actor, source=source, changes=changes)
    search.index_record(current)
    # Dependents' documents show this record's name only to its own team (search_label).
    if _shown(current) != before_shown:
        reindex_dependents(current)
        search.index_attached([current])  # its attached documents (quotes) follow its owner and team
    return current


def delete_record(record: Record, *, actor: Any, source: str, expected_version: int | None = None) -> Record:
    """Move a record to the recycle bin (soft delete)."""
    with transaction.atomic():
        current = _locked(record)
        if current.deleted_at is not None:
            raise RecordGone("This record is already in the recycle bin.")
        if not _is_system(actor) and not can(actor, current, "delete"):
            raise PermissionDenied("You may not delete this record.")
        if expected_version is not None and current.version != expected_version:
            raise VersionConflict(current.etag)
        current.deleted_at = timezone.now()
        current.version += 1
        current.save(update_fields=["deleted_at", "version"])
        current.on_soft_delete()
        record_event(current, "deleted", actor=actor, source=source)
        search.remove_record(current)
        search.remove_attached(current)
    return current


def restore_record(record: Record, *, actor: Any, source: str) -> Record:
    """Bring a record back from the recycle bin; a clash with a live record (same domain or
    email) raises ValidationError naming the field and restores nothing."""
    with transaction.atomic():
        current = _locked(record)
        if current.deleted_at is None:
            return current
        if not _is_system(actor) and not can(actor, current, "restore"):
            raise PermissionDenied("You may not restore this record.")
        current.deleted_at = None
        current.version += 1
        _save(current, update_fields=["deleted_at", "version"])
        current.on_restore()
        record_event(current, "restored", actor=actor, source=source)
        search.index_record(current)
        search.index_attached([current])
    return current


def create_records_in_bulk(
    records: list[Record],
    *,
    actor: Any,
    source: str,
    batch: int = 500,
    related: list[dict[str, Any]] | None = None,
) -> list[Record]:
    """Create many records of one type as one write (loads, imports): one transaction, the type's
    rules (``prepare_write``) on each, a ``created`` event per record with its values and search
    entries in bulk. ``related`` gives each record's child rows (a person's emails and phones, as a
    write serializer validates them), written by the type's ``write_related_in_bulk``.

    Rows stream (DESIGN.md §12): ids are taken up front (``bulk.allocate_ids``), and the records, their
    events and their search entries are written by ``COPY`` on PostgreSQL and ``executemany`` on
    SQLite from the records in memory (their documents built from the child rows just written), not
    compiled by the ORM row by row nor read back. ``batch`` is kept for callers; it no longer matters."""
    from . import bulk

    _check_source(source)
    if not records:
        return []
    model = type(records[0])
    pending = related if related is not None else [{} for _ in records]
    if len(pending) != len(records):
        raise ValueError("give one dict of child rows per record")
    type_key = model.record_type_key
    with transaction.atomic():
        if not _is_system(actor) and actor.scope_for(type_key, "add") is None:
            raise PermissionDenied(f"You may not add {type_key}.")
        from django.contrib.auth import get_user_model

        for record in records:
            if record.owner_id is None and not _is_system(actor):
                record.owner_id = actor.pk
        owners = get_user_model().objects.in_bulk({r.owner_id for r in records if r.owner_id is not None})
        if not _is_system(actor):
            for user in owners.values():  # once per owner, not per row
                _check_owner(actor, type_key, "add", user)
        now = timezone.now()
        created_by = actor.pk if not _is_system(actor) and getattr(actor, "pk", None) else None
        for record, children in zip(records, pending, strict=True):
            record.prepare_write(None, children)
            record.team_id = owners[record.owner_id].team_id if record.owner_id in owners else None
            record.created_by_id = created_by
            record.created_at = record.updated_at = now
            record.version = 1
        for record, pk in zip(records, bulk.allocate_ids(model, len(records)), strict=True):
            record.pk = pk
        try:
            bulk.insert_objects(model, records)
        except IntegrityError as exc:
            raise ValidationError(records[0].integrity_error_message(exc)) from exc
        if model.related_write_keys:
            model.write_related_in_bulk(
                records, [{k: children.get(k, []) for k in model.related_write_keys} for children in pending]
            )
        actor_id = actor.pk if getattr(actor, "pk", None) else None
        request_id = current_request_id()
        moment = bulk.sql_value(now)
        events = []
        for record, children in zip(records, pending, strict=True):
            after = {**record.field_snapshot(), **record.pending_snapshot(children)}
            changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
            record.after_write(changes, actor=actor, source=source, created=True)
            events.append(
                (
                    moment,
                    type_key,
                    record.pk,
                    str(record)[:300],
                    "created",
                    actor_id,
                    source,
                    request_id,
                    bulk.sql_value(changes),
                    None,
                )
            )
        bulk.insert_rows(Event._meta.db_table, EVENT_COLUMNS, events)
        events_written()
        search.index_new_records(model, records)
    return records


EVENT_COLUMNS = (
    "occurred_at",
    "type_key",
    "record_id",
    "record_title",
    "kind",
    "actor_id",
    "source",
    "request_id",
    "changes",
    "dispatched_at",
)


def update_records_in_bulk(
    model: type[Record], where: Q, values: dict[str, Any], *, actor: Any, source: str
) -> list[Record]:
    """Set ``values`` ({field name: value}) on every record of ``model`` matching ``where``, as one
    write: one transaction, the rows locked, a version bump and an ``updated`` event with the
    field diff for each row that actually changes, and their search entries refreshed in bulk.

    For bulk changes that follow from a settings change (a stage's probability, an owner's team);
    the type's ``prepare_write`` rules are not re-run, so give only values that keep them (e.g. a
    probability only to deals that follow their stage). Binned records are updated too (their
    stored values must not go stale), without a search entry. Returns the changed records."""
    _check_source(source)
    fields = {name: model._meta.get_field(name) for name in values}
    attnames = {name: f.attname for name, f in fields.items()}  # type: ignore[union-attr]
    raw = {attnames[name]: getattr(value, "pk", value) for name, value in values.items()}
    # Only rows that change: a write that changes nothing writes no event (as in update_record).
    same = Q(**raw)
    with transaction.atomic():
        qs = model.objects.select_for_update(of=("self",)).filter(where).exclude(same).order_by("pk")
        rows = list(qs)
        if not rows:
            return []
        now = timezone.now()
        actor_obj = actor if getattr(actor, "pk", None) else None
        events = []
        renamed = []
        for row in rows:
            shown = _shown(row)
            before = {name: to_json_value(getattr(row, attnames[name])) for name in values}
            for attname, value in raw.items():
                setattr(row, attname, value)
            after = {name: to_json_value(getattr(row, attnames[name])) for name in values}
            changes = _diff(before, after)
            if _shown(row) != shown:
                renamed.append(row)
            row.version += 1
            row.updated_at = now
            row.after_write(changes, actor=actor, source=source, created=False)
            events.append(
                Event(
                    occurred_at=now,
                    type_key=model.record_type_key,
                    record_id=row.pk,
                    record_title=str(row)[:300],
                    kind="updated",
                    actor=actor_obj,
                    source=source,
                    request_id=current_request_id(),
                    changes=changes,
                )
            )
        pks = [row.pk for row in rows]
        for start in range(0, len(pks), 500):
            model.objects.filter(pk__in=pks[start : start + 500]).update(
                **raw, version=F("version") + 1, updated_at=now
            )
        Event.objects.bulk_create(events, batch_size=500)
        if events:
            events_written()
        search.index_records(model, [row.pk for row in rows if row.deleted_at is None])
        if renamed:  # linked names in dependents' entries follow a rename or a team move (search_label)
            reindex_dependents(renamed[0], pks=[r.pk for r in renamed])
            search.index_attached(renamed)  # and attached documents follow the owner and team
    return rows


def _shown(record: Record) -> tuple[str, Any, Any]:
    """What other records' search documents take from ``record``: its name, and its owner and
    team, which decide whether they may show it (visibility.search_label)."""
    return (str(record), record.owner_id, record.team_id)


def reindex_dependents(record: Record, *, pks: list[int] | None = None) -> int:
    """Refresh the search entries of live records whose document shows ``record``'s name (a
    person's and a deal's show their company's, within its team: visibility.search_label): every
    registered type's link field to it. ``pks`` does the same for many records of its type."""
    from . import registry

    ids = pks if pks is not None else [record.pk]
    total = 0
    for rtype in registry.all_types():
        for f in rtype.model._meta.concrete_fields:
            if f.is_relation and f.related_model is type(record) and ids:
                found = rtype.model.objects.live().filter(**{f"{f.name}__in": ids}).values_list("pk", flat=True)
                total += search.index_records(rtype.model, list(found))
    return total


def sync_owner_team(user: Any, *, actor: Any = None, source: str = "system") -> int:
    """After ``user`` changed team, move the records they own to the new team (a record's team is
    always its owner's), each with a version bump, an event and a fresh search entry. Returns the
    number of records moved."""
    from . import registry

    moved = 0
    with transaction.atomic():
        for rtype in registry.all_types():
            changed = update_records_in_bulk(
                rtype.model, Q(owner_id=user.pk), {"team": user.team_id}, actor=actor, source=source
            )
            moved += len(changed)  # (update_records_in_bulk refreshes the dependents' entries too)
    return moved
