"""Create and edit forms generated from a record type's write serializer and its custom fields.

A form is a list of :class:`FormField` specs. Values travel in "form representation" (strings,
booleans, lists of row dicts) between the POST, the template and :func:`to_data`, which builds the
data handed to the serializer. Serializer errors are mapped back to the field they name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import models
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from rapport.api.errors import flatten
from rapport.core import customfields, registry
from rapport.core.models import CustomField, Record
from rapport.core.normalize import format_phone
from rapport.core.registry import RecordType
from rapport.core.serializers import RecordLinkField, TagsField

SKIPPED = {"custom"}
LONG_TEXT = 1000


@dataclass
class RowPart:
    """One input of a repeated row (e.g. a phone's number or kind)."""

    name: str
    label: str
    widget: str  # text, email, tel, select
    choices: list[tuple[str, str]] = field(default_factory=list)
    default: str = ""


@dataclass
class FormField:
    name: str  # the input's name
    label: str
    widget: str  # text, email, tel, url, textarea, number, date, datetime, checkbox, select, multi, money,
    # user, record (one link: a picker), links (many links with their other parts: a picker of chips),
    # tags, rows
    required: bool = False
    help: str = ""
    max_length: int | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: Any = ""
    display: str = ""  # label of the linked record or user for record and user widgets
    link_type: str = ""  # record, links: the type key(s) the picker searches ("users" for user widgets)
    link_part: str = ""  # links: the row part holding the linked id
    type_part: str = ""  # links to records of any type (an activity's): the row part holding the type key
    chip_labels: list[tuple[str, str]] = field(default_factory=list)  # links: (name, type label) per row
    errors: list[str] = field(default_factory=list)
    parts: list[RowPart] = field(default_factory=list)  # rows: first part is the main value
    row_primary: bool = False  # rows: the entries have a "primary" flag (emails, phones)
    row_errors: dict[int, list[str]] = field(default_factory=dict)
    custom: CustomField | None = None
    source: str = ""  # serializer field name ("custom" for custom fields)
    posted: bool = True  # False when a POST left the input out entirely (then the field is not sent)
    placeholder: str = ""
    attrs: dict[str, str] = field(default_factory=dict)  # data-* attributes of the input (a type's form_setup)

    @property
    def chips(self) -> list[dict[str, Any]]:
        """A links widget's chosen records, each with its other parts (a contact's role) and errors."""
        labels = self.chip_labels
        return [
            {
                "index": i,
                "values": row,
                "label": labels[i][0] if i < len(labels) else "",
                "type_label": labels[i][1] if i < len(labels) else "",
                "errors": self.row_errors.get(i, []),
            }
            for i, row in enumerate(self.value)
        ]

    @property
    def other_parts(self) -> list[RowPart]:
        return [p for p in self.parts if p.name not in (self.link_part, self.type_part)]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Rows with their index and errors, for the template; at least one, so "add another" can copy it."""
        values = list(self.value or []) or [_blank_row(self, primary=True)]
        return [{"index": i, "values": row, "errors": self.row_errors.get(i, [])} for i, row in enumerate(values)]


def user_label(value: Any) -> str:
    """The name a user picker shows for the user id it holds ("" for none)."""
    from .display import Names

    names = Names(None)
    names.want_user(value)
    names.resolve()
    return names.user_shown(value).text


def user_choices() -> list[tuple[str, str]]:
    users = get_user_model().objects.filter(is_active=True).only("id", "first_name", "last_name", "username")
    return [(str(u.pk), u.display_name) for u in users]


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        mf = model._meta.get_field(name)
    except Exception:
        return None
    return mf if isinstance(mf, models.Field) else None


def _input_widget(rtype: RecordType, name: str) -> str:
    for col in rtype.columns:
        if col.path == name and col.kind in ("email", "url"):
            return col.kind
        if col.path == name and col.kind == "phone":
            return "tel"
    return "text"


def build_fields(rtype: RecordType, serializer: serializers.Serializer) -> list[FormField]:
    """Form fields of the type's writable serializer fields, then its custom fields."""
    out: list[FormField] = []
    model = rtype.model
    for name, f in serializer.fields.items():
        if f.read_only or name in SKIPPED or name in rtype.form_exclude:
            continue
        label = str(f.label or name.replace("_", " ").capitalize())
        spec = FormField(name=name, label=label, widget="text", required=f.required, source=name)
        spec.help = str(f.help_text or "")
        if isinstance(f, TagsField) or name == "tags":
            spec.widget = "tags"
            spec.help = spec.help or "Separate tags with commas."
        elif isinstance(f, serializers.ListSerializer):
            spec.widget = "rows"
            child: Any = f.child
            _link_rows(spec, child)
            for child_name, child_field in child.fields.items():
                if child_name == "primary":
                    spec.row_primary = True
                    continue
                # Only choice fields list their options (a link field's would be every record).
                is_choice = isinstance(child_field, serializers.ChoiceField)
                widget = "select" if is_choice else _row_widget(child_name)
                choices = [(str(k), str(v)) for k, v in child_field.choices.items()] if is_choice else []
                default = child_field.default
                part = RowPart(child_name, str(child_field.label or child_name), widget, choices)
                part.default = "" if default is serializers.empty or callable(default) else str(default)
                spec.parts.append(part)
        elif isinstance(f, serializers.PrimaryKeyRelatedField):
            queryset: Any = cast(Any, f).queryset
            target = queryset.model if queryset is not None else None
            if target is get_user_model():
                spec.widget = "user"
                spec.link_type = USERS
            elif target is not None and getattr(target, "record_type_key", None):
                spec.widget = "record"
                spec.link_type = registry.for_model(target).key
            else:
                # A settings-like table (pipeline, stage, lost reason): a select of its rows.
                spec.widget = "select"
                rows = [(str(o.pk), getattr(o, "form_label", str(o))) for o in queryset.all()[:500]]
                spec.choices = rows if f.required else [("", "—"), *rows]
        elif isinstance(f, serializers.ChoiceField):
            spec.widget = "select"
            spec.choices = [(str(k), str(v)) for k, v in f.choices.items()]
            if f.allow_blank or not f.required:
                if "" not in dict(spec.choices):
                    spec.choices = [("", "—"), *spec.choices]
        elif isinstance(f, serializers.BooleanField):
            spec.widget = "checkbox"
        elif isinstance(f, (serializers.IntegerField, serializers.DecimalField, serializers.FloatField)):
            spec.widget = "number"
        elif isinstance(f, serializers.DateTimeField):
            spec.widget = "datetime"
        elif isinstance(f, serializers.DateField):
            spec.widget = "date"
        elif isinstance(f, serializers.CharField):
            spec.max_length = f.max_length
            if f.max_length is None or f.max_length > LONG_TEXT:
                spec.widget = "textarea"
            else:
                spec.widget = _input_widget(rtype, name)
        mf = _model_field(model, name)
        if mf is not None and mf.help_text and not spec.help:
            spec.help = str(mf.help_text)
        out.append(spec)
    for d in customfields.definitions(rtype.key):
        out.append(custom_field_spec(d))
    return out


USERS = "users"  # the picker's type for user fields (web.autocomplete)


def _link_rows(spec: FormField, child: Any) -> None:
    """Rows that stand for links (a deal's contacts with their role, an activity's records) are
    picked by name as chips: one part links to a record type, or a type part and an id part link
    to a record of any type (``any_record_link`` on the entry serializer)."""
    for child_name, child_field in child.fields.items():
        if isinstance(child_field, RecordLinkField):
            spec.widget, spec.link_part = "links", child_name
            spec.link_type = registry.for_model(child_field.model).key
            return
    if getattr(child, "any_record_link", False):
        spec.widget, spec.type_part, spec.link_part = "links", "type", "id"
        spec.link_type = ",".join(k for k in registry.keys() if k != getattr(child, "own_type", ""))


def _row_widget(name: str) -> str:
    if "email" in name:
        return "email"
    if "number" in name or "phone" in name:
        return "tel"
    return "text"


CUSTOM_WIDGETS = {
    "text": "text",
    "long_text": "textarea",
    "number": "number",
    "money": "money",
    "date": "date",
    "datetime": "datetime",
    "boolean": "checkbox",
    "choice": "select",
    "multi_choice": "multi",
    "email": "email",
    "phone": "tel",
    "url": "url",
    "user": "user",
    "reference": "record",
}


def custom_field_spec(d: CustomField) -> FormField:
    spec = FormField(
        name=f"cf_{d.key}",
        label=d.label,
        widget=CUSTOM_WIDGETS.get(d.field_type, "text"),
        required=d.required,
        help=d.help_text,
        custom=d,
        source="custom",
    )
    if d.field_type in ("choice", "multi_choice"):
        spec.choices = [(c, c) for c in d.choices]
        if d.field_type == "choice":
            spec.choices = [("", "—"), *spec.choices]
    elif d.field_type == "user":
        spec.link_type = USERS
    elif d.field_type == "reference":
        spec.link_type = d.reference_type
    elif d.field_type == "text":
        spec.max_length = customfields.TEXT_MAX
    elif d.field_type == "long_text":
        spec.max_length = customfields.LONG_TEXT_MAX
    return spec


# --- values -----------------------------------------------------------------------------------
def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _attr(obj: Any, name: str) -> Any:
    """A field's form value: the id for a foreign key, else the value."""
    field = _model_field(type(obj), name)
    if isinstance(field, models.ForeignKey):
        return getattr(obj, field.attname)
    return getattr(obj, name, "")


def fill_initial(specs: list[FormField], rtype: RecordType, instance: Record | None, user: Any) -> None:
    """Values of a new form (model defaults, the user as owner) or of the record being edited."""
    model = rtype.model
    for spec in specs:
        if spec.custom is not None:
            raw = instance.custom.get(spec.custom.key) if instance is not None else None
            spec.value = custom_form_value(spec.custom, raw)
            continue
        name = spec.name
        if spec.widget in ("rows", "links"):
            rows: list[dict[str, Any]] = []
            if instance is not None:
                for obj in instance.related_items(name):
                    row: dict[str, Any] = {p.name: _part_value(p, _attr(obj, p.name)) for p in spec.parts}
                    if spec.type_part:  # an activity's link: (type key, record id)
                        row[spec.type_part], row[spec.link_part] = obj.type_key, str(obj.record_id)
                    row["primary"] = bool(getattr(obj, "is_primary", False))
                    rows.append(row)
            spec.value = rows or ([] if spec.widget == "links" else [_blank_row(spec, primary=True)])
            continue
        if instance is None:
            if name == "owner":
                spec.value = str(user.pk)
            elif spec.widget == "tags":
                spec.value = ""
            else:
                mf = _model_field(model, name)
                default = mf.get_default() if mf is not None and mf.has_default() else None
                spec.value = False if spec.widget == "checkbox" and default is None else _str(default)
            continue
        if spec.widget in ("record", "user"):
            spec.value = _str(getattr(instance, f"{name}_id", None))  # its name: resolve_labels()
        elif spec.widget == "tags":
            spec.value = ", ".join(getattr(instance, name) or [])
        elif spec.widget == "checkbox":
            spec.value = bool(getattr(instance, name))
        else:
            spec.value = _str(_attr(instance, name))


def _part_value(part: RowPart, value: Any) -> str:
    if part.widget == "tel" and value:
        return format_phone(str(value))
    return _str(value)


def _blank_row(spec: FormField, *, primary: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {p.name: (p.choices[0][0] if p.widget == "select" and p.choices else "") for p in spec.parts}
    row["primary"] = primary
    return row


def custom_form_value(d: CustomField, raw: Any) -> Any:
    t = d.field_type
    if t == "boolean":
        return bool(raw)
    if t == "multi_choice":
        return list(raw or [])
    if t == "money":
        if isinstance(raw, dict):
            return {"amount": str(raw.get("amount", "")), "currency": str(raw.get("currency", ""))}
        return {"amount": "", "currency": ""}
    if t == "datetime" and raw:
        parsed = parse_datetime(str(raw))
        return _str(parsed) if parsed else str(raw)
    return _str(raw)


def record_label(type_key: str, record_id: Any, user: Any) -> str:
    """Title of a linked record the user may see; ``#id`` otherwise (no leak)."""
    rtype = registry.find(type_key)
    try:
        pk = int(record_id)
    except (TypeError, ValueError):
        return ""
    if rtype is None:
        return f"#{pk}"
    obj = rtype.model.objects.visible_to(user).filter(pk=pk).first()
    return str(obj) if obj is not None else f"#{pk}"


def resolve_labels(specs: list[FormField], user: Any) -> None:
    """The names the pickers show for the values they hold: linked records by the visibility rule
    (``#id`` to a viewer who may not see the record), users by name; one query per linked type."""
    from .display import Names

    names = Names(user)
    for spec in specs:
        if spec.widget == "user":
            names.want_user(spec.value)
        elif spec.widget == "record":
            names.want_record(spec.link_type, spec.value)
        elif spec.widget == "links":
            for row in spec.value or []:
                names.want_record(row.get(spec.type_part) or spec.link_type, row.get(spec.link_part))
    names.resolve()
    for spec in specs:
        if spec.widget == "user":
            spec.display = names.user_shown(spec.value).text
        elif spec.widget == "record":
            spec.display = names.record_shown(spec.link_type, spec.value).text
        elif spec.widget == "links":
            spec.chip_labels = []
            for row in spec.value or []:
                type_key = row.get(spec.type_part) or spec.link_type
                rtype = registry.find(type_key) if spec.type_part else None
                shown = names.record_shown(type_key, row.get(spec.link_part))
                spec.chip_labels.append((shown.text, rtype.label if rtype else ""))


def fill_posted(specs: list[FormField], post: QueryDict) -> None:
    """Values as the user typed them, so nothing is lost when the form comes back."""
    for spec in specs:
        name = spec.name
        if spec.widget in ("rows", "links"):
            mains = post.getlist(name)
            main = spec.parts[0].name
            others = {p.name: post.getlist(f"{name}_{p.name}") for p in spec.parts[1:]}
            primary = post.get(f"{name}_primary", "")
            rows = []
            for i, value in enumerate(mains):
                if not value.strip():
                    continue
                row: dict[str, Any] = {main: value.strip()}
                for part, values in others.items():
                    row[part] = values[i] if i < len(values) else ""
                row["primary"] = primary == str(i)
                rows.append(row)
            if rows and not any(r["primary"] for r in rows):
                rows[0]["primary"] = True
            spec.value = rows
        elif spec.widget == "checkbox":
            spec.value = name in post
        elif spec.widget == "multi":
            spec.value = post.getlist(name)
        elif spec.widget == "money":
            spec.value = {"amount": post.get(name, "").strip(), "currency": post.get(f"{name}__currency", "").strip()}
        else:
            spec.posted = name in post
            spec.value = post.get(name, "")


def to_data(specs: list[FormField], instance: Record | None) -> dict[str, Any]:
    """Serializer input built from the specs' values."""
    data: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for spec in specs:
        value = spec.value
        if spec.custom is not None:
            d = spec.custom
            if d.field_type == "money":
                amount = value.get("amount", "")
                value = {"amount": amount, "currency": value.get("currency", "")} if amount else None
            elif d.field_type == "boolean":
                existing = instance.custom.get(d.key) if instance is not None else None
                value = True if value else (False if (d.required or existing is not None) else None)
            elif value in ("", []):
                value = None
            custom[d.key] = value
            continue
        if not spec.posted:
            continue
        if spec.widget in ("rows", "links"):
            # Leave out empty parts (a phone without a kind) so the serializer's defaults apply.
            # Only what the entries know ("primary" is the form's own radio otherwise): the write
            # serializer refuses unknown keys.
            known = {p.name for p in spec.parts} | ({"primary"} if spec.row_primary else set())
            data[spec.name] = [{k: v for k, v in row.items() if v != "" and k in known} for row in value]
        elif spec.widget in ("record", "user"):
            data[spec.name] = value or None
        elif spec.widget in ("number", "date", "datetime"):
            data[spec.name] = value if value != "" else None
        else:
            data[spec.name] = value
    if any(s.custom is not None for s in specs):
        data["custom"] = custom
    return data


# --- errors -----------------------------------------------------------------------------------
_ROW_RE_CHARS = "["


def apply_errors(specs: list[FormField], detail: Any) -> list[str]:
    """Attach serializer (or service) errors to the fields they name; return the rest."""
    flat = flatten(detail)
    by_name = {s.name: s for s in specs}
    leftover: list[str] = []
    for key, messages in flat.items():
        target: FormField | None = None
        if key.startswith("custom."):
            target = by_name.get(f"cf_{key[len('custom.') :]}")
        elif key in by_name:
            target = by_name[key]
        elif _ROW_RE_CHARS in key:
            base, _, rest = key.partition("[")
            target = by_name.get(base)
            if target is not None and target.widget in ("rows", "links"):
                index_text, _, part_name = rest.partition("]")
                if index_text.isdigit():
                    part = next((p for p in target.parts if p.name == part_name.lstrip(".")), None)
                    if part is None or part.name in (target.link_part, target.type_part):
                        linked = registry.find(target.link_type) if target.type_part == "" else None
                        label, widget = (linked.label.lower() if linked else "record"), "record"
                    else:
                        label, widget = part.label, part.widget
                    found = target.row_errors.setdefault(int(index_text), [])
                    worded = dict.fromkeys(human_error(m, label, widget) for m in messages)
                    found.extend(m for m in worded if m not in found)
                    continue
        if target is None:
            label = key.replace("_", " ").capitalize() if key and key != "custom" else ""
            leftover.extend(f"{label}: {human_error(m, label)}" if label else m for m in messages)
        else:
            target.errors.extend(dict.fromkeys(human_error(m, target.label, target.widget) for m in messages))
    return leftover


def human_error(message: str, label: str, widget: str = "") -> str:
    """DRF's generic messages ("This field may not be null.") in words that name the field."""
    text = str(message)
    noun = label[:1].lower() + label[1:] if label else "value"
    noun = ("an " if noun[:1] in "aeiou" else "a ") + noun
    chooses = widget in ("select", "user", "record", "multi", "rows")
    if text in ("This field may not be null.", "This field is required.", "This field may not be blank."):
        return f"Choose {noun}." if chooses else f"{label or 'This field'} is required."
    if text.startswith("Incorrect type. Expected pk value") or text.startswith("Invalid pk "):
        return f"Choose {noun} from the list."
    if text == "A valid integer is required.":
        return f"{label or 'This field'} must be a whole number."
    if text == "A valid number is required.":
        return f"{label or 'This field'} must be a number."
    return text


def field_labels(specs: list[FormField]) -> dict[str, str]:
    return {s.name: s.label for s in specs}
