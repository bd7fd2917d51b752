"""``/api/v1/sequences/`` and ``/api/v1/enrolments/``: sequences with their steps and per-step statistics,
enrolling people (by id or from a saved view), and pausing, resuming and stopping enrolments. Visibility is
``sequences.queries``; writes are ``sequences.services``, shared with the pages."""

from __future__ import annotations

import copy
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import inputs, listing
from rapport.core.errors import PermissionDenied
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value
from rapport.core.visibility import link_label

from .. import queries, services
from ..models import STATES, STEP_KINDS, STOP_REASONS, Enrolment, Sequence, Step
from ..serializers import EnrolSerializer, SequenceSerializer

TAGS = ["Sequences"]


def _user(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "name": user.display_name}


def _time(value: Any) -> str:
    return str(value.isoformat(timespec="minutes"))


def step_json(step: Step, stats: dict[str, Any] | None) -> dict[str, Any]:
    body = {
        "id": step.pk,
        "position": step.position,
        "kind": step.kind,
        "delay_days": step.delay_days,
        "template_id": step.template_id,
        "subject": step.subject,
        "body": step.body,
    }
    if stats is not None:
        body["stats"] = stats
    return body


def sequence_json(s: Sequence, *, steps: list[Step] | None = None, stats: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": s.pk,
        "name": s.name,
        "description": s.description,
        "owner": _user(s.owner),
        "shared": s.shared,
        "active": s.active,
        "window_start": _time(s.window_start),
        "window_end": _time(s.window_end),
        "holidays": list(s.holidays or []),
        "created_at": to_json_value(s.created_at),
        "updated_at": to_json_value(s.updated_at),
        "url_self": f"/api/v1/sequences/{s.pk}/",
    }
    if steps is not None:
        body["steps"] = [step_json(step, (stats or {}).get(step.pk)) for step in steps]
    return body


def enrolment_json(e: Enrolment, viewer: Any, total_steps: int) -> dict[str, Any]:
    person = e.person
    name = link_label(viewer, "people", person.full_name, owner_id=person.owner_id, team_id=person.team_id)
    return {
        "id": e.pk,
        "sequence": {"id": e.sequence_id, "name": e.sequence.name},
        "person": {"id": person.pk, "name": name},
        "enrolled_by": _user(e.enrolled_by),
        "state": e.state,
        "stop_reason": e.stop_reason,
        "steps_done": e.position,
        "steps_total": total_steps,
        "next_run_at": to_json_value(e.next_run_at),
        "time_zone": e.time_zone,
        "last_error": e.last_error,
        "enrolled_at": to_json_value(e.enrolled_at),
        "ended_at": to_json_value(e.ended_at),
        "url_self": f"/api/v1/enrolments/{e.pk}/",
    }


def _totals(sequence_ids: set[int]) -> dict[int, int]:
    from django.db.models import Count

    rows = Step.objects.filter(sequence_id__in=sequence_ids).values("sequence_id").annotate(n=Count("id"))
    return {r["sequence_id"]: r["n"] for r in rows}


# One class per component name, a fresh instance per use (DRF binds a field to one parent).
_SEQUENCE_LINK = type(
    inline_serializer(
        "SequenceLink", {"id": serializers.IntegerField(), "name": serializers.CharField(allow_null=True)}
    )
)


def _link() -> Any:
    return _SEQUENCE_LINK()


