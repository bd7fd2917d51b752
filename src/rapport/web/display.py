"""How values look on pages: list cells, detail fields and history diffs.

Linked users and records are resolved to names in batch (one query per linked type), never per row.
Records the viewer may not see are shown as ``#id`` only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from rapport.core import formatting, registry
from rapport.core.inputs import is_id
from rapport.core.models import CustomField, Record
from rapport.core.normalize import format_phone
from rapport.core.registry import ChildRows, RecordType, RowPart
from rapport.core.visibility import link_label


@dataclass
class Shown:
    """A value ready for a template: text, an optional link and a kind (for styling)."""

    text: str
    url: str = ""
    kind: str = "text"
    items: list[str] | None = None  # tags and multi-choice values, shown as badges
    lines: list[str] | None = None  # child rows (line items, contacts), one per line

    def __str__(self) -> str:
        return self.text


EMPTY = Shown("")


class Names:
    """Collects user and record ids first, then resolves them with one query per target."""

    def __init__(self, user: Any):
        self.user = user
        self.user_ids: set[int] = set()
        self.record_ids: dict[str, set[int]] = defaultdict(set)
        self.users: dict[int, str] = {}
        self.records: dict[tuple[str, int], str] = {}
        # links to settings-like tables (pipeline, stage, lost reason): model -> ids / names
        self.row_ids: dict[Any, set[int]] = defaultdict(set)
        self.rows: dict[tuple[Any, int], str] = {}

    def want_row(self, model: Any, value: Any) -> None:
        if _is_id(value):
            self.row_ids[model].add(int(value))

    def row_shown(self, model: Any, value: Any) -> Shown:
        if not _is_id(value):
            return EMPTY
        return Shown(self.rows.get((model, int(value)), f"#{value}"))

    def want_user(self, value: Any) -> None:
        if _is_id(value):
            self.user_ids.add(int(value))

    def want_record(self, type_key: str, value: Any) -> None:
        if _is_id(value) and registry.find(type_key) is not None:
            self.record_ids[type_key].add(int(value))

    def resolve(self) -> None:
        if self.user_ids:
            qs = get_user_model().objects.filter(pk__in=self.user_ids).only("id", "first_name", "last_name", "username")
            self.users = {u.pk: u.display_name for u in qs}
        for model, ids in self.row_ids.items():
            for obj in model.objects.filter(pk__in=ids):
                self.rows[(model, obj.pk)] = str(obj)
        for type_key, ids in self.record_ids.items():
            rtype = registry.get(type_key)
            fields = ["id", "owner_id", "team_id", *rtype.title_fields]
            for row in rtype.model.objects.live().filter(pk__in=ids).values(*fields):
                title = " ".join(str(row[f] or "") for f in rtype.title_fields).strip() or f"#{row['id']}"
                label = link_label(self.user, type_key, title, owner_id=row["owner_id"], team_id=row["team_id"])
                if label is not None:
                    self.records[(type_key, row["id"])] = label

    def user_shown(self, value: Any) -> Shown:
        if not _is_id(value):
            return EMPTY
        return Shown(self.users.get(int(value), f"#{value}"), kind="user")

    def record_shown(self, type_key: str, value: Any) -> Shown:
        if not _is_id(value):
            return EMPTY
        title = self.records.get((type_key, int(value)))
        if title is None:
            return Shown(f"#{value}", kind="record")
        return Shown(title, url=f"/{type_key}/{int(value)}/", kind="record")


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and is_id(value)


# Apps that say more precisely than its source who made a change no person made, from the event's request id:
# {source: fn(request ids) -> {request id: words}} — automation's "rule-3-run-9" reads "automation: rule Welcome".
SOURCE_DETAILS: dict[str, Callable[[list[str]], dict[str, str]]] = {}


def actor_names(events: list[Any]) -> dict[int, str]:
    """Who made each event's change, in words: the user's name, else what made it (one query per source that
    has details), else "System". Events come with their actor selected."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.actor_id is None and e.source in SOURCE_DETAILS and e.request_id:
            wanted[e.source].add(e.request_id)
    details = {source: SOURCE_DETAILS[source](sorted(ids)) for source, ids in wanted.items()}
    out = {}
    for e in events:
        if e.actor_id is not None and e.actor is not None:
            out[e.pk] = e.actor.display_name
        else:
            out[e.pk] = details.get(e.source, {}).get(e.request_id) or "System"
    return out


def local_datetime(value: Any) -> str:
    """A moment in the viewer's time zone and locale (``May 26, 2027, 2:30 PM``)."""
    return formatting.datetime(value)


