"""Registration of activities: declarations only, the generic paths do the rest."""

from __future__ import annotations

from rapport.contacts.records import COMMON_COLUMNS, COMMON_FILTERS
from rapport.core.registry import Column, Filter, RecordType, register

from .models import KINDS, OUTCOMES, PRIORITIES, Activity


def _serializer() -> type:
    from .serializers import ActivityWriteSerializer

    return ActivityWriteSerializer


def _api_fields() -> dict:
    from rest_framework import serializers

    from rapport.core import registry

    link = type(
        "ActivityLinkSerializer",
        (serializers.Serializer,),
        {"type": serializers.ChoiceField(choices=registry.keys()), "id": serializers.IntegerField()},
    )
    return {
        "links": link(many=True),
        "overdue": serializers.BooleanField(help_text="An open task past its due time."),
    }


activities = register(
    RecordType(
        key="activities",
        model=Activity,
        search_markdown=True,
        label="Activity",
        label_plural="Activities",
        icon="check",
        title_fields=("subject",),
        serializer=_serializer,
        columns=[
            Column("subject", "Subject", "subject", sortable=True),
            Column("kind", "Kind", "kind", kind="choice", choices=tuple(KINDS)),
            Column("due_at", "Due", "due_at", kind="datetime", sortable=True),
            Column("start_at", "Starts", "start_at", kind="datetime", sortable=True, default=False),
            Column("done", "Done", "done", kind="choice", choices=(("True", "Yes"), ("False", "No"))),
            Column("outcome", "Outcome", "outcome", kind="choice", choices=tuple(OUTCOMES), default=False),
            Column("priority", "Priority", "priority", kind="choice", choices=tuple(PRIORITIES), default=False),
            Column("assignee", "Assignee", "assignee", kind="user"),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("kind", "Kind", "kind", kind="choice", choices=tuple(KINDS)),
            Filter("assignee", "Assignee", "assignee_id", kind="user"),
            Filter("done", "Done", "done", kind="choice", choices=(("true", "Yes"), ("false", "No"))),
            Filter("due", "Due", "due_at", kind="date_range"),
            Filter("completed", "Done on", "done_at", kind="date_range"),
            Filter("priority", "Priority", "priority", kind="choice", choices=tuple(PRIORITIES)),
            Filter("person", "Person", "links", kind="link", link_type="people"),
            Filter("company", "Company", "links", kind="link", link_type="companies"),
            Filter("deal", "Deal", "links", kind="link", link_type="deals"),
            *COMMON_FILTERS,
        ],
        default_ordering="-created_at",
        example={
            "kind": "call",
            "subject": "Discovery call",
            "body": "Talked about **renewal** timing.",
            "start_at": "2026-11-20T14:00:00Z",
            "duration_minutes": 20,
            "outcome": "connected",
            "done": True,
            "priority": "normal",
        },
        detail_sections=["activities/body.html", "activities/my_reminder_section.html"],
        prefetch_related=("links",),
        api_fields=_api_fields,
    )
)
