"""Base write serializer of every record type: validates owner, tags, custom fields and notes the
same way on every path (API, pages, import)."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from rest_framework import serializers

from . import customfields, inputs
from .visibility import linkable, sees

MAX_TAGS = 50
MAX_TAG_LENGTH = 50
NOTES_MAX = 10_000
LONG_TEXT_MAX = 10_000  # any long text (TextField) of a record unless its serializer says otherwise
LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")


def single_line(value: str) -> str:
    """Single-line text (every CharField of a record) holds no line break: they broke .ics lines and
    CSV rows, and no form offers them."""
    if LINE_BREAKS.search(value):
        raise serializers.ValidationError("Use a single line (no line breaks).")
    return value


class BoundedDateField(serializers.DateField):
    """A date in the years core.inputs allows: far dates overflowed filters, reminders and the calendar."""

    def to_internal_value(self, value: Any) -> dt.date:
        day = super().to_internal_value(value)
        if not inputs.MIN_YEAR <= day.year <= inputs.MAX_YEAR:
            raise serializers.ValidationError(f"{day.isoformat()}: {inputs.RANGE_MESSAGE}")
        return day


class BoundedDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value: Any) -> dt.datetime:
        moment = super().to_internal_value(value)
        if not inputs.MIN_YEAR <= moment.astimezone(dt.UTC).year <= inputs.MAX_YEAR:
            raise serializers.ValidationError(f"{moment.date().isoformat()}: {inputs.RANGE_MESSAGE}")
        return moment


class TagsField(serializers.ListField):
    child = serializers.CharField(max_length=MAX_TAG_LENGTH, allow_blank=False, trim_whitespace=True)

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", MAX_TAGS)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            data = [t for t in (p.strip() for p in data.split(",")) if t]
        values = super().to_internal_value(data)
        seen: dict[str, str] = {}
        for tag in values:
            seen.setdefault(tag.lower(), tag)
        return sorted(seen.values(), key=str.lower)


def actor_of(field: serializers.Field) -> Any:
    """The user a write is made for, from the serializer context (``{"actor": user}``; the API,
    pages, imports and jobs pass it; ``visibility.SYSTEM`` for writes no person makes)."""
    context = field.context
    if "actor" in context:
        return context["actor"]
    request = context.get("request")
    if request is not None:
        return request.user
    raise ImproperlyConfigured(
        f"{type(field.root).__name__} validates links for an actor: pass context={{'actor': user}}."
    )


def no_such_record(label: str, value: Any) -> str:
    """The one answer for a link to an id that does not exist, is deleted or is not visible."""
    return f"There is no {label} #{value}."


class RecordLinkField(serializers.PrimaryKeyRelatedField):
    """A link to a record of a registered type. Accepts only records the actor may view
    (core.visibility.linkable); another team's record, a deleted one and an id that never existed
    get the same error. A link the record already has may be sent back unchanged.

    Every serializer field linking to a record must be of this kind (system check rapport.E003).
    """

    default_error_messages = {
        "required": "This field is required.",
        "does_not_exist": "{message}",
        "incorrect_type": "Give the id of a {label} as a number.",
    }

    def __init__(self, model: Any, **kwargs: Any):
        self.model = model
        kwargs["queryset"] = model.objects.all()
        super().__init__(**kwargs)

    @property
    def label_text(self) -> str:
        from . import registry

        return str(registry.for_model(self.model).label).lower()

    def get_queryset(self) -> Any:
        return linkable(self.model, actor_of(self))

    def linkable_record(self, pk: int) -> Any:
        """The live record ``pk`` if the actor may link to it (``get_queryset``'s rule: may view it),
        else None: the lookup by id compiled once per type (``children.record_by_id``; compiling it was
        a third of a deal create's CPU with two contacts), the visibility rule on the row read."""
        from . import registry
        from .children import record_by_id

        model = self.model
        found = record_by_id(
            f"link:{model._meta.label}", model, lambda: model.objects.filter(deleted_at__isnull=True), pk
        )
        if found is None or not sees(actor_of(self), registry.for_model(model).key, found.owner_id, found.team_id):
            return None
        return found

    def kept_ids(self) -> set[Any]:
        """Ids this field's relation holds on the record being updated."""
        root = self.root
        instance = getattr(root, "instance", None)
        if instance is None or not hasattr(instance, "related_items"):
            return set()
        parent = self.parent
        if parent is root:
            return {getattr(instance, f"{self.source}_id", None)} - {None}
        list_field = getattr(parent, "parent", None)
        if isinstance(list_field, serializers.ListSerializer) and list_field.parent is root:
            return {getattr(obj, f"{self.source}_id", None) for obj in instance.related_items(list_field.field_name)}
        return set()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", label=self.label_text)
        try:
            pk = int(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", label=self.label_text)
        if pk < 1 or pk > 2**63 - 1:
            self.fail("does_not_exist", message=no_such_record(self.label_text, data))
        found = self.linkable_record(pk)
        if found is None and pk in self.kept_ids():
            found = self.model.objects.live().filter(pk=pk).first()
        if found is None:
            self.fail("does_not_exist", message=no_such_record(self.label_text, pk))
        return found


# Keys of a record's API representation that the server manages: a client may send a record back
# as it read it, and these are ignored (every other key a write does not know is refused).
SERVER_KEYS = frozenset({"id", "type", "url", "version", "created_at", "updated_at", "deleted_at", "created_by"})


def unknown_field_errors(data: Any, known: set[str], ignored: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """``{key: [message]}`` for every key of ``data`` that is neither a field nor ignored."""
    if not isinstance(data, Mapping):
        return {}
    errors: dict[str, list[str]] = {}
    for key in data:
        if key in known or key in ignored:
            continue
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        errors[str(key)] = [f"Unknown field.{hint}"]
    return errors


class RejectUnknownFields(serializers.Serializer):
    """Refuse keys the serializer does not know with a 400 naming them, instead of DRF's default of
    dropping them silently (``"email"`` for ``"emails"`` would otherwise create a person without
    an address and answer 201). Mixed into every write serializer, nested entries included."""

    ignored_keys: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        known = {name for name, f in self.fields.items() if not f.read_only}
        unknown = unknown_field_errors(data, known, self.ignored_keys)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(
                    {k: [serializers.ErrorDetail(m, code="unknown") for m in v] for k, v in unknown.items()}
                )
            raise
        if unknown:
            raise serializers.ValidationError(unknown, code="unknown")
        return value


def fresh_field(prototype: serializers.Field) -> serializers.Field:
    """A copy of the unused ``prototype`` for one serializer, as DRF's deep copy makes but without
    calling every field's constructor again: its state is copied, sharing validators, choices and
    querysets as DRF's copy shares validators (nothing changes them after construction; a queryset is
    cloned by each ``get_queryset``), with a list of validators of its own and, for a list of values
    or of entries, a copy of its child bound to it alone. A field already used (with data, bound
    fields or a related-field child) is deep-copied."""
    state = prototype.__dict__
    if "fields" in state or "initial_data" in state or "_validated_data" in state or "child_relation" in state:
        return copy.deepcopy(prototype)
    field = object.__new__(type(prototype))
    field.__dict__.update(state)
    if "_validators" in state:
        field._validators = list(state["_validators"])  # type: ignore[attr-defined]
    child = state.get("child")
    if isinstance(child, serializers.Field):
        field.child = fresh_field(child)  # type: ignore[attr-defined]
        field.child.parent = field  # type: ignore[attr-defined]  # bound as the prototype's child was
    return field


class FieldsBuiltOnce(serializers.Serializer):
    """Write serializers whose fields do not depend on the instance, data or context: built once per
    serializer class (ModelSerializer builds them from the model) and copied for each serializer
    (``fresh_field``). Building them on every write was ~10 % of an API update's CPU, and a create
    builds the fields of every nested entry too."""

    def get_fields(self) -> dict[str, serializers.Field]:
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._field_prototypes = prototypes  # type: ignore[attr-defined]  # this class's own, not a parent's
        return {name: fresh_field(f) for name, f in prototypes.items()}

    def get_validators(self) -> list[Any]:
        # The serializer's own validators (ModelSerializer's unique-together ones) likewise: they
        # hold no state of one validation (DRF passes them the serializer when called).
        cls = type(self)
        validators = cls.__dict__.get("_validators_built")
        if validators is None:
            validators = list(super().get_validators())
            cls._validators_built = validators  # type: ignore[attr-defined]
        return list(validators)


class EntrySerializer(FieldsBuiltOnce, RejectUnknownFields):
    """A nested entry of a write (an email, a phone, a link, a line…) is always validated whole: inside a
    PATCH, DRF would skip its missing required fields and defaults, and the write would fail later."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        root = self.root
        partial = getattr(root, "partial", False)
        root.partial = False
        try:
            return super().run_validation(data)
        finally:
            root.partial = partial


class RecordWriteSerializer(FieldsBuiltOnce, RejectUnknownFields, serializers.ModelSerializer):
    """Subclasses set ``Meta.model`` and ``Meta.fields`` (the type's own fields).

    Unknown keys are refused; keys of the record's representation that are not writable
    (``id``, ``version``, derived fields such as a deal's ``status``...) are ignored, so a record
    read from the API can be sent back."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )
    tags = TagsField()
    custom = serializers.JSONField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=NOTES_MAX)

    base_fields = ("owner", "tags", "custom", "notes")
    # Long text limits per field (TextField has no length in the database); LONG_TEXT_MAX otherwise.
    text_max_lengths: ClassVar[dict[str, int]] = {}

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateField: BoundedDateField,
        models.DateTimeField: BoundedDateTimeField,
    }

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple[type, dict[str, Any]]:
        """Every text field of every record type is bounded (and shows its maxLength in the schema);
        single-line ones refuse line breaks."""
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if isinstance(model_field, models.TextField) and kwargs.get("max_length") is None:
            kwargs["max_length"] = self.text_max_lengths.get(field_name, LONG_TEXT_MAX)
        elif isinstance(model_field, models.CharField) and "choices" not in kwargs:
            kwargs["validators"] = [*kwargs.get("validators", []), single_line]
        return field_class, kwargs

    @property
    def ignored_keys(self) -> frozenset[str]:  # type: ignore[override]
        model: Any = self.Meta.model  # type: ignore[attr-defined]
        return SERVER_KEYS | {f.name for f in model.tracked_fields()}

    def validate_custom(self, value: Any) -> dict[str, Any]:
        existing = self.instance.custom if self.instance is not None else None
        try:
            return customfields.validate(
                self.Meta.model.record_type_key,  # type: ignore[attr-defined]
                value,
                existing=existing,
                actor=actor_of(self),
            )
        except customfields.CustomFieldErrors as exc:
            raise serializers.ValidationError(exc.errors)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Required custom fields must be present on create even when "custom" is not sent.
        if self.instance is None and "custom" not in attrs:
            attrs["custom"] = self.validate_custom({})
        return attrs
