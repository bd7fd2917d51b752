"""Write validation of sequences (with their steps) and of enrolling people, shared by the API and the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from rest_framework import serializers

from rapport.core.inputs import bad_text
from rapport.core.serializers import EntrySerializer, RejectUnknownFields

from . import mailer
from .models import STEP_KINDS

MAX_STEPS = 20
MAX_DELAY_DAYS = 90
MAX_HOLIDAYS = 100
MAX_PEOPLE = 500


def _clean(value: str) -> str:
    problem = bad_text(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


class StepSerializer(EntrySerializer):
    id = serializers.IntegerField(
        required=False, min_value=1, help_text="An existing step to keep; omit for a new one."
    )
    kind = serializers.ChoiceField(choices=STEP_KINDS)
    delay_days = serializers.IntegerField(
        min_value=0, max_value=MAX_DELAY_DAYS, default=0, help_text="Business days after the previous step."
    )
    template_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="An email template (compose); else subject and body."
    )
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=20_000, required=False, allow_blank=True, default="")

    def validate_subject(self, value: str) -> str:
        return _clean(value).strip()

    def validate_body(self, value: str) -> str:
        return _clean(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for field in ("subject", "body"):
            unknown = mailer.unknown_fields(attrs.get(field, ""))
            if unknown:
                errors[field] = (
                    f"Unknown merge field {{{{ {unknown[0]} }}}}; use one of {', '.join(mailer.MERGE_FIELDS)}."
                )
        template_id = attrs.get("template_id")
        if template_id is not None:
            if attrs["kind"] != "email":
                errors["template_id"] = "Only email steps use a template."
            elif (
                not apps.is_installed("rapport.compose")
                or not mailer._compose_model("Template").objects.filter(pk=template_id).exists()
            ):
                errors["template_id"] = f"There is no template #{template_id}."
        elif attrs["kind"] == "email" and not attrs.get("body", "").strip():
            errors["body"] = "Write the email, or choose a template."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SequenceSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    shared = serializers.BooleanField(required=False, help_text="Every user may see it and enrol people in it.")
    active = serializers.BooleanField(required=False, help_text="Switched off, its emails wait.")
    window_start = serializers.TimeField(required=False, help_text="Sending window opens (recipient's time).")
    window_end = serializers.TimeField(required=False, help_text="Sending window closes (recipient's time).")
    holidays = serializers.ListField(
        child=serializers.DateField(), required=False, max_length=MAX_HOLIDAYS, help_text="Days nothing is sent."
    )
    steps = StepSerializer(many=True, required=False, max_length=MAX_STEPS)  # type: ignore[call-arg]

    def validate_name(self, value: str) -> str:
        value = _clean(value).strip()
        if not value:
            raise serializers.ValidationError("Name the sequence.")
        return value

    def validate_description(self, value: str) -> str:
        return _clean(value).strip()

    def validate_holidays(self, value: list[dt.date]) -> list[str]:
        return sorted({d.isoformat() for d in value})

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.context.get("instance")
        start = attrs.get("window_start", getattr(instance, "window_start", dt.time(9)))
        end = attrs.get("window_end", getattr(instance, "window_end", dt.time(17)))
        if start >= end:
            raise serializers.ValidationError({"window_end": "The window must close after it opens."})
        for key in ("window_start", "window_end"):
            if key in attrs:
                attrs[key] = attrs[key].replace(second=0, microsecond=0)
        return attrs


class EnrolSerializer(RejectUnknownFields, serializers.Serializer):
    sequence = serializers.IntegerField(min_value=1)
    people = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_PEOPLE, help_text="Person ids."
    )
    saved_view = serializers.IntegerField(
        required=False, min_value=1, help_text="A saved view of people: everyone it lists now (up to 500)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("people")) == ("saved_view" in attrs):
            raise serializers.ValidationError({"people": "Give either people or saved_view."})
        return attrs
