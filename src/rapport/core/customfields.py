"""Custom fields: one validator for every write path, and the per-type knowledge of each field type
(form input, filter lookups, display)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from . import inputs
from .models import CustomField

TEXT_MAX = 255
LONG_TEXT_MAX = 10_000
# Numbers every database's JSON and every JSON decoder (doubles) read back exactly.
NUMBER_LIMIT = Decimal("1e15")
NUMBER_DECIMALS = 6
TEXT_TYPES = {"text", "long_text", "email", "phone", "url", "choice"}


_memo = threading.local()


@contextmanager
def memoized() -> Iterator[None]:
    """Read each type's definitions at most once inside (one request or job): validation, the
    search entry and the answer of a write all need them. Any change to a definition clears it."""
    previous = getattr(_memo, "defs", None)
    if previous is not None:  # already inside one: share it
        yield
        return
    _memo.defs = {}
    try:
        yield
    finally:
        _memo.defs = previous


def forget(**kwargs: Any) -> None:
    cache = getattr(_memo, "defs", None)
    if cache:
        cache.clear()


def _read_definitions(type_key: str) -> list[CustomField]:
    from .children import rows_for

    # Its SQL compiled once: a create reads them on every request (~1 ms of CPU compiling the query).
    return rows_for(
        "customfield-definitions", CustomField, lambda key: CustomField.objects.filter(record_type=key), type_key
    )


def definitions(type_key: str) -> list[CustomField]:
    cache = getattr(_memo, "defs", None)
    if cache is None:
        return _read_definitions(type_key)
    if type_key not in cache:
        cache[type_key] = _read_definitions(type_key)
    return list(cache[type_key])


post_save.connect(forget, sender=CustomField, dispatch_uid="customfields-forget-saved")
post_delete.connect(forget, sender=CustomField, dispatch_uid="customfields-forget-deleted")


class FieldError(ValueError):
    pass


_FILTER = object()


def clean_value(field: CustomField, value: Any, *, actor: Any = _FILTER, existing: Any = None) -> Any:
    """Return the JSON value stored for ``value``, or raise FieldError saying what is wrong.

    A reference must point to a record ``actor`` may view (or be the value ``existing`` kept);
    filters leave ``actor`` out and only the form of the id is checked (their results are
    visibility-filtered anyway, so a filter tells no id from another)."""
    from .normalize import normalize_email, normalize_phone, normalize_url

    if value is None or value == "" or value == []:
        if field.required:
            raise FieldError("This field is required.")
        return None
    for text in value if isinstance(value, list) else value.values() if isinstance(value, dict) else [value]:
        if isinstance(text, str) and inputs.bad_text(text):
            raise FieldError(inputs.bad_text(text))
    t = field.field_type
    if t in ("text", "long_text"):
        if not isinstance(value, str):
            raise FieldError("Enter text.")
        limit = TEXT_MAX if t == "text" else LONG_TEXT_MAX
        if len(value) > limit:
            raise FieldError(f"Use at most {limit} characters (this has {len(value)}).")
        return value
    if t == "number":
        if isinstance(value, bool):
            raise FieldError("Enter a number.")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise FieldError("Enter a number.")
        if not number.is_finite():
            raise FieldError("Enter a finite number.")
        if abs(number) >= NUMBER_LIMIT:
            raise FieldError("Enter a number between -999,999,999,999,999 and 999,999,999,999,999.")
        if number != number.quantize(Decimal(1).scaleb(-NUMBER_DECIMALS)):
            raise FieldError(f"Use at most {NUMBER_DECIMALS} decimal places.")
        return float(number) if number != number.to_integral_value() else int(number)
    if t == "money":
        if isinstance(value, dict):
            amount, currency = value.get("amount"), value.get("currency")
        else:
            amount, currency = value, None
        try:
            dec = Decimal(str(amount).strip())
        except InvalidOperation:
            raise FieldError("Enter an amount such as 1250.00.")
        if not dec.is_finite() or abs(dec) >= Decimal("1e15"):
            raise FieldError("Enter an amount such as 1250.00.")
        from django.conf import settings

        currency = (currency or settings.BASE_CURRENCY).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise FieldError("Use a three-letter ISO 4217 currency code.")
        from . import money

        problem = money.precision_error(dec, currency)
        if problem:
            raise FieldError(problem)
        return {"amount": str(dec.quantize(money.quantum(currency))), "currency": currency}
    if t == "date":
        try:
            return inputs.parse_day(value).isoformat()
        except ValueError as exc:
            raise FieldError(str(exc))
    if t == "datetime":
        try:
            parsed_dt = inputs.parse_moment(value)
        except ValueError as exc:
            raise FieldError(str(exc))
        if timezone.is_naive(parsed_dt):
            parsed_dt = timezone.make_aware(parsed_dt)
        return parsed_dt.astimezone(dt.UTC).isoformat()
    if t == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise FieldError("Enter yes or no.")
    if t == "choice":
        if value not in field.choices:
            raise FieldError(f"{value!r} is not one of the choices: {', '.join(field.choices)}.")
        return value
    if t == "multi_choice":
        items = value if isinstance(value, list) else [value]
        wrong = [v for v in items if v not in field.choices]
        if wrong:
            raise FieldError(f"{wrong[0]!r} is not one of the choices: {', '.join(field.choices)}.")
        return [c for c in field.choices if c in items]
    if t == "email":
        try:
            return normalize_email(str(value))
        except ValueError as exc:
            raise FieldError(str(exc))
    if t == "phone":
        try:
            return normalize_phone(str(value))
        except ValueError as exc:
            raise FieldError(str(exc))
    if t == "url":
        try:
            return normalize_url(str(value))
        except ValueError as exc:
            raise FieldError(str(exc))
    if t == "user":
        from django.contrib.auth import get_user_model

        try:
            user_id = int(value)
        except (TypeError, ValueError):
            raise FieldError("Give a user id.")
        if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
            raise FieldError(f"No active user has id {user_id}.")
        return user_id
    if t == "reference":
        from . import registry

        try:
            ref_id = int(value)
        except (TypeError, ValueError):
            raise FieldError("Give a record id.")
        from .serializers import no_such_record
        from .visibility import linkable

        rtype = registry.find(field.reference_type)
        if rtype is None or not 1 <= ref_id <= 2**63 - 1:
            raise FieldError(no_such_record(rtype.label.lower() if rtype else "record", value))
        if actor is _FILTER or ref_id == existing:
            return ref_id
        if not linkable(rtype.model, actor).filter(pk=ref_id).exists():
            raise FieldError(no_such_record(rtype.label.lower(), ref_id))
        return ref_id
    raise FieldError(f"Unknown field type {t}.")


def validate(type_key: str, values: Any, *, actor: Any, existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """Clean a dict of custom values for a write by ``actor``; unknown keys and bad values raise
    ``ValueError`` carrying ``errors``: ``{key: message}``. Keys not given keep ``existing``."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        err = CustomFieldErrors({"": "Send custom fields as an object of key: value."})
        raise err
    defs = {d.key: d for d in definitions(type_key)}
    errors: dict[str, str] = {}
    result = {k: v for k, v in (existing or {}).items() if k in defs}
    for key, raw in values.items():
        if key not in defs:
            errors[key] = f"There is no custom field {key!r} on {type_key}."
            continue
        try:
            cleaned = clean_value(defs[key], raw, actor=actor, existing=(existing or {}).get(key))
        except FieldError as exc:
            errors[key] = str(exc)
            continue
        if cleaned is None:
            result.pop(key, None)
        else:
            result[key] = cleaned
    for key, d in defs.items():
        if d.required and key not in result and key not in errors:
            errors[key] = "This field is required."
    if errors:
        raise CustomFieldErrors(errors)
    if existing is None:
        return result
    changes = {key: result.get(key) for key in values}
    return CustomPatch(result, changes=changes, known=frozenset(defs))


