"""Validation of integration settings (the API and the settings page)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from rapport.accounts.models import Role
from rapport.core.serializers import RejectUnknownFields

from .models import KINDS, Integration


class IntegrationSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(
        max_length=60, required=False, help_text="The endpoint's name in its URL; made from the name when left out."
    )
    kind = serializers.ChoiceField(choices=KINDS, required=False, default="generic")
    active = serializers.BooleanField(required=False, default=True)
    create_unknown_callers = serializers.BooleanField(
        required=False, default=False, help_text="Telephony: a call from an unknown number creates a lead."
    )
    role = serializers.PrimaryKeyRelatedField(
        queryset=Role.objects.all(),
        required=False,
        allow_null=True,
        help_text=(
            "The role of the integration's service user (what it may see and write); Administrator when left out."
        ),
    )

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the integration a name.")
        return value.strip()

    def validate_slug(self, value: str) -> str:
        taken = Integration.objects.filter(slug=value)
        instance = self.context.get("instance")
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            raise serializers.ValidationError(f"Another integration uses {value}.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.partial:
            for key in ("slug", "kind", "role"):
                if key in attrs:
                    raise serializers.ValidationError({key: "Fixed once the integration is made; make a new one."})
        return attrs
