"""Read-side helpers of duplicates: the pairs a user may see (both records visible to them and live),
and each pair's records side by side, read for a whole page at once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from rapport.core import customfields, registry, visibility
from rapport.core.normalize import format_phone
from rapport.core.registry import RecordType

from .models import DuplicateCandidate
from .services import checked_types


def viewable_types(user: Any, type_key: str = "") -> list[RecordType]:
    """The checked types whose records ``user`` may view (all, or ``type_key``)."""
    return [t for t in checked_types(type_key) if user.scope_for(t.key, "view") is not None]


def visible_pairs(user: Any, type_key: str = "") -> QuerySet[DuplicateCandidate]:
    """Open pairs whose two records are live and visible to ``user``: a pair with a record in the bin
    (deleted, merged away) or of another team's drops out. One query, the visibility rule as EXISTS."""
    q = Q(pk__in=[])
    for rtype in viewable_types(user, type_key):
        visible = rtype.model.objects.visible_to(user)
        q |= (
            Q(type_key=rtype.key)
            & Q(Exists(visible.filter(pk=OuterRef("record_a"))))
            & Q(Exists(visible.filter(pk=OuterRef("record_b"))))
        )
    return DuplicateCandidate.objects.filter(status=DuplicateCandidate.OPEN).filter(q)


@dataclass
class Side:
    """One record of a pair as the queue shows it."""

    id: int
    title: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class PairView:
    pair: DuplicateCandidate
    rtype: RecordType
    left: Side
    right: Side
    rows: list[tuple[str, str, str, bool]]  # (label, left value, right value, same)

    @property
    def percent(self) -> float:
        return round(self.pair.score * 100)

    @property
    def merge_url(self) -> str:
        return f"/duplicates/merge/{self.rtype.key}/?ids={self.pair.record_a},{self.pair.record_b}"


def _address(record: Any) -> str:
    parts = [getattr(record, "street", "")]
    town = " ".join(x for x in (getattr(record, "postal_code", ""), getattr(record, "city", "")) if x)
    parts += [town, getattr(record, "region", ""), getattr(record, "country", "")]
    return ", ".join(p for p in parts if p)


def _side(rtype: RecordType, record: Any, user: Any, idents: list[Any]) -> Side:
    identity = rtype.identity
    assert identity is not None
    values: dict[str, str] = {}
    for name, label in (("emails", "Email"), ("phones", "Phone")):
        path = getattr(identity, name)
        if not path:
            continue
        if "__" in path:
            related, attr = path.split("__", 1)
            items = [str(getattr(child, attr)) for child in record.related_items(related)]
        else:
            items = [str(getattr(record, path) or "")]
        if name == "phones":
            items = [format_phone(i) for i in items if i]
        values[label] = ", ".join(i for i in items if i)
    if identity.domain:
        values["Domain"] = getattr(record, identity.domain) or ""
    if identity.company:
        company = getattr(record, identity.company)
        if company is not None:
            shown = visibility.record_link(user, company)
            values["Company"] = (shown or {}).get("name") or f"#{company.pk}"
        else:
            values["Company"] = ""
    if identity.street or identity.postal_code:
        values["Address"] = _address(record)
    for d in idents:
        raw = (record.custom or {}).get(d.key)
        values[d.label] = customfields.display(d, raw) if raw not in (None, "") else ""
    return Side(record.pk, str(record), f"/{rtype.key}/{record.pk}/", values)


def pair_views(pairs: list[DuplicateCandidate], user: Any) -> list[PairView]:
    """Both records of each pair, side by side: one query per type on the page (plus its child lists)."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for p in pairs:
        wanted[p.type_key].update(p.ids)
    records: dict[str, dict[int, Any]] = {}
    idents: dict[str, list[Any]] = {}
    for type_key, ids in wanted.items():
        rtype = registry.get(type_key)
        qs = rtype.model.objects.visible_to(user).filter(pk__in=ids)
        if rtype.select_related:
            qs = qs.select_related(*rtype.select_related)
        if rtype.prefetch_related:
            qs = qs.prefetch_related(*rtype.prefetch_related)
        records[type_key] = {r.pk: r for r in qs}
        idents[type_key] = [d for d in customfields.definitions(type_key) if d.is_identifier]
    out = []
    for p in pairs:
        rtype = registry.get(p.type_key)
        a, b = records[p.type_key].get(p.record_a), records[p.type_key].get(p.record_b)
        if a is None or b is None:  # binned or hidden between the two queries
            continue
        left = _side(rtype, a, user, idents[p.type_key])
        right = _side(rtype, b, user, idents[p.type_key])
        rows = [
            (label, left.fields[label], right.fields.get(label, ""), bool(left.fields[label])
             and left.fields[label].casefold() == right.fields.get(label, "").casefold())
            for label in left.fields
            if left.fields[label] or right.fields.get(label)
        ]  # fmt: skip
        out.append(PairView(p, rtype, left, right, rows))
    return out