class CustomPatch(dict[str, Any]):
    """The custom values of an update: the merged result as validated against the record as read
    (a plain dict to every reader), and the keys this write sets or clears. The write service
    applies the keys to the row as read under its lock (``apply``), so two clients writing
    different keys of one record at once both keep their value."""

    def __init__(self, merged: dict[str, Any], *, changes: dict[str, Any], known: frozenset[str]):
        super().__init__(merged)
        self.changes = changes  # {key: cleaned value, or None to clear}
        self.known = known  # keys with a definition: values of deleted definitions are dropped

    def apply(self, current: dict[str, Any] | None) -> dict[str, Any]:
        result = {k: v for k, v in (current or {}).items() if k in self.known}
        for key, value in self.changes.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = value
        return result


class CustomFieldErrors(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def filter_q(field: CustomField, op: str, raw: str) -> Q:
    """A Q for the ``cf_<key>[__op]`` list and API filter; raises FieldError on a bad value. ``not``: the
    records whose value is not ``raw`` (those without a value included); the list ANDs several.

    Exact and range filters read the value through :class:`JsonValue`, which the per-field
    expression indexes match; on PostgreSQL exact and multi-choice filters use ``@>``, which
    the GIN index on ``custom`` serves.
    """
    from django.db import connection
    from django.db.models import lookups

    from .jsonq import JsonValue, json_array_contains

    path = f"custom__{field.key}"
    t = field.field_type
    postgres = connection.vendor == "postgresql"
    if op in ("gte", "lte"):
        if t not in ("number", "date", "datetime", "money"):
            raise FieldError(f"{op} works on number, money and date fields only.")
        value = clean_value(field, raw)
        if t == "money":
            return _money_range(field.key, op, Decimal(value["amount"]))
        lookup = lookups.GreaterThanOrEqual if op == "gte" else lookups.LessThanOrEqual
        if postgres:
            return Q(**{f"{path}__{op}": value})
        return Q(lookup(JsonValue("custom", field.key), value))
    if op == "contains":
        if t not in TEXT_TYPES:
            raise FieldError("contains works on text fields only.")
        return Q(**{f"{path}__icontains": raw})
    if op == "isnull":
        return Q(**{f"{path}__isnull": raw.lower() in ("1", "true", "yes")})
    if op == "not":  # not this value; a record without a value holds none (explicit: SQL's NOT NULL is NULL)
        return ~filter_q(field, "", raw) | Q(**{f"{path}__isnull": True})
    if op:
        raise FieldError(f"Unknown operator {op!r}; use gte, lte, contains, isnull or not.")
    value = clean_value(field, raw) if t != "user" else _filter_user_id(raw)
    if value is None:
        return Q(**{f"{path}__isnull": True})
    if t == "multi_choice":
        if postgres:
            return Q(custom__contains={field.key: [value[0]]})
        return json_array_contains(path, value[0])
    if t == "money":
        return _money_range(field.key, "gte", Decimal(value["amount"])) & _money_range(
            field.key, "lte", Decimal(value["amount"])
        )
    if postgres:
        return Q(custom__contains={field.key: value})
    return Q(lookups.Exact(JsonValue("custom", field.key), value))


def _filter_user_id(raw: str) -> Any:
    """A user id to filter by: its form only, like a reference's (no query per value: a report's "Others"
    may exclude hundreds; a former user's id still selects their records)."""
    try:
        user_id = int(raw)
    except ValueError:
        raise FieldError("Give a user id.")
    if not 1 <= user_id <= 2**63 - 1:
        raise FieldError("Give a user id.")
    return user_id


def _money_range(key: str, op: str, amount: Decimal) -> Q:
    from django.db.models import DecimalField, lookups
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    expr = Cast(KeyTextTransform("amount", f"custom__{key}"), DecimalField(max_digits=20, decimal_places=2))
    lookup = lookups.GreaterThanOrEqual if op == "gte" else lookups.LessThanOrEqual
    return Q(lookup(expr, amount))


def sync_indexes(type_key: str) -> None:
    """Create an expression index per custom field of a type and drop those of removed fields.

    Called when a definition is saved or deleted; the index names start with ``cf_``.
    """
    from django.db import connection

    from . import registry
    from .jsonq import index_expression

    rtype = registry.find(type_key)
    if rtype is None:
        return
    table = rtype.model._meta.db_table
    wanted = {
        f"cf_{table}_{d.key}"[:63]: d.key
        for d in definitions(type_key)
        if d.field_type not in ("long_text", "multi_choice", "money")
    }
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table])
        else:
            cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        existing = {row[0] for row in cur.fetchall() if row[0].startswith("cf_")}
        qn = connection.ops.quote_name
        if connection.vendor == "postgresql":
            # DDL may not run while deferred FK checks of this transaction are pending.
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name in existing - set(wanted):
            cur.execute(f"DROP INDEX IF EXISTS {qn(name)}")
        for name, key in wanted.items():
            if name not in existing:
                cur.execute(
                    f"CREATE INDEX IF NOT EXISTS {qn(name)} ON {qn(table)} "
                    f"({index_expression(connection.vendor, key)}) WHERE deleted_at IS NULL"
                )
        if connection.vendor == "postgresql":
            cur.execute("SET CONSTRAINTS ALL DEFERRED")