def dial_url(e164: Any) -> str:
    """Click to call: where a stored (E.164) phone number links to: ``tel:`` or the installation's
    ``RAPPORT_DIALER_URL`` (a SIP softphone, a PBX's web dialer) with the number filled in."""
    number = str(e164 or "").strip()
    if not number:
        return ""
    template = getattr(settings, "RAPPORT_DIALER_URL", "") or "tel:{number}"
    web = template.lower().startswith(("http:", "https:"))
    digits = "".join(ch for ch in number if ch in "0123456789")
    shown = quote(number, safe="") if web else quote(number, safe="+")
    return template.replace("{number}", shown).replace("{digits}", digits)


# --- list cells -------------------------------------------------------------------------------
def cell(col: Any, value: Any, names: Names | None = None, row: Any = None) -> Shown:
    """A list cell from a projected row value (see core.listing.project_row); ``row`` gives a money
    column its currency."""
    if value in (None, "", []):
        return EMPTY
    kind = col.kind
    if isinstance(value, bool):
        return Shown(formatting.yes_no(value), kind="choice")
    if kind == "money":
        return Shown(formatting.money(value, row.get(col.currency) if col.currency and row else None), kind="money")
    if kind == "number":
        return Shown(formatting.number(value), kind="number")
    if kind == "percent":
        return Shown(formatting.percent(value), kind="percent")
    if kind in ("user", "record", "fk"):
        if value.get("name") is None:  # a record the viewer may not see: its id only
            return Shown(f"#{value.get('id')}", kind=kind)
        name = value.get("name") or f"#{value.get('id')}"
        url = f"/{col.link_type}/{value['id']}/" if kind == "record" else ""
        return Shown(name, url=url, kind=kind)
    if kind == "choice":
        return Shown(dict(col.choices).get(value, str(value)), kind="choice")
    if kind == "phone":
        return Shown(format_phone(value), url=dial_url(value), kind="phone")
    if kind == "email":
        return Shown(value, url=f"mailto:{value}", kind="email")
    if kind == "url":
        return Shown(value, url=value if str(value).startswith(("http://", "https://")) else "", kind="url")
    if kind == "tags":
        return Shown(", ".join(value), items=list(value), kind="tags")
    if kind == "datetime":
        return Shown(formatting.datetime(value), kind=kind)
    if kind == "date":
        return Shown(formatting.date(value), kind=kind)
    return Shown(str(value))


def custom_shown(d: CustomField, value: Any, names: Names) -> Shown:
    if value in (None, "", []):
        return EMPTY
    t = d.field_type
    if t == "boolean":
        return Shown(formatting.yes_no(value))
    if t == "multi_choice":
        return Shown(", ".join(value), items=list(value), kind="tags")
    if t == "money" and isinstance(value, dict):
        return Shown(formatting.money(value.get("amount"), value.get("currency")), kind="money")
    if t == "number":
        return Shown(formatting.number(value), kind="number")
    if t == "date":
        return Shown(formatting.date(value), kind="date")
    if t == "user":
        return names.user_shown(value)
    if t == "reference":
        return names.record_shown(d.reference_type, value)
    if t == "datetime":
        return Shown(formatting.datetime(value), kind="datetime")
    if t == "phone":
        return Shown(format_phone(str(value)), url=dial_url(value), kind="phone")
    if t == "email":
        return Shown(str(value), url=f"mailto:{value}", kind="email")
    if t == "url":
        text = str(value)
        return Shown(text, url=text if text.startswith(("http://", "https://")) else "", kind="url")
    return Shown(str(value), kind="long" if t == "long_text" else "text")


def want_custom(d: CustomField, value: Any, names: Names) -> None:
    if d.field_type == "user":
        names.want_user(value)
    elif d.field_type == "reference":
        names.want_record(d.reference_type, value)


# --- detail fields ----------------------------------------------------------------------------
def model_value(rtype: RecordType, record: Record, name: str, user: Any) -> Shown:
    """A model field of a record for the detail page: choice labels, links (a linked record's name
    only when ``user`` may see it, else ``#id``), formatted phones."""
    try:
        mf = record._meta.get_field(name)
    except Exception:
        return EMPTY
    if isinstance(mf, models.ForeignKey):
        linked = getattr(record, name)
        if linked is None:
            return EMPTY
        target = registry.find(getattr(mf.related_model, "record_type_key", ""))
        if target is None:
            return Shown(getattr(linked, "display_name", None) or str(linked))
        label = link_label(user, target.key, str(linked), owner_id=linked.owner_id, team_id=linked.team_id)
        if label is None:
            return Shown(f"#{linked.pk}", kind="record")
        return Shown(label, url=f"/{target.key}/{linked.pk}/", kind="record")
    value = getattr(record, name)
    if value in (None, ""):
        return EMPTY
    model_field: Any = mf  # a reverse relation has no choices
    if getattr(model_field, "choices", None):
        return Shown(str(dict(model_field.flatchoices).get(value, value)), kind="choice")
    col = next((c for c in rtype.columns if c.path == name), None)
    if col is not None:
        currency = rtype.columns_by_key.get(col.currency) if col.currency else None
        return cell(col, value, row={col.currency: getattr(record, currency.path)} if currency else None)
    return typed(mf, value)


