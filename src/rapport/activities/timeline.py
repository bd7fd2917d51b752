"""The timeline of a record: the activities linked to it and its own history events, newest first.

A company's timeline also holds the activities of its people and its deals. Pages are keyset-paginated on
(time, source, id) — never OFFSET — and cost a fixed number of queries whatever the size of the history.
Only activities the user may see, linked to records the user may see, are ever read.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime

from rapport.core import customfields, formatting, registry
from rapport.core.inputs import is_id
from rapport.core.merged import history_ids
from rapport.core.models import Event, Record
from rapport.web import display

from .models import Activity, ActivityLink

PAGE_SIZE = 20
ACTIVITY_KINDS = ("task", "call", "meeting", "note")
KIND_FILTERS = (*ACTIVITY_KINDS, "changes")
KIND_LABELS = {"": "Everything", "task": "Tasks", "call": "Calls", "meeting": "Meetings", "note": "Notes"}
KIND_LABELS["changes"] = "Changes"
# Sources order ties at the same instant: "event" > "activity" in the descending walk.
SOURCES = ("activity", "event")


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    at: dt.datetime
    source: str
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.source}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at_text, source, id_text = raw.split("|")
            at = parse_datetime(at_text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadCursor("This page link is no longer valid.") from exc
        if at is None or at.tzinfo is None or source not in (*SOURCES, *_sources) or not is_id(id_text):
            raise BadCursor("This page link is no longer valid.")
        return cls(at, source, int(id_text))


@dataclass
class Item:
    source: str  # "activity" or "event"
    at: dt.datetime
    id: int
    activity: Activity | None = None
    event: Event | None = None
    links: list[display.Shown] = field(default_factory=list)  # other records the activity concerns
    link_refs: list[tuple[str, int]] = field(default_factory=list)  # the same, as (type key, id)
    changes: list[dict[str, Any]] = field(default_factory=list)
    stage: dict[str, display.Shown] | None = None  # a deal's stage move: {"before": …, "after": …}
    actor: str = ""
    when: str = ""
    record: display.Shown | None = None  # the record an event happened to
    # Items of a registered TimelineSource: what its template shows.
    payload: Any = None
    template: str = ""

    @property
    def event_label(self) -> str:
        kind = self.event.kind if self.event else ""
        return formatting.event_verb(kind)

    @property
    def kind(self) -> str:
        if self.activity is not None:
            return self.activity.kind
        return "stage" if self.stage else (self.event.kind if self.event else "")


@dataclass(frozen=True)
class TimelineSource:
    """Another app's entries on the timeline (mail), declared with ``register_source`` from its AppConfig.ready().

    ``fetch(user, type_key, record, target_ids, after, size)`` returns at most ``size + 1`` Items of this source,
    newest first, that ``user`` may see, for the records in ``target_ids`` (the record and, for a company, its
    visible people and deals), each older than the cursor: ``after(time_field)`` is the Q to filter with. Items
    carry ``payload`` and ``template`` (a partial rendering one ``item``). Sources show under "Everything".
    """

    name: str  # the cursor's source; orders ties at the same instant after "activity" and "event"
    fetch: Callable[[Any, str, Record, dict[str, list[int]], Callable[[str], Q], int], list[Item]]


_sources: dict[str, TimelineSource] = {}


def register_source(source: TimelineSource) -> TimelineSource:
    if source.name in SOURCES or "|" in source.name:
        raise ValueError(f"timeline source name {source.name!r} is taken or invalid")
    _sources[source.name] = source
    return source


@dataclass
class Page:
    items: list[Item]
    next_cursor: str | None


def targets(user: Any, type_key: str, record: Record) -> dict[str, list[int]]:
    """The records whose activities show on ``record``'s timeline (visible ones only), by type."""
    out: dict[str, list[int]] = {type_key: [record.pk]}
    if type_key == "companies":
        for key, fk in (("people", "company_id"), ("deals", "company_id")):
            rtype = registry.find(key)
            if rtype is None or user.scope_for(key, "view") is None:
                continue
            ids = list(rtype.model.objects.visible_to(user).filter(**{fk: record.pk}).values_list("id", flat=True))
            if ids:
                out[key] = ids
    return out


def _link_q(target_ids: dict[str, list[int]]) -> Q:
    q = Q()
    for key, ids in target_ids.items():
        q |= Q(type_key=key, record_id__in=ids)
    return q


def _after(cursor: Cursor | None, source: str, time_field: str) -> Q:
    """Rows strictly older than ``cursor`` in the (time, source, id) descending walk."""
    if cursor is None:
        return Q()
    older = Q(**{f"{time_field}__lt": cursor.at})
    if source < cursor.source:
        return older | Q(**{time_field: cursor.at})
    if source == cursor.source:
        return older | Q(**{time_field: cursor.at, "id__lt": cursor.id})
    return older


def _source_after(cursor: Cursor | None, source: str) -> Callable[[str], Q]:
    return lambda time_field: _after(cursor, source, time_field)


def activity_queryset(user: Any, target_ids: dict[str, list[int]]) -> QuerySet[Any]:
    linked = ActivityLink.objects.filter(_link_q(target_ids)).values("activity_id")
    return (
        Activity.objects.visible_to(user)
        .filter(pk__in=linked)
        .annotate(at=Coalesce("start_at", "due_at", "created_at"))
    )


