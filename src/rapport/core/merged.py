"""Records merged into another one keep their history: the survivor's history and timeline show
their events too. A merge writes a ``merged`` event on the survivor naming the records it took in
(``{"merge": {"id": <merge id>, "records": [ids]}}``) and its undo an ``unmerged`` event with the
same payload; this module reads them back (through the events' record index, no other table), so
core needs nothing from the app that merges."""

from __future__ import annotations

from .models import Event

MERGE_KINDS = ("merged", "unmerged")
DEPTH = 3  # a record merged into one that was itself merged: follow a few levels


def merged_into(type_key: str, pk: int) -> list[int]:
    """The records currently merged into ``pk`` (directly or through a few levels), without ``pk``."""
    found: list[int] = []
    frontier = [pk]
    for _ in range(DEPTH):
        rows = (
            Event.objects.filter(type_key=type_key, record_id__in=frontier, kind__in=MERGE_KINDS)
            .order_by("id")
            .values_list("kind", "changes")
        )
        current: dict[int, list[int]] = {}
        for kind, changes in rows:
            merge = (changes or {}).get("merge") if isinstance(changes, dict) else None
            if not isinstance(merge, dict):
                continue
            ids = [i for i in merge.get("records") or [] if isinstance(i, int)]
            if kind == "merged":
                current[merge.get("id") or 0] = ids
            else:
                current.pop(merge.get("id") or 0, None)
        frontier = [i for ids in current.values() for i in ids if i not in found and i != pk]
        if not frontier:
            break
        found += frontier
    return found


def history_ids(type_key: str, pk: int) -> list[int]:
    """``pk`` and the records merged into it: whose events make up its history."""
    return [pk, *merged_into(type_key, pk)]


def survivor_of(type_key: str, pk: int) -> int | None:
    """The record ``pk`` was merged into (its last ``merged`` event, unless undone since), or None."""
    row = (
        Event.objects.filter(type_key=type_key, record_id=pk, kind__in=MERGE_KINDS)
        .order_by("-id")
        .values_list("kind", "changes")
        .first()
    )
    if row is None or row[0] != "merged" or not isinstance(row[1], dict):
        return None
    into = row[1].get("merged_into")
    survivor = into.get("id") if isinstance(into, dict) else None
    return survivor if isinstance(survivor, int) else None