STATS = inline_serializer(
    "SequenceStepStats",
    {
        "sent": serializers.IntegerField(),
        "tasks": serializers.IntegerField(),
        "opened": serializers.IntegerField(allow_null=True, help_text="Null without compose's tracking."),
        "clicked": serializers.IntegerField(allow_null=True, help_text="Null without compose's tracking."),
        "replied": serializers.IntegerField(),
        "bounced": serializers.IntegerField(),
    },
)
STEPS = inline_serializer(
    "SequenceStep",
    {
        "id": serializers.IntegerField(),
        "position": serializers.IntegerField(),
        "kind": serializers.ChoiceField(choices=STEP_KINDS),
        "delay_days": serializers.IntegerField(),
        "template_id": serializers.IntegerField(allow_null=True),
        "subject": serializers.CharField(allow_blank=True),
        "body": serializers.CharField(allow_blank=True),
        "stats": STATS,
    },
    many=True,
)
_SEQUENCE_FIELDS: dict[str, serializers.Field] = {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "description": serializers.CharField(allow_blank=True),
    "owner": _link(),
    "shared": serializers.BooleanField(),
    "active": serializers.BooleanField(),
    "window_start": serializers.CharField(help_text="HH:MM in the recipient's time zone."),
    "window_end": serializers.CharField(help_text="HH:MM in the recipient's time zone."),
    "holidays": serializers.ListField(child=serializers.DateField()),
    "created_at": serializers.DateTimeField(),
    "updated_at": serializers.DateTimeField(),
    "url_self": serializers.CharField(),
}
SEQUENCE_ROW = inline_serializer("SequenceRow", {k: copy.deepcopy(v) for k, v in _SEQUENCE_FIELDS.items()})
SEQUENCE = inline_serializer("Sequence", {**_SEQUENCE_FIELDS, "steps": STEPS})
_ENROLMENT_FIELDS: dict[str, Any] = {
    "id": serializers.IntegerField(),
    "sequence": _link(),
    "person": _link(),
    "enrolled_by": _link(),
    "state": serializers.ChoiceField(choices=STATES),
    "stop_reason": serializers.ChoiceField(choices=STOP_REASONS),
    "steps_done": serializers.IntegerField(),
    "steps_total": serializers.IntegerField(),
    "next_run_at": serializers.DateTimeField(allow_null=True),
    "time_zone": serializers.CharField(),
    "last_error": serializers.CharField(allow_blank=True),
    "enrolled_at": serializers.DateTimeField(),
    "ended_at": serializers.DateTimeField(allow_null=True),
    "url_self": serializers.CharField(),
}
ENROLMENT = inline_serializer("Enrolment", _ENROLMENT_FIELDS)
ENROL_RESULT = inline_serializer(
    "EnrolResult",
    {
        "enrolled": type(ENROLMENT)(many=True),
        "already_enrolled": serializers.ListField(child=serializers.IntegerField(), help_text="Person ids."),
        "no_email": serializers.ListField(child=serializers.IntegerField(), help_text="Person ids."),
    },
)
SequencePage = page_serializer("SequencePage", SEQUENCE_ROW)
EnrolmentPage = page_serializer("EnrolmentPage", ENROLMENT)
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed))}.")


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not inputs.is_id(raw) or len(raw) > 18:
        raise QueryError(name, "use a whole number (an id).")
    return int(raw)


def _detail(sequence: Sequence) -> dict[str, Any]:
    steps = queries.steps_of(sequence)
    return sequence_json(sequence, steps=steps, stats=queries.step_stats(sequence, steps))


def _steps_data(validated: dict[str, Any]) -> list[dict[str, Any]] | None:
    steps = validated.pop("steps", None)
    return [dict(s) for s in steps] if steps is not None else None


