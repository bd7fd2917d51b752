"""The write path's invariants, checkable over a whole database. For every record:
- its version is the number of its version-changing events (created, updated, deleted, restored);
- its history replays to its stored values: applying the field diffs of its events in order gives
  what its snapshot holds now;
- a live record's search entry is its current document (and a binned one has none), and so are the
  entries of the documents attached to it (a deal's quotes), with its owner and team.
A write that bypasses ``core/services.py`` (an ``.update()``, a raw UPDATE, a row written
directly) breaks one of them. The test suite checks them after every test that used the
database (tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from . import registry
from .models import Event, SearchEntry
from .search import document_for, document_links, searchable_keys

ENTRY_FIELDS = ("owner_id", "team_id", "title", "body", "identifiers")
EMPTY: tuple[Any, ...] = (None, "", [], {})
MISSING = object()


def _same(stored: Any, replayed: Any) -> bool:
    """Equal as values: "2026-03-02T09:00:00+00:00" is "2026-03-02T10:00:00+01:00", "5.0" is "5"."""
    if replayed is MISSING:
        return stored in EMPTY
    if stored == replayed:
        return True
    if isinstance(stored, str) and isinstance(replayed, str):
        try:
            return dt.datetime.fromisoformat(stored) == dt.datetime.fromisoformat(replayed)
        except ValueError:
            pass
        try:
            return Decimal(stored) == Decimal(replayed)
        except (InvalidOperation, ValueError):
            return False
    return False


def history_problems() -> list[str]:
    """Every broken invariant as a sentence naming the record; an empty list when all hold."""
    problems: list[str] = []
    types = {rtype.key: rtype for rtype in registry.all_types()}
    versions = {key: dict(rtype.model.objects.values_list("pk", "version")) for key, rtype in types.items()}
    if not any(versions.values()):
        return problems
    counts: dict[tuple[str, int], int] = {}
    replayed: dict[tuple[str, int], dict[str, Any]] = {}
    history = Event.objects.filter(type_key__in=[k for k, v in versions.items() if v]).order_by("id")
    for type_key, record_id, kind, changes in history.values_list("type_key", "record_id", "kind", "changes"):
        if kind not in Event.VERSION_KINDS:
            continue
        ref = (type_key, record_id)
        counts[ref] = counts.get(ref, 0) + 1
        state = replayed.setdefault(ref, {})
        for name, change in (changes or {}).items():
            if isinstance(change, list) and len(change) == 2:
                state[name] = change[1]
    entries: dict[tuple[str, int], tuple[Any, ...]] = {
        (row[0], row[1]): row[2:]
        for row in SearchEntry.objects.filter(type_key__in=list(types)).values_list(
            "type_key", "record_id", *ENTRY_FIELDS
        )
    }
    for key, rtype in types.items():
        if not versions[key]:
            continue
        for pk, version in versions[key].items():
            events = counts.get((key, pk), 0)
            if version != events:
                problems.append(f"{key} #{pk}: version {version} but {events} version-changing events")
        records = rtype.model.objects.select_related(*document_links(rtype.model))
        if rtype.prefetch_related:
            records = records.prefetch_related(*rtype.prefetch_related)
        keys = searchable_keys(key)
        for record in records:
            state = replayed.get((key, record.pk), {})
            if state:
                drift = [
                    name for name, value in record.snapshot().items() if not _same(value, state.get(name, MISSING))
                ]
                if drift:
                    problems.append(f"{key} #{record.pk}: stored values differ from its history ({', '.join(drift)})")
            actual = entries.pop((key, record.pk), None)
            if record.deleted_at is not None:
                if actual is not None:
                    problems.append(f"{key} #{record.pk}: search entry for a record in the recycle bin")
                continue
            expected = tuple(document_for(record, keys)[f] for f in ENTRY_FIELDS)
            if actual is None:
                problems.append(f"{key} #{record.pk}: no search entry")
            elif actual != expected:
                stale = [f for f, a, e in zip(ENTRY_FIELDS, actual, expected, strict=True) if a != e]
                problems.append(f"{key} #{record.pk}: stale search entry ({', '.join(stale)})")
    for type_key, record_id in entries:
        problems.append(f"{type_key} #{record_id}: search entry for a record that does not exist")
    problems += _attached_problems(types)
    return problems


def _attached_problems(types: dict[str, Any]) -> list[str]:
    """The entries of attached documents (registry.AttachedSearch) are those of live parents, current."""
    problems = []
    for key, rtype in types.items():
        attached = rtype.attached_search
        if attached is None:
            continue
        parents = {
            pk: (owner, team) for pk, owner, team in rtype.model.objects.live().values_list("pk", "owner_id", "team_id")
        }
        expected = {
            pk: (*parents[parent], title[:300], body, identifiers)
            for parent, pk, title, body, identifiers in (attached.documents(list(parents)) if parents else [])
        }
        actual = {
            row[0]: row[1:]
            for row in SearchEntry.objects.filter(type_key=attached.key).values_list("record_id", *ENTRY_FIELDS)
        }
        for pk in expected.keys() | actual.keys():
            if pk not in actual:
                problems.append(f"{attached.key} #{pk}: no search entry")
            elif pk not in expected:
                problems.append(f"{attached.key} #{pk}: search entry for a document of no live {key} record")
            elif actual[pk] != expected[pk]:
                stale = [f for f, a, e in zip(ENTRY_FIELDS, actual[pk], expected[pk], strict=True) if a != e]
                problems.append(f"{attached.key} #{pk}: stale search entry ({', '.join(stale)})")
    return problems
