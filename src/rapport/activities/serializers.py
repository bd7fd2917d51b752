"""Write validation of activities, shared by the API, the pages and the quick-log forms."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from rapport.core import registry
from rapport.core.serializers import (
    EntrySerializer,
    RecordWriteSerializer,
    actor_of,
    no_such_record,
)
from rapport.core.visibility import linkable

from .models import Activity

MAX_LINKS = 50
# A body is read on the timeline and rendered as Markdown (~10 ms per 1,000 characters): a 4 MB note
# made its record's timeline take 30 s. 20,000 characters is about eight printed pages.
BODY_MAX = 20_000


class LinkSerializer(EntrySerializer):
    """An activity's link to a record: only to records the actor may view (the rule of
    core.serializers.RecordLinkField); a link the activity already has may be sent back."""

    type = serializers.CharField(max_length=40)
    id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    any_record_link = True  # the form picks these records by name, of any type but its own (web.forms)
    own_type = "activities"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        rtype = registry.find(attrs["type"])
        if rtype is None or rtype.key == "activities":
            keys = ", ".join(k for k in registry.keys() if k != "activities")
            raise serializers.ValidationError({"type": f"Link to one of: {keys}."})
        if not linkable(rtype.model, actor_of(self)).filter(pk=attrs["id"]).exists():
            if (rtype.key, attrs["id"]) not in self._kept():
                raise serializers.ValidationError({"id": no_such_record(rtype.label.lower(), attrs["id"])})
        return attrs

    def _kept(self) -> set[tuple[str, int]]:
        instance = getattr(self.root, "instance", None)
        if instance is None or not hasattr(instance, "related_items"):
            return set()
        return {(link.type_key, link.record_id) for link in instance.related_items("links")}


class ActivityWriteSerializer(RecordWriteSerializer):
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )
    links = LinkSerializer(many=True, required=False, max_length=MAX_LINKS)  # type: ignore[call-arg]
    text_max_lengths = {"body": BODY_MAX}

    class Meta:
        model = Activity
        fields = (
            "kind",
            "subject",
            "body",
            "due_at",
            "start_at",
            "end_at",
            "duration_minutes",
            "outcome",
            "done",
            "assignee",
            "priority",
            "links",
            *RecordWriteSerializer.base_fields,
        )

    def validate_subject(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Say what the activity is about.")
        return value.strip()

    def validate_links(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen = {(link["type"], link["id"]) for link in value}
        if len(seen) != len(value):
            raise serializers.ValidationError("A record is linked twice.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance: Activity | None = self.instance

        def current(name: str) -> Any:
            return attrs[name] if name in attrs else getattr(instance, name, None)

        kind = current("kind") or "task"
        start, end = current("start_at"), current("end_at")
        if start and end and end < start:
            raise serializers.ValidationError({"end_at": "The end is before the start."})
        if current("outcome") and kind != "call":
            raise serializers.ValidationError({"outcome": "Only calls have an outcome."})
        if kind == "meeting" and not start:
            raise serializers.ValidationError({"start_at": "Give the meeting a start time."})
        return attrs
