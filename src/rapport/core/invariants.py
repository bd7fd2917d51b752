"""The write path's invariants, checkable over a whole database: every record's version is the
number of its version-changing events, and its search entry is its current document. A write
that bypasses ``core/services.py`` (an ``.update()``, a raw UPDATE) breaks one of them. The test
suite checks them after every test that used the database (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from . import registry
from .models import Event, SearchEntry
from .search import document_for, document_links, searchable_keys

ENTRY_FIELDS = ("owner_id", "team_id", "title", "body", "identifiers")


def history_problems() -> list[str]:
    """Every broken invariant as a sentence naming the record; an empty list when all hold."""
    problems: list[str] = []
    types = {rtype.key: rtype for rtype in registry.all_types()}
    versions = {key: dict(rtype.model.objects.values_list("pk", "version")) for key, rtype in types.items()}
    if not any(versions.values()):
        return problems
    counts: dict[tuple[str, int], int] = {
        (row["type_key"], row["record_id"]): row["n"]
        for row in Event.objects.filter(type_key__in=list(types), kind__in=Event.VERSION_KINDS)
        .values("type_key", "record_id")
        .annotate(n=Count("id"))
    }
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
        live = rtype.model.objects.live()
        links = document_links(rtype.model)
        if rtype.prefetch_related:
            live = live.prefetch_related(*rtype.prefetch_related)
        seen = set()
        keys = searchable_keys(key)
        for record in live.select_related(*links):
            seen.add(record.pk)
            doc = document_for(record, keys)
            expected = tuple(doc[f] for f in ENTRY_FIELDS)
            actual = entries.get((key, record.pk))
            if actual is None:
                problems.append(f"{key} #{record.pk}: no search entry")
            elif actual != expected:
                stale = [f for f, a, e in zip(ENTRY_FIELDS, actual, expected, strict=True) if a != e]
                problems.append(f"{key} #{record.pk}: stale search entry ({', '.join(stale)})")
        for entry_key, record_id in entries:
            if entry_key == key and record_id not in seen:
                problems.append(f"{key} #{record_id}: search entry for a record that is not live")
    return problems
