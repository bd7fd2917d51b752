"""Write validation for webhook subscriptions (the page's form and the API)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from rapport.core import http, registry
from rapport.core.serializers import RejectUnknownFields

from .models import EVENT_TYPE_KEYS


class SubscriptionSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2048, help_text="The receiver's https:// (or http://) address.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_KEYS),
        required=False,
        max_length=len(EVENT_TYPE_KEYS),
        help_text="Empty: every event type.",
    )
    type_keys = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, max_length=50, help_text="Empty: every record type."
    )
    active = serializers.BooleanField(required=False)

    def validate_url(self, value: str) -> str:
        value = value.strip()
        try:
            http.check_url(value)
        except http.OutboundError as exc:
            raise serializers.ValidationError(str(exc))
        return value

    def validate_type_keys(self, value: list[str]) -> list[str]:
        known = set(registry.keys())
        unknown = [key for key in value if key not in known]
        if unknown:
            raise serializers.ValidationError(f"Unknown record type {unknown[0]!r}; use one of {sorted(known)}.")
        return sorted(set(value))

    def validate_event_types(self, value: list[str]) -> list[str]:
        return [key for key in EVENT_TYPE_KEYS if key in value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs
