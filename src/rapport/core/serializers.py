"""Base write serializer of every record type: validates owner, tags, custom fields and notes the
same way on every path (API, pages, import)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from . import customfields
from .visibility import linkable

MAX_TAGS = 50
MAX_TAG_LENGTH = 50
NOTES_MAX = 10_000


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
        found = self.get_queryset().filter(pk=pk).first()
        if found is None and pk in self.kept_ids():
            found = self.model.objects.live().filter(pk=pk).first()
        if found is None:
            self.fail("does_not_exist", message=no_such_record(self.label_text, pk))
        return found


class RecordWriteSerializer(serializers.ModelSerializer):
    """Subclasses set ``Meta.model`` and ``Meta.fields`` (the type's own fields)."""

    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )
    tags = TagsField()
    custom = serializers.JSONField(required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=NOTES_MAX)

    base_fields = ("owner", "tags", "custom", "notes")

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