def display(field: CustomField, value: Any) -> str:
    if value is None or value == "":
        return ""
    t = field.field_type
    if t == "boolean":
        return "Yes" if value else "No"
    if t == "multi_choice":
        return ", ".join(value)
    if t == "money":
        return f"{value['amount']} {value['currency']}"
    if t == "user":
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(pk=value).first()
        return user.display_name if user else f"#{value}"
    return str(value)


# --- definitions: the one write path of the settings page's API ---------------------------------------
DEFINITION_FIELDS = (
    "label",
    "field_type",
    "required",
    "choices",
    "reference_type",
    "help_text",
    "position",
    "searchable",
    "is_identifier",
)


def _check_definition(field: CustomField) -> None:
    """The rules the settings form also enforces; raises ValidationError naming the field."""
    from django.core.exceptions import ValidationError

    from . import registry

    errors: dict[str, str] = {}
    if registry.find(field.record_type) is None:
        errors["record_type"] = f"Unknown record type; one of: {', '.join(registry.keys())}."
    if field.field_type in ("choice", "multi_choice"):
        choices = list(dict.fromkeys(str(c).strip() for c in field.choices or [] if str(c).strip()))
        if not choices:
            errors["choices"] = "Give at least one choice."
        elif any(len(c) > 100 for c in choices):
            errors["choices"] = "Keep each choice to 100 characters."
        field.choices = choices
    else:
        field.choices = []
    if field.field_type == "reference":
        if registry.find(field.reference_type) is None:
            errors["reference_type"] = f"Choose the record type it refers to: {', '.join(registry.keys())}."
    else:
        field.reference_type = ""
    clash = CustomField.objects.filter(record_type=field.record_type, key=field.key).exclude(pk=field.pk)
    if field.key and clash.exists():
        errors["key"] = f"{field.record_type} already has a field with the key “{field.key}”."
    if errors:
        raise ValidationError(errors)
    field.full_clean(exclude=["choices"], validate_unique=False)


