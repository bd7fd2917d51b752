"""Base write serializer of every record type: validates owner, tags, custom fields and notes the
same way on every path (API, pages, import)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from . import customfields

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
            return customfields.validate(self.Meta.model.record_type_key, value, existing=existing)  # type: ignore[attr-defined]
        except customfields.CustomFieldErrors as exc:
            raise serializers.ValidationError(exc.errors)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Required custom fields must be present on create even when "custom" is not sent.
        if self.instance is None and "custom" not in attrs:
            attrs["custom"] = self.validate_custom({})
        return attrs
