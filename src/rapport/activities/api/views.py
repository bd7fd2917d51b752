"""API verbs on activities beyond the generic endpoints."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api import schema
from rapport.api.representation import detail_queryset, represent
from rapport.api.views import (
    BaseAPIView,
    api_user,
    get_or_404,
    if_match_version,
    json_response,
    page_link,
    page_response,
)
from rapport.core.errors import PermissionDenied
from rapport.core.inputs import is_id
from rapport.core.visibility import can

from .. import services
from ..models import OUTCOMES, Activity


class CompleteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES, required=False)


def _activity_schema() -> type:
    from rapport.core import registry

    return schema.record_serializer(registry.get("activities"))


class MyDayItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["task", "call", "meeting", "note"])
    subject = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True)
    start_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.CharField()
    version = serializers.IntegerField()
    overdue = serializers.BooleanField()
    reminder_minutes = serializers.IntegerField(allow_null=True)


class MyDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    time_zone = serializers.CharField()
    overdue = MyDayItemSerializer(many=True)
    today = MyDayItemSerializer(many=True)
    upcoming = MyDayItemSerializer(many=True)
    more_overdue = serializers.BooleanField(help_text="More than shown (see them in the activity list).")
    more_today = serializers.BooleanField()
    more_upcoming = serializers.BooleanField()


class ReminderAnswerSerializer(serializers.Serializer):
    activity = serializers.IntegerField()
    minutes = serializers.IntegerField(allow_null=True)
    fire_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(allow_null=True)


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    activity = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationPageSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField()
    results = NotificationSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class TimelineActivitySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField(allow_blank=True)
    due_at = serializers.DateTimeField(allow_null=True)
    start_at = serializers.DateTimeField(allow_null=True)
    end_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(allow_blank=True)
    done = serializers.BooleanField()
    overdue = serializers.BooleanField()
    assignee = serializers.IntegerField(allow_null=True)
    links = serializers.ListField(child=serializers.DictField())


class StageMoveSerializer(serializers.Serializer):
    before = serializers.CharField(allow_null=True)
    after = serializers.CharField(allow_null=True)


class TimelineEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    actor = serializers.IntegerField(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.source
    changes = serializers.JSONField(help_text="{field: [before, after]} for updates, else {}.")
    stage = StageMoveSerializer(allow_null=True)


class TimelineItemSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["activity", "event"])  # type: ignore[assignment]
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    id = serializers.IntegerField()
    activity = TimelineActivitySerializer(required=False)
    event = TimelineEventSerializer(required=False)


TimelinePageSerializer = schema.page_serializer("TimelinePage", TimelineItemSerializer)


class ActivityCompleteView(BaseAPIView):
    @extend_schema(
        summary="Mark an activity done (optionally with a call outcome)",
        tags=["Activities"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH), schema.IF_MATCH, schema.ETAG],
        request=CompleteSerializer,
        responses={200: OpenApiResponse(response=_activity_schema(), description="The activity, with its ETag")},
        operation_id="activities_complete",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        activity = get_or_404(Activity.objects.visible_to(api_user(request)), pk)
        if not can(api_user(request), activity, "change"):
            raise PermissionDenied("You may not change this activity.")
        expected = if_match_version(request, activity.pk, activity.etag)
        body = CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data.get("outcome") and activity.kind != "call":
            raise serializers.ValidationError({"outcome": "Only calls have an outcome."})
        services.complete_activity(
            activity,
            actor=api_user(request),
            source="api",
            outcome=body.validated_data.get("outcome", ""),
            expected_version=expected,
        )
        fresh = detail_queryset("activities").get(pk=pk)
        return json_response(represent(fresh, api_user(request)), headers={"ETag": fresh.etag})


# --- My day, reminders and notifications ---------------------------------------------------------
def _my_day_item(activity: Activity) -> dict[str, object]:
    reminder = getattr(activity, "reminder", None)
    return {
        "id": activity.pk,
        "kind": activity.kind,
        "subject": activity.subject,
        "due_at": activity.due_at.isoformat() if activity.due_at else None,
        "start_at": activity.start_at.isoformat() if activity.start_at else None,
        "priority": activity.priority,
        "version": activity.version,
        "overdue": activity.overdue,
        "reminder_minutes": reminder.minutes_before if reminder and reminder.status != "cancelled" else None,
    }


class MyDayView(BaseAPIView):
    @extend_schema(
        summary="The signed-in user's overdue, today's and upcoming (7 days) open tasks and meetings",
        tags=["Activities"],
        responses={200: OpenApiResponse(response=MyDaySerializer, description="Buckets, in the user's time zone")},
        operation_id="my_day",
    )
    def get(self, request: Request) -> HttpResponse:
        from .. import myday

        day = myday.build(api_user(request))
        return json_response(
            {
                "date": day.today.isoformat(),
                "time_zone": str(myday.user_zone(api_user(request))),
                "overdue": [_my_day_item(a) for a in day.overdue],
                "today": [_my_day_item(a) for a in day.due_today],
                "upcoming": [_my_day_item(a) for a in day.upcoming],
                "more_overdue": day.more_overdue,
                "more_today": day.more_today,
                "more_upcoming": day.more_upcoming,
            }
        )


class ReminderSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=0, allow_null=True, help_text="Minutes before; null removes it.")


class ActivityReminderView(BaseAPIView):
    @extend_schema(
        summary="Set (or remove, with null) the reminder of a task or meeting",
        tags=["Activities"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=ReminderSerializer,
        responses={200: ReminderAnswerSerializer},
        operation_id="activities_reminder",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        from .. import reminders

        activity = get_or_404(Activity.objects.visible_to(api_user(request)), pk)
        body = ReminderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            reminder = reminders.set_reminder(
                activity, body.validated_data["minutes"], actor=api_user(request), source="api"
            )
        except reminders.ReminderError as exc:
            raise serializers.ValidationError({exc.field: exc.message}) from exc
        if reminder is None:
            return json_response({"activity": activity.pk, "minutes": None, "fire_at": None, "status": None})
        return json_response(
            {
                "activity": activity.pk,
                "minutes": reminder.minutes_before,
                "fire_at": reminder.fire_at,
                "status": reminder.status,
            }
        )


class NotificationListView(BaseAPIView):
    @extend_schema(
        summary="The signed-in user's notifications, newest first (?unread=true for unread only)",
        tags=["Activities"],
        parameters=[OpenApiParameter("unread", bool), schema.CURSOR],
        responses={200: NotificationPageSerializer},
        operation_id="notifications_list",
    )
    def get(self, request: Request) -> HttpResponse:
        from rapport.core.listing import QueryError

        from ..models import Notification

        mine = Notification.objects.filter(user_id=api_user(request).pk or 0)
        qs = mine.order_by("-id")
        unread = request.query_params.get("unread", "")
        if unread not in ("", "true", "false"):
            raise QueryError("unread", "use true or false.")
        if unread:
            qs = qs.filter(read_at__isnull=unread == "true")
        unknown = set(request.query_params) - {"unread", "cursor"}
        if unknown:
            raise QueryError(sorted(unknown)[0], "unknown parameter; use unread and cursor.")
        before = request.query_params.get("cursor", "")
        if before:
            if not is_id(before):
                raise QueryError("cursor", "this cursor is not valid.")
            qs = qs.filter(id__lt=int(before))
        rows = list(qs[:50])
        return json_response(
            {
                "unread_count": mine.filter(read_at__isnull=True).count(),
                "results": [
                    {
                        "id": n.pk,
                        "kind": n.kind,
                        "title": n.title,
                        "body": n.body,
                        "activity": n.activity_id,
                        "created_at": n.created_at,
                        "read_at": n.read_at,
                    }
                    for n in rows
                ],
                "next": page_link(request, str(rows[-1].pk) if len(rows) == 50 else None),
                "previous": None,
            }
        )


class NotificationReadView(BaseAPIView):
    @extend_schema(
        summary="Mark one of your notifications read",
        tags=["Activities"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=None,
        responses={204: OpenApiResponse(description="Read")},
        operation_id="notifications_read",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        from django.utils import timezone

        from ..models import Notification

        notification = Notification.objects.filter(user_id=api_user(request).pk or 0, pk=pk).first()
        if notification is None:
            raise Http404
        if notification.read_at is None:
            Notification.objects.filter(pk=pk).update(read_at=timezone.now())
        return HttpResponse(status=204)


# --- Timeline of a person, company or deal --------------------------------------------------------
def _timeline_item(item: object) -> dict[str, object]:
    from ..timeline import Item

    assert isinstance(item, Item)
    out: dict[str, object] = {"source": item.source, "kind": item.kind, "at": item.at, "id": item.id}
    if item.activity is not None:
        a = item.activity
        out["activity"] = {
            "id": a.pk,
            "kind": a.kind,
            "subject": a.subject,
            "body": a.body,
            "due_at": a.due_at,
            "start_at": a.start_at,
            "end_at": a.end_at,
            "outcome": a.outcome,
            "done": a.done,
            "overdue": a.overdue,
            "assignee": a.assignee_id,
            "links": [{"type": key, "id": pk} for key, pk in item.link_refs],
        }
    elif item.event is not None:
        e = item.event
        out["event"] = {
            "id": e.pk,
            "kind": e.kind,
            "actor": e.actor_id,
            "source": e.source,
            "changes": e.changes if e.kind == "updated" else {},
            "stage": {"before": item.stage["before"].text, "after": item.stage["after"].text} if item.stage else None,
        }
    return out


class RecordTimelineView(BaseAPIView):
    @extend_schema(
        summary="The timeline of a person, company or deal: linked activities and history, newest first",
        tags=["Activities"],
        parameters=[
            OpenApiParameter("type_key", str, OpenApiParameter.PATH, enum=["people", "companies", "deals"]),
            OpenApiParameter("id", int, OpenApiParameter.PATH),
            OpenApiParameter("kind", str, enum=["task", "call", "meeting", "note", "changes"]),
            schema.CURSOR,
        ],
        responses={200: TimelinePageSerializer},
        operation_id="record_timeline",
    )
    def get(self, request: Request, type_key: str, pk: int) -> HttpResponse:
        from rapport.core import registry
        from rapport.core.listing import QueryError

        from .. import timeline

        rtype = registry.find(type_key)
        if rtype is None or api_user(request).scope_for(type_key, "view") is None:
            raise Http404
        record = get_or_404(rtype.model.objects.visible_to(api_user(request)), pk)
        kind = request.query_params.get("kind", "")
        if kind not in ("", *timeline.KIND_FILTERS):
            raise QueryError("kind", f"one of {', '.join(timeline.KIND_FILTERS)}.")
        unknown = set(request.query_params) - {"kind", "cursor"}
        if unknown:
            raise QueryError(sorted(unknown)[0], "unknown parameter.")
        raw = request.query_params.get("cursor", "")
        try:
            cursor = timeline.Cursor.decode(raw) if raw else None
        except timeline.BadCursor as exc:
            raise QueryError("cursor", "this cursor is not valid.") from exc
        # Other apps' timeline entries have endpoints of their own (mail: /api/v1/mail/messages/?person=).
        page = timeline.build(api_user(request), type_key, record, kind=kind, cursor=cursor, sources=False)
        return page_response(request, [_timeline_item(i) for i in page.items], page.next_cursor)


# --- the personal calendar feed address -------------------------------------------------------------
class CalendarFeedSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="Whether a feed URL exists.")
    url = serializers.URLField(
        allow_null=True,
        help_text="The secret feed URL: only in the answer that makes it (it is stored hashed); null otherwise.",
    )
    created_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


def _feed_json(user: Any, url: str | None = None) -> dict[str, object]:
    from ..models import CalendarFeed

    feed = CalendarFeed.objects.filter(user=user).first()
    return {
        "active": feed is not None,
        "url": url,
        "created_at": feed.created_at if feed else None,
        "last_used_at": feed.last_used_at if feed else None,
    }


class CalendarFeedView(BaseAPIView):
    @extend_schema(
        summary="Your calendar feed: whether it is on, when it was made and last read",
        tags=["Activities"],
        responses=CalendarFeedSerializer,
        operation_id="calendar_feed_retrieve",
    )
    def get(self, request: Request) -> HttpResponse:
        return json_response(_feed_json(api_user(request)))

    @extend_schema(
        summary="Make a new feed URL (the old one stops working); the URL is in this answer only",
        tags=["Activities"],
        request=None,
        responses={201: CalendarFeedSerializer},
        operation_id="calendar_feed_regenerate",
    )
    def post(self, request: Request) -> HttpResponse:
        from .. import calendar

        raw = calendar.issue_feed(api_user(request))
        url = request.build_absolute_uri(f"/calendar/feed/{raw}.ics")
        return json_response(_feed_json(api_user(request), url), status=201)

    @extend_schema(
        summary="Turn the calendar feed off (its URL stops working)",
        tags=["Activities"],
        responses={204: None},
        operation_id="calendar_feed_revoke",
    )
    def delete(self, request: Request) -> HttpResponse:
        from .. import calendar

        calendar.revoke_feed(api_user(request))
        return HttpResponse(status=204)