def typed(mf: Any, value: Any) -> Shown:
    """A model field's value by its type, for fields no column describes."""
    if isinstance(value, bool) or isinstance(mf, models.BooleanField):
        return Shown(formatting.yes_no(value))
    if isinstance(mf, models.DateTimeField):
        return Shown(formatting.datetime(value), kind="datetime")
    if isinstance(mf, models.DateField):
        return Shown(formatting.date(value), kind="date")
    if isinstance(mf, models.DecimalField | models.IntegerField | models.FloatField) and not isinstance(
        mf, models.AutoField | models.BigAutoField
    ):
        return Shown(formatting.number(value), kind="number")
    return Shown(str(value), kind="long" if isinstance(mf, models.TextField) else "text")


# --- history ----------------------------------------------------------------------------------
def _shown_parts(spec: ChildRows) -> set[str]:
    """The parts a child row's wording shows (a line item's product id is kept, not shown)."""
    text = spec.wording + "".join(w for w, _ in spec.extras)
    return {p.name for p in spec.parts if "{" + p.name + "}" in text}


def child_lines(rtype: RecordType, name: str, record: Record, user: Any) -> list[str] | None:
    """A record's child rows of ``name`` in words for its detail page (line items as "2 × Premium
    support at €9,000.00"), or None when the type declares no wording for them or the wording names
    linked records (the page shows those as links)."""
    spec = rtype.child_rows.get(name)
    if spec is None or any(p.kind == "record" for p in spec.parts if p.name in _shown_parts(spec)):
        return None
    snapshot = record.related_snapshot().get(name)
    renderer = HistoryRenderer(rtype, [], Names(user))
    currency = getattr(record, renderer.currency_path, None) if renderer.currency_path else None
    if spec.prices and isinstance(snapshot, dict):
        return [formatting.money(amount, code) for code, amount in snapshot.items()]
    return [renderer.child_row(spec, row, currency) for row in snapshot or []]