def create_field(record_type: str, key: str, data: dict[str, Any], *, actor: Any) -> CustomField:
    """Define a custom field on a record type (settings managers)."""
    from .errors import PermissionDenied

    if not actor.can_manage_settings():
        raise PermissionDenied("Only administrators change custom fields.")
    field = CustomField(record_type=record_type, key=key, **{k: v for k, v in data.items() if k in DEFINITION_FIELDS})
    with transaction.atomic():
        _check_definition(field)
        field.save()
        _record_change(field, actor, "created", None)
        _reindex_values_of(field)
    return field


AUDITED = ("record_type", "key", "label", "field_type", "required", "choices", "reference_type", "help_text",
           "position", "searchable", "is_identifier")  # fmt: skip


def _record_change(field: CustomField, actor: Any, action: str, before: dict[str, Any] | None) -> None:
    from .audit import record_setting_change, values

    after = None if action == "deleted" else values(field, AUDITED)
    label = f"{field.label} ({field.record_type})"
    record_setting_change("custom_field", field, actor=actor, action=action, before=before, after=after, label=label)


def _reindex_values_of(field: CustomField) -> None:
    """Records holding a value under ``field``'s key show it in search only while it is a searchable
    text field: refresh their entries when that may have changed (created, retyped, deleted...)."""
    from . import registry, search

    rtype = registry.find(field.record_type)
    if rtype is not None:
        pks = list(rtype.model.objects.live().filter(custom__has_key=field.key).values_list("pk", flat=True))
        search.index_records(rtype.model, pks)


def update_field(field: CustomField, data: dict[str, Any], *, actor: Any) -> CustomField:
    """Change a definition; its key and record type never change, and its type only while no record holds
    a value for it."""
    from django.core.exceptions import ValidationError

    from . import registry
    from .errors import PermissionDenied

    if not actor.can_manage_settings():
        raise PermissionDenied("Only administrators change custom fields.")
    with transaction.atomic():
        field = CustomField.objects.select_for_update().get(pk=field.pk)
        new_type = data.get("field_type", field.field_type)
        if new_type != field.field_type:
            model = registry.get(field.record_type).model
            if model.objects.filter(custom__has_key=field.key).exists():
                raise ValidationError(
                    {
                        "field_type": "Records already hold values for this field, so its type cannot change; "
                        "add a new field instead."
                    }
                )
        from .audit import values

        before = values(field, AUDITED)
        for name in DEFINITION_FIELDS:
            if name in data:
                setattr(field, name, data[name])
        _check_definition(field)
        field.save()
        _record_change(field, actor, "changed", before)
        if any(before[k] != getattr(field, k) for k in ("searchable", "field_type")):
            _reindex_values_of(field)
    return field


def delete_field(field: CustomField, *, actor: Any) -> None:
    """Remove a definition (values stay in records' JSON, no longer shown, filtered or validated)."""
    from .errors import PermissionDenied

    if not actor.can_manage_settings():
        raise PermissionDenied("Only administrators change custom fields.")
    with transaction.atomic():
        from .audit import values

        _record_change(field, actor, "deleted", values(field, AUDITED))
        field.delete()
        _reindex_values_of(field)