def build(
    user: Any,
    type_key: str,
    record: Record,
    *,
    kind: str = "",
    cursor: Cursor | None = None,
    size: int = PAGE_SIZE,
    sources: bool = True,
) -> Page:
    """One page of ``record``'s timeline for ``user`` (``sources``: with the registered TimelineSources' items)."""
    if kind not in ("", *KIND_FILTERS):
        raise ValueError(f"kind: one of {', '.join(KIND_FILTERS)}.")
    target_ids = targets(user, type_key, record)
    rows: list[Item] = []
    if kind != "changes" and user.scope_for("activities", "view") is not None:
        qs = activity_queryset(user, target_ids).select_related("assignee")
        if kind:
            qs = qs.filter(kind=kind)
        for a in qs.filter(_after(cursor, "activity", "at")).order_by("-at", "-id")[: size + 1]:  # type: ignore[misc]
            rows.append(Item("activity", a.at, a.pk, activity=a))
    if kind in ("", "changes"):
        own = Q(type_key=type_key, record_id__in=history_ids(type_key, record.pk))  # with records merged into it
        if type_key == "companies" and target_ids.get("deals"):
            # A company's timeline also shows its (visible) deals moving through the pipeline.
            own |= Q(type_key="deals", record_id__in=target_ids["deals"], kind="updated", changes__has_key="stage")
        own |= _linked_records_q(user, record)
        events = (
            Event.objects.filter(own)
            .filter(_after(cursor, "event", "occurred_at"))
            .select_related("actor")
            .order_by("-occurred_at", "-id")[: size + 1]
        )
        rows.extend(Item("event", e.occurred_at, e.pk, event=e) for e in events)
    if kind == "" and sources:
        for source in _sources.values():
            rows.extend(source.fetch(user, type_key, record, target_ids, _source_after(cursor, source.name), size))
    rows.sort(key=lambda i: (i.at, i.source, i.id), reverse=True)
    more = len(rows) > size
    rows = rows[:size]
    _decorate(user, type_key, record, rows)
    last = rows[-1] if rows else None
    next_cursor = Cursor(last.at, last.source, last.id).encode() if more and last else None
    return Page(rows, next_cursor)


def _linked_records_q(user: Any, record: Record) -> Q:
    """Events of the records that declare ``record``'s type in their ``timeline_links`` (a company's
    invoices): created, and status changes; only records the user may see."""
    q = Q()
    for other in registry.all_types():
        for fk in other.timeline_links:
            if other.model._meta.get_field(fk).related_model is not type(record):
                continue
            if user.scope_for(other.key, "view") is None:
                continue
            ids = other.model.objects.visible_to(user).filter(**{f"{fk}_id": record.pk}).values("id")
            changed = Q(kind="created") | Q(kind="updated", changes__has_key="status")
            q |= Q(type_key=other.key, record_id__in=ids) & changed
    return q


def _decorate(user: Any, type_key: str, record: Record, rows: list[Item]) -> None:
    """Names for links, actors, stages and field changes, resolved in batch for the whole page."""
    names = display.Names(user)
    activity_ids = [i.id for i in rows if i.source == "activity"]
    links: dict[int, list[tuple[str, int]]] = {}
    if activity_ids:
        for link in ActivityLink.objects.filter(activity_id__in=activity_ids).order_by("id"):
            if link.type_key == type_key and link.record_id == record.pk:
                continue
            links.setdefault(link.activity_id, []).append((link.type_key, link.record_id))
            names.want_record(link.type_key, link.record_id)
    renderers: dict[str, display.HistoryRenderer] = {}
    for item in rows:
        if item.event is not None:
            key = item.event.type_key
            if key not in renderers:
                renderers[key] = display.HistoryRenderer(registry.get(key), customfields.definitions(key), names)
            renderers[key].collect(item.event.changes or {})
            if key != type_key or item.event.record_id != record.pk:
                names.want_record(key, item.event.record_id)
    names.resolve()
    actors = display.actor_names([item.event for item in rows if item.event is not None])
    for item in rows:
        item.when = display.local_datetime(item.at)
        if item.activity is not None:
            a = item.activity
            item.actor = a.assignee.display_name if a.assignee else ""
            # Records the viewer may not see are left out, not shown as "#id".
            for key, pk in links.get(a.pk, []):
                shown = names.record_shown(key, pk)
                if shown.url:
                    item.links.append(shown)
                    item.link_refs.append((key, pk))
        elif item.event is not None:
            e = item.event
            renderer = renderers[e.type_key]
            if e.type_key != type_key or e.record_id != record.pk:
                item.record = names.record_shown(e.type_key, e.record_id)
                if e.type_key == type_key and not item.record.url:  # a record merged into this one
                    item.record = display.Shown(f"{e.record_title or item.record.text} (merged into this one)")
            item.actor = actors[e.pk]
            changes = e.changes or {}
            if e.kind == "updated" and isinstance(changes.get("stage"), list):
                row = next(iter(renderer.rows({"stage": changes["stage"]})), None)
                if row is not None:
                    item.stage = {"before": row["before"], "after": row["after"]}
                changes = {k: v for k, v in changes.items() if k != "stage"}
            # A creation's full field list is in the History panel; the timeline says what changed.
            own = e.type_key == type_key and e.record_id == record.pk
            item.changes = renderer.rows(changes, record if own else None) if e.kind == "updated" else []