class HistoryRenderer:
    """Per-field before → after of events, with ids shown as names (resolved in batch), values in the
    viewer's locale (money in the record's currency, percentages, dates) and child lists row by row
    (``RecordType.child_rows``: "2 × Premium support at €9,000.00", "Ann Lee (Decision maker)")."""

    def __init__(self, rtype: RecordType, custom_defs: list[CustomField], names: Names):
        self.rtype = rtype
        self.model = rtype.model
        self.custom = {d.key: d for d in custom_defs}
        self.names = names
        self.columns = {c.path: c for c in rtype.columns}
        money = next((c for c in rtype.columns if c.kind == "money" and c.currency), None)
        currency_col = rtype.columns_by_key.get(money.currency) if money is not None else None
        self.currency_path = currency_col.path if currency_col is not None else ""

    def _field(self, name: str) -> models.Field | None:
        try:
            mf = self.model._meta.get_field(name)
        except Exception:
            return None
        return mf if isinstance(mf, models.Field) else None

    def _link_target(self, mf: models.Field | None) -> str | None:
        if isinstance(mf, models.ForeignKey):
            if mf.related_model is get_user_model():
                return "user"
            return getattr(mf.related_model, "record_type_key", "") or "row"
        return None

    def collect(self, changes: dict[str, Any]) -> None:
        for name, pair in changes.items():
            if not isinstance(pair, list) or len(pair) != 2:
                continue
            if name == "custom":
                for side in pair:
                    for key, value in (side or {}).items():
                        if key in self.custom:
                            want_custom(self.custom[key], value, self.names)
                continue
            spec = self.rtype.child_rows.get(name)
            if spec is not None:
                shown = _shown_parts(spec)
                for side in pair:
                    for row in side if isinstance(side, list) else []:
                        for part, value in zip(spec.parts, row if isinstance(row, list) else [], strict=False):
                            if part.kind == "record" and part.name in shown:
                                self.names.want_record(part.link_type, value)
                continue
            target = self._link_target(self._field(name))
            for value in pair:
                if target == "user":
                    self.names.want_user(value)
                elif target == "row":
                    self.names.want_row(self._field(name).related_model, value)  # type: ignore[union-attr]
                elif target:
                    self.names.want_record(target, value)

    def label(self, name: str) -> str:
        mf = self._field(name)
        if mf is not None:
            return str(mf.verbose_name).capitalize()
        col = self.columns.get(name)
        if col is not None:
            return col.label
        return formatting.humanize_key(name)

    def _part(self, part: RowPart, value: Any, currency: str | None) -> str:
        if value in (None, ""):
            return ""
        if part.kind == "record":
            return self.names.record_shown(part.link_type, value).text
        if part.kind == "choice":
            return str(dict(part.choices).get(value, formatting.humanize_key(str(value))))
        if part.kind == "number":
            return formatting.number(value)
        if part.kind == "percent":
            return formatting.percent(value)
        if part.kind == "money":
            return formatting.money(value, currency)
        return str(value)

    def child_row(self, spec: ChildRows, row: Any, currency: str | None) -> str:
        """One child row in words: ``2 × Premium support (annual) at €9,000.00, tax 20%``."""
        if not isinstance(row, list | tuple):
            return str(row)
        raw = {p.name: v for p, v in zip(spec.parts, row, strict=False)}
        values = {p.name: self._part(p, raw.get(p.name), currency) for p in spec.parts}
        text = spec.wording.format_map(values)
        for wording, part in spec.extras:
            value = raw.get(part)
            try:
                blank = value in (None, "") or Decimal(str(value)) == 0
            except (InvalidOperation, ValueError):
                blank = False
            if not blank:
                text += wording.format_map(values)
        return text

    def shown(self, name: str, value: Any, currency: str | None = None) -> Shown:
        if value in (None, "", [], {}):
            return Shown("—", kind="empty")
        spec = self.rtype.child_rows.get(name)
        if spec is not None and spec.prices and isinstance(value, dict):
            lines = [formatting.money(amount, code) for code, amount in value.items()]
            return Shown(", ".join(lines), lines=lines)
        if spec is not None and isinstance(value, list):
            lines = [self.child_row(spec, row, currency) for row in value]
            return Shown("; ".join(lines), lines=lines)
        mf = self._field(name)
        target = self._link_target(mf)
        if target == "user":
            return self.names.user_shown(value)
        if target == "row":
            return self.names.row_shown(mf.related_model, value)  # type: ignore[union-attr]
        if target:
            return self.names.record_shown(target, value)
        if isinstance(value, bool):
            return Shown(formatting.yes_no(value))
        if isinstance(value, list):
            if name == "phones":
                return Shown(", ".join(format_phone(str(v)) for v in value))
            return Shown(", ".join(str(v) for v in value))
        if mf is not None and mf.choices:
            return Shown(str(dict(mf.flatchoices).get(value, formatting.humanize_key(str(value)))))
        if name == "phone":
            return Shown(format_phone(str(value)))
        col = self.columns.get(name)
        if col is not None and col.kind in ("money", "percent", "number", "date", "datetime"):
            return cell(col, value, row={col.currency: currency} if col.kind == "money" else None)
        if mf is not None:
            return typed(mf, value)
        return Shown(str(value))

    def rows(self, changes: dict[str, Any], record: Any = None) -> list[dict[str, Any]]:
        """Before → after per changed field; ``record`` (as it is now) gives money its currency when the
        change itself does not say."""
        out = []
        currencies: list[str | None] = [None, None]
        if self.currency_path:
            pair = changes.get(self.currency_path)
            if isinstance(pair, list) and len(pair) == 2:
                currencies = [pair[0] or pair[1], pair[1] or pair[0]]
            elif record is not None:
                now = getattr(record, self.currency_path, None)
                currencies = [now, now]
        for name, pair in changes.items():
            if not isinstance(pair, list) or len(pair) != 2:
                continue
            before, after = pair
            if name == "custom":
                before, after = before or {}, after or {}
                for key in dict.fromkeys([*before, *after]):
                    if before.get(key) == after.get(key):
                        continue
                    d = self.custom.get(key)
                    if d is None:
                        out.append(
                            {
                                "label": key,
                                "before": Shown(str(before.get(key) or "—")),
                                "after": Shown(str(after.get(key) or "—")),
                            }
                        )
                        continue
                    out.append(
                        {
                            "label": d.label,
                            "before": custom_shown(d, before.get(key), self.names) or Shown("—"),
                            "after": custom_shown(d, after.get(key), self.names) or Shown("—"),
                        }
                    )
                continue
            out.append(
                {
                    "label": self.label(name),
                    "before": self.shown(name, before, currencies[0]),
                    "after": self.shown(name, after, currencies[1]),
                }
            )
        for row in out:
            for side in ("before", "after"):
                if not row[side].text:
                    row[side] = Shown("—", kind="empty")
        return out
