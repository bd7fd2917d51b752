"""``/api/v1/audit/``: the settings audit trail, for users who manage settings."""

from __future__ import annotations

from typing import cast

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api import schema
from rapport.api.views import BaseAPIView, page_response
from rapport.core import audit, listing
from rapport.core.errors import PermissionDenied

from ..models import User


class AuditActorSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null when the user was deleted.")
    name = serializers.CharField()


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    actor = AuditActorSerializer(allow_null=True, help_text="Who made the change; null for the system.")
    kind = serializers.ChoiceField(choices=list(audit.KINDS), help_text="What kind of setting changed.")
    action = serializers.ChoiceField(choices=list(audit.ACTIONS))
    object_id = serializers.IntegerField(allow_null=True)
    object = serializers.CharField(help_text="The setting's name when the change was made.")
    changes = schema.ChangeSerializer(many=True)
    summary = serializers.CharField(help_text='In words, e.g. "Ada Admin changed stage Sales pipeline · Proposal".')
    request_id = serializers.CharField(allow_blank=True)


AuditPageSerializer = schema.page_serializer("AuditPage", AuditEntrySerializer)


class AuditListView(BaseAPIView):
    @extend_schema(
        summary="List settings changes (audit trail)",
        description="Who changed which setting (users, teams, roles, pipelines, stages, lost reasons, exchange "
        "rates, quotas, custom fields, API tokens), when, and each field before → after; newest first. "
        "Only for users who manage settings.",
        tags=["Audit"],
        parameters=[
            OpenApiParameter("kind", str, enum=list(audit.KINDS), description="Only changes to this kind of setting."),
            OpenApiParameter("actor", int, description="Only changes made by this user id."),
            schema.CURSOR,
            OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
        ],
        responses={200: AuditPageSerializer, 400: schema.ERROR, 403: schema.ERROR},
        operation_id="audit_list",
    )
    def get(self, request: Request) -> HttpResponse:
        if not cast("User", request.user).can_manage_settings():
            raise PermissionDenied("Only administrators can read the audit trail.")
        size = listing.page_size(request.query_params)
        entries, next_cursor = audit.audit_page(request.query_params, size)
        return page_response(request, [audit.entry_json(e) for e in entries], next_cursor)