class SequenceListView(BaseAPIView):
    @extend_schema(
        summary="List sequences",
        description="Your own sequences and those shared with everyone (all of them for administrators).",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={200: SequencePage, 400: ERROR},
        operation_id="sequences_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size"})
        rows, next_cursor, previous_cursor = object_page(
            request, queries.visible_sequences(api_user(request)), "id", descending=False
        )
        return page_response(request, [sequence_json(s) for s in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create a sequence",
        tags=TAGS,
        request=SequenceSerializer,
        responses={201: SEQUENCE, 400: ERROR, 403: ERROR},
        operation_id="sequences_create",
    )
    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        if not queries.may_create_sequences(user):
            raise PermissionDenied("You may not create sequences.")
        serializer = SequenceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        steps = _steps_data(data) or []
        sequence = services.create_sequence(actor=user, steps=steps, **data)
        body = _detail(sequence)
        return json_response(body, status=201, headers={"Location": body["url_self"]})


class SequenceDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a sequence with its steps and their statistics",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: SEQUENCE, 404: ERROR},
        operation_id="sequences_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(_detail(get_or_404(queries.visible_sequences(api_user(request)), pk)))

    @extend_schema(
        summary="Change a sequence",
        description="`steps`, when given, is the whole list in its new order: an entry with the `id` of an existing "
        "step keeps it (changed as given), an entry without one adds a step, steps left out are deleted.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=SequenceSerializer(partial=True),
        responses={200: SEQUENCE, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="sequences_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        sequence = get_or_404(queries.visible_sequences(user), pk)
        if not queries.may_edit(user, sequence):
            raise PermissionDenied("Only the sequence's owner or an administrator may change it.")
        serializer = SequenceSerializer(data=request.data, partial=True, context={"instance": sequence})
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        steps = _steps_data(data)
        sequence = services.update_sequence(sequence, actor=user, steps=steps, **data)
        return json_response(_detail(sequence))

    @extend_schema(
        summary="Delete a sequence",
        description="Its enrolments end with it; emails already sent stay in the mailboxes.",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="sequences_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        sequence = get_or_404(queries.visible_sequences(user), pk)
        if not queries.may_edit(user, sequence):
            raise PermissionDenied("Only the sequence's owner or an administrator may delete it.")
        services.delete_sequence(sequence, actor=user)
        return HttpResponse(status=204)


class EnrolmentListView(BaseAPIView):
    @extend_schema(
        summary="List enrolments",
        description="The enrolments you made (all of them for administrators), newest first.",
        tags=TAGS,
        parameters=[
            OpenApiParameter("sequence", int, description="Only this sequence's."),
            OpenApiParameter("person", int, description="Only this person's."),
            OpenApiParameter("state", str, enum=[s for s, _ in STATES], description="Only in this state."),
            *PAGE_PARAMS,
        ],
        responses={200: EnrolmentPage, 400: ERROR},
        operation_id="enrolments_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "sequence", "person", "state"})
        user = api_user(request)
        rows = queries.visible_enrolments(user)
        for name in ("sequence", "person"):
            value = _int_param(request, name)
            if value is not None:
                rows = rows.filter(**{f"{name}_id": value})
        state = request.query_params.get("state")
        if state is not None:
            if state not in dict(STATES):
                raise QueryError("state", f"use one of {', '.join(s for s, _ in STATES)}.")
            rows = rows.filter(state=state)
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        totals = _totals({e.sequence_id for e in found})
        body = [enrolment_json(e, user, totals.get(e.sequence_id, 0)) for e in found]
        return page_response(request, body, next_cursor, previous_cursor)

    @extend_schema(
        summary="Enrol people in a sequence",
        description="By person ids, or everyone a saved view of people lists now (at most 500). People already "
        "in the sequence (active or paused) and people without an email address are reported, not enrolled. The "
        "emails go from your own mailbox.",
        tags=TAGS,
        request=EnrolSerializer,
        responses={201: ENROL_RESULT, 400: ERROR, 403: ERROR},
        operation_id="enrolments_create",
    )
    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        serializer = EnrolSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sequence = queries.visible_sequences(user).filter(pk=data["sequence"]).first()
        if sequence is None:
            raise serializers.ValidationError({"sequence": f"There is no sequence #{data['sequence']}."})
        if user.scope_for("people", "change") is None:
            raise PermissionDenied("You may not enrol people.")
        result = services.enrol(
            sequence, actor=user, people_ids=data.get("people"), saved_view_id=data.get("saved_view")
        )
        total = len(queries.steps_of(sequence))
        enrolled = Enrolment.objects.select_related("sequence", "person", "enrolled_by").filter(
            pk__in=[e.pk for e in result.enrolled]
        )
        body = {
            "enrolled": [enrolment_json(e, user, total) for e in enrolled.order_by("id")],
            "already_enrolled": result.already,
            "no_email": result.no_email,
        }
        return json_response(body, status=201)


class EnrolmentDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve an enrolment",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: ENROLMENT, 404: ERROR},
        operation_id="enrolments_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        enrolment = get_or_404(queries.visible_enrolments(user), pk)
        return json_response(enrolment_json(enrolment, user, len(queries.steps_of(enrolment.sequence))))


class EnrolmentActionView(BaseAPIView):
    action_name = ""

    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        enrolment = get_or_404(queries.visible_enrolments(user), pk)
        done = {
            "pause": lambda: services.pause_enrolment(enrolment),
            "resume": lambda: services.resume_enrolment(enrolment),
            "stop": lambda: services.stop_enrolment(enrolment, reason="manual"),
        }[self.action_name]()
        if not done:
            raise serializers.ValidationError(
                {"state": f"The enrolment is {enrolment.get_state_display().lower()}; it cannot be {self.past}."}
            )
        return json_response(enrolment_json(enrolment, user, len(queries.steps_of(enrolment.sequence))))

    @property
    def past(self) -> str:
        return {"pause": "paused", "resume": "resumed", "stop": "stopped"}[self.action_name]


def _action_view(name: str, summary: str) -> type[EnrolmentActionView]:
    @extend_schema(
        summary=summary,
        tags=TAGS,
        parameters=ID_PARAM,
        request=None,
        responses={200: ENROLMENT, 400: ERROR, 404: ERROR},
        operation_id=f"enrolments_{name}",
    )
    def post(self: EnrolmentActionView, request: Request, pk: int) -> HttpResponse:
        return EnrolmentActionView.post(self, request, pk)

    return type(f"Enrolment{name.title()}View", (EnrolmentActionView,), {"action_name": name, "post": post})


EnrolmentPauseView = _action_view("pause", "Pause an active enrolment")
EnrolmentResumeView = _action_view("resume", "Resume a paused enrolment")
EnrolmentStopView = _action_view("stop", "Stop an enrolment for good")
