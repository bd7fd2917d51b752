"""API verbs on activities beyond the generic endpoints."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.representation import detail_queryset, represent
from rapport.api.views import ETAG_RE, BaseAPIView, json_response
from rapport.core.errors import PermissionDenied, VersionConflict
from rapport.core.visibility import can

from . import services
from .models import OUTCOMES, Activity


class CompleteSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES, required=False)


class ActivityCompleteView(BaseAPIView):
    @extend_schema(
        summary="Mark an activity done (optionally with a call outcome)",
        tags=["Activities"],
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH),
            OpenApiParameter("If-Match", str, OpenApiParameter.HEADER, description="The ETag; stale → 412."),
        ],
        request=CompleteSerializer,
        responses={200: OpenApiResponse(description="The activity"), 412: OpenApiResponse(description="Stale")},
        operation_id="activities_complete",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        activity = Activity.objects.visible_to(request.user).filter(pk=pk).first()
        if activity is None:
            raise Http404
        if not can(request.user, activity, "change"):
            raise PermissionDenied("You may not change this activity.")
        expected = None
        header = (request.headers.get("If-Match") or "").strip()
        if header and header != "*":
            match = ETAG_RE.match(header)
            if not match or int(match.group(1)) != activity.pk:
                raise VersionConflict(activity.etag)
            expected = int(match.group(2))
        body = CompleteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data.get("outcome") and activity.kind != "call":
            raise serializers.ValidationError({"outcome": "Only calls have an outcome."})
        services.complete_activity(
            activity,
            actor=request.user,
            source="api",
            outcome=body.validated_data.get("outcome", ""),
            expected_version=expected,
        )
        fresh = detail_queryset("activities").get(pk=pk)
        return json_response(represent(fresh), headers={"ETag": fresh.etag})
