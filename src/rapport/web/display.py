"""How values look on pages: list cells, detail fields and history diffs.

Linked users and records are resolved to names in batch (one query per linked type), never per row.
Records the viewer may not see are shown as ``#id`` only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rapport.core import registry
from rapport.core.inputs import is_id
from rapport.core.models import CustomField, Record
from rapport.core.money import format_amount
from rapport.core.normalize import format_phone
from rapport.core.registry import RecordType
from rapport.core.visibility import link_label


@dataclass
class Shown:
    """A value ready for a template: text, an optional link and a kind (for styling)."""

    text: str
    url: str = ""
    kind: str = "text"
    items: list[str] | None = None  # tags and multi-choice values, shown as badges

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


def local_datetime(value: Any) -> str:
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return value
        value = parsed
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


# --- list cells -------------------------------------------------------------------------------
def cell(col: Any, value: Any, names: Names | None = None, row: Any = None) -> Shown:
    """A list cell from a projected row value (see core.listing.project_row); ``row`` gives a money
    column its currency."""
    if value in (None, "", []):
        return EMPTY
    kind = col.kind
    if kind == "money" and col.currency and row is not None and row.get(col.currency):
        return Shown(format_amount(value, row.get(col.currency)), kind="money")
    if kind in ("user", "record", "fk"):
        if value.get("name") is None:  # a record the viewer may not see: its id only
            return Shown(f"#{value.get('id')}", kind=kind)
        name = value.get("name") or f"#{value.get('id')}"
        url = f"/{col.link_type}/{value['id']}/" if kind == "record" else ""
        return Shown(name, url=url, kind=kind)
    if kind == "choice":
        return Shown(dict(col.choices).get(value, str(value)), kind="choice")
    if kind == "phone":
        return Shown(format_phone(value), kind="phone")
    if kind == "email":
        return Shown(value, url=f"mailto:{value}", kind="email")
    if kind == "url":
        return Shown(value, url=value if str(value).startswith(("http://", "https://")) else "", kind="url")
    if kind == "tags":
        return Shown(", ".join(value), items=list(value), kind="tags")
    if kind in ("datetime", "date"):
        return Shown(local_datetime(value) if kind == "datetime" else str(value), kind=kind)
    return Shown(str(value))


def custom_shown(d: CustomField, value: Any, names: Names) -> Shown:
    if value in (None, "", []):
        return EMPTY
    t = d.field_type
    if t == "boolean":
        return Shown("Yes" if value else "No")
    if t == "multi_choice":
        return Shown(", ".join(value), items=list(value), kind="tags")
    if t == "money" and isinstance(value, dict):
        return Shown(f"{value.get('amount')} {value.get('currency')}", kind="money")
    if t == "user":
        return names.user_shown(value)
    if t == "reference":
        return names.record_shown(d.reference_type, value)
    if t == "datetime":
        return Shown(local_datetime(value))
    if t == "phone":
        return Shown(format_phone(str(value)), kind="phone")
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
    return Shown(str(value), kind="long" if isinstance(mf, models.TextField) else "text")


# --- history ----------------------------------------------------------------------------------
class HistoryRenderer:
    """Per-field before → after of events, with ids shown as names (resolved in batch)."""

    def __init__(self, rtype: RecordType, custom_defs: list[CustomField], names: Names):
        self.rtype = rtype
        self.model = rtype.model
        self.custom = {d.key: d for d in custom_defs}
        self.names = names

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
        return name.replace("_", " ").capitalize()

    def shown(self, name: str, value: Any) -> Shown:
        if value in (None, "", [], {}):
            return Shown("—", kind="empty")
        mf = self._field(name)
        target = self._link_target(mf)
        if target == "user":
            return self.names.user_shown(value)
        if target == "row":
            return self.names.row_shown(mf.related_model, value)  # type: ignore[union-attr]
        if target:
            return self.names.record_shown(target, value)
        if isinstance(value, bool):
            return Shown("Yes" if value else "No")
        if isinstance(value, list):
            if name == "phones":
                return Shown(", ".join(format_phone(str(v)) for v in value))
            return Shown(", ".join(str(v) for v in value))
        if mf is not None and mf.choices:
            return Shown(str(dict(mf.flatchoices).get(value, value)))
        if name == "phone":
            return Shown(format_phone(str(value)))
        return Shown(str(value))

    def rows(self, changes: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
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
                {"label": self.label(name), "before": self.shown(name, before), "after": self.shown(name, after)}
            )
        for row in out:
            for side in ("before", "after"):
                if not row[side].text:
                    row[side] = Shown("—", kind="empty")
        return out
