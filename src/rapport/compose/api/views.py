"""``/api/v1/email-templates/`` (your own and the organisation's templates, with a preview on a record) and
``/api/v1/outgoing-messages/`` (send a message; the messages you sent with their status and tracking figures)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import inputs, listing
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value

from .. import compose, queries, services, templates
from ..models import STATUSES, SUPPRESSION_REASONS, EmailTemplate, OutgoingMessage, Suppression
from ..serializers import SendSerializer, TemplateSerializer
from ..services import ComposeError

TAGS = ["Email"]
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed)) or 'none'}.")


def _refuse(exc: ComposeError) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


def template_json(t: EmailTemplate, user: Any) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "subject": t.subject,
        "body": t.body,
        "shared": t.owner_id is None,
        "can_change": services.may_change_template(user, t),
        "created_at": to_json_value(t.created_at),
        "updated_at": to_json_value(t.updated_at),
        "url": f"/api/v1/email-templates/{t.pk}/",
    }


def message_json(m: OutgoingMessage) -> dict[str, Any]:
    return {
        "id": m.pk,
        "status": m.status,
        "sender": {"id": m.sender_id, "name": m.sender.display_name},
        "mailbox": m.mailbox_id,
        "from_address": m.from_address,
        "to": list(m.to),
        "cc": list(m.cc),
        "bcc": list(m.bcc),
        "subject": m.subject,
        "message_id": m.message_id,
        "in_reply_to": m.in_reply_to_id,
        "record": {"type": m.record_type, "id": m.record_id} if m.record_type else None,
        "template": m.template_id,
        "tracking": m.tracking,
        "send_at": to_json_value(m.send_at),
        "sent_at": to_json_value(m.sent_at),
        "attempts": m.attempts,
        "next_attempt_at": to_json_value(m.next_attempt_at) if m.status == "scheduled" else None,
        "error": m.error,
        "refused": dict(m.refused),
        "opens": m.opens,
        "clicks": m.clicks,
        "first_opened_at": to_json_value(m.first_opened_at),
        "bounced_at": to_json_value(m.bounced_at),
        "stored_message": m.stored_message_id,
        "created_at": to_json_value(m.created_at),
        "url": f"/api/v1/outgoing-messages/{m.pk}/",
    }


TEMPLATE = inline_serializer(
    "EmailTemplate",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "subject": serializers.CharField(),
        "body": serializers.CharField(),
        "shared": serializers.BooleanField(help_text="The organisation's template (else your own)."),
        "can_change": serializers.BooleanField(),
        "created_at": serializers.DateTimeField(),
        "updated_at": serializers.DateTimeField(),
        "url": serializers.CharField(),
    },
)
PREVIEW = inline_serializer(
    "EmailTemplatePreview", {"subject": serializers.CharField(), "html": serializers.CharField()}
)
MESSAGE = inline_serializer(
    "OutgoingMessage",
    {
        "id": serializers.IntegerField(),
        "status": serializers.ChoiceField(choices=[k for k, _ in STATUSES]),
        "sender": inline_serializer(
            "OutgoingMessageSender", {"id": serializers.IntegerField(), "name": serializers.CharField()}
        ),
        "mailbox": serializers.IntegerField(allow_null=True),
        "from_address": serializers.CharField(),
        "to": serializers.ListField(child=serializers.CharField()),
        "cc": serializers.ListField(child=serializers.CharField()),
        "bcc": serializers.ListField(child=serializers.CharField()),
        "subject": serializers.CharField(allow_blank=True),
        "message_id": serializers.CharField(help_text="The Message-ID header, without angle brackets."),
        "in_reply_to": serializers.IntegerField(allow_null=True),
        "record": inline_serializer(
            "OutgoingMessageRecord",
            {"type": serializers.CharField(), "id": serializers.IntegerField(allow_null=True)},
            allow_null=True,
        ),
        "template": serializers.IntegerField(allow_null=True),
        "tracking": serializers.BooleanField(),
        "send_at": serializers.DateTimeField(),
        "sent_at": serializers.DateTimeField(allow_null=True),
        "attempts": serializers.IntegerField(),
        "next_attempt_at": serializers.DateTimeField(allow_null=True),
        "error": serializers.CharField(allow_blank=True),
        "refused": serializers.DictField(child=serializers.CharField(), help_text="Recipients not reached."),
        "opens": serializers.IntegerField(),
        "clicks": serializers.IntegerField(),
        "first_opened_at": serializers.DateTimeField(allow_null=True),
        "bounced_at": serializers.DateTimeField(allow_null=True),
        "stored_message": serializers.IntegerField(allow_null=True, help_text="The sent copy among the mail."),
        "created_at": serializers.DateTimeField(),
        "url": serializers.CharField(),
    },
)
TemplatePage = page_serializer("EmailTemplatePage", TEMPLATE)
MessagePage = page_serializer("OutgoingMessagePage", MESSAGE)


class TemplateListView(BaseAPIView):
    @extend_schema(
        summary="List email templates", tags=TAGS, parameters=PAGE_PARAMS,
        responses={200: TemplatePage, 400: ERROR}, operation_id="email_templates_list",
    )  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size"})
        user = api_user(request)
        rows, next_cursor, previous_cursor = object_page(
            request, services.visible_templates(user), "id", descending=False
        )
        return page_response(request, [template_json(t, user) for t in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create an email template",
        description="Merge fields: "
        + ", ".join(sorted(templates.FIELDS))
        + ", and <person|company|deal>.custom.<key>.",
        tags=TAGS, request=TemplateSerializer, responses={201: TEMPLATE, 400: ERROR},
        operation_id="email_templates_create",
    )  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        serializer = TemplateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = api_user(request)
        try:
            template = services.create_template(actor=user, **serializer.validated_data)
        except ComposeError as exc:
            raise _refuse(exc)
        body = template_json(template, user)
        return json_response(body, status=201, headers={"Location": body["url"]})


class TemplateDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve an email template", tags=TAGS, parameters=ID_PARAM,
        responses={200: TEMPLATE, 404: ERROR}, operation_id="email_templates_retrieve",
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        return json_response(template_json(get_or_404(services.visible_templates(user), pk), user))

    @extend_schema(
        summary="Change an email template", tags=TAGS, parameters=ID_PARAM,
        request=TemplateSerializer(partial=True), responses={200: TEMPLATE, 400: ERROR, 404: ERROR},
        operation_id="email_templates_partial_update",
    )  # fmt: skip
    def patch(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        template = get_or_404(services.visible_templates(user), pk)
        serializer = TemplateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k != "shared"}
        try:
            services.update_template(template, actor=user, **changes)
        except ComposeError as exc:
            raise _refuse(exc)
        return json_response(template_json(template, user))

    @extend_schema(
        summary="Delete an email template", tags=TAGS, parameters=ID_PARAM,
        responses={204: None, 400: ERROR, 404: ERROR}, operation_id="email_templates_delete",
    )  # fmt: skip
    def delete(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        try:
            services.delete_template(get_or_404(services.visible_templates(user), pk), actor=user)
        except ComposeError as exc:
            raise _refuse(exc)
        return HttpResponse(status=204)


class TemplatePreviewView(BaseAPIView):
    @extend_schema(
        summary="Preview an email template on a record",
        description="The subject and HTML as the template renders for the record (one you may see) and you.",
        tags=TAGS,
        parameters=[
            *ID_PARAM,
            OpenApiParameter("record_type", str, enum=list(compose.RECORD_TYPES)),
            OpenApiParameter("record_id", int),
        ],
        responses={200: PREVIEW, 400: ERROR, 404: ERROR},
        operation_id="email_templates_preview",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _check_params(request, {"record_type", "record_id"})
        user = api_user(request)
        template = get_or_404(services.visible_templates(user), pk)
        raw_id = request.query_params.get("record_id", "")
        if raw_id and not inputs.is_id(raw_id):
            raise QueryError("record_id", "must be a whole number.")
        try:
            record = compose.resolve_record(user, request.query_params.get("record_type"), int(raw_id or 0) or None)
        except ComposeError as exc:
            raise QueryError(exc.field, exc.message)
        subject, html = templates.render(template, record=record, sender=user)
        return json_response({"subject": subject, "html": html})


class MessageListView(BaseAPIView):
    @extend_schema(
        summary="List outgoing messages",
        description="Yours, newest first (administrators: everyone's), with status and tracking figures.",
        tags=TAGS,
        parameters=[OpenApiParameter("status", str, enum=[k for k, _ in STATUSES]), *PAGE_PARAMS],
        responses={200: MessagePage, 400: ERROR},
        operation_id="outgoing_messages_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "status"})
        rows = queries.visible_outgoing(api_user(request))
        status = request.query_params.get("status")
        if status is not None:
            if status not in dict(STATUSES):
                raise QueryError("status", f"use one of {', '.join(dict(STATUSES))}.")
            rows = rows.filter(status=status)
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [message_json(m) for m in found], next_cursor, previous_cursor)

    @extend_schema(
        summary="Send an email",
        description="Queued at once and sent within seconds (or at `send_at`) through the mailbox's own server, or "
        "the organisation's when no mailbox is given. `template` fills the subject and body from the record.",
        tags=TAGS,
        request=SendSerializer,
        responses={202: MESSAGE, 400: ERROR},
        operation_id="outgoing_messages_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = SendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = compose.send_from_form(api_user(request), dict(serializer.validated_data))
        except ComposeError as exc:
            raise _refuse(exc)
        body = message_json(message)
        return json_response(body, status=202, headers={"Location": body["url"]})


class MessageDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve an outgoing message", tags=TAGS, parameters=ID_PARAM,
        responses={200: MESSAGE, 404: ERROR}, operation_id="outgoing_messages_retrieve",
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(message_json(get_or_404(queries.visible_outgoing(api_user(request)), pk)))


class MessageCancelView(BaseAPIView):
    @extend_schema(
        summary="Cancel a scheduled message",
        description="Only a message not yet being sent; a 400 names `status` otherwise.",
        tags=TAGS, parameters=ID_PARAM, request=None,
        responses={200: MESSAGE, 400: ERROR, 404: ERROR}, operation_id="outgoing_messages_cancel",
    )  # fmt: skip
    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        message = get_or_404(queries.visible_outgoing(user).filter(sender=user), pk)
        if not services.cancel(message, actor=user):
            raise ValidationError(
                {"status": [f"A message that is {message.get_status_display().lower()} cannot be cancelled."]}
            )
        message.refresh_from_db()
        return json_response(message_json(message))


# --- the suppression list -------------------------------------------------------------------------------
SUPPRESSION = inline_serializer(
    "EmailSuppression",
    {
        "id": serializers.IntegerField(),
        "address": serializers.CharField(),
        "reason": serializers.ChoiceField(choices=[k for k, _ in SUPPRESSION_REASONS]),
        "detail": serializers.CharField(allow_blank=True),
        "created_by": serializers.IntegerField(allow_null=True, help_text="Who added it by hand; null: automatic."),
        "created_at": serializers.DateTimeField(),
        "url": serializers.CharField(),
    },
)
SuppressionPage = page_serializer("EmailSuppressionPage", SUPPRESSION)


class SuppressionWriteSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=254)
    detail = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def suppression_json(entry: Suppression) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "address": entry.address,
        "reason": entry.reason,
        "detail": entry.detail,
        "created_by": entry.created_by_id,
        "created_at": to_json_value(entry.created_at),
        "url": f"/api/v1/email-suppressions/{entry.pk}/",
    }


def _settings_manager(request: Request) -> Any:
    user = api_user(request)
    if not user.can_manage_settings():
        raise PermissionDenied("Only administrators can see and change the suppression list.")
    return user


class SuppressionListView(BaseAPIView):
    @extend_schema(
        summary="List suppressed email addresses",
        description="Addresses no email goes to: unsubscribed, hard-bounced, or added by hand (settings managers).",
        tags=TAGS,
        parameters=[*PAGE_PARAMS, OpenApiParameter("q", {"type": "string", "maxLength": 254},
                                                   description="Addresses containing this text.")],
        responses={200: SuppressionPage, 400: ERROR, 403: ERROR}, operation_id="email_suppressions_list",
    )  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "q"})
        _settings_manager(request)
        query = (request.query_params.get("q") or "").strip()
        problem = inputs.bad_text(query) or ("at most 254 characters." if len(query) > 254 else "")
        if problem:
            raise QueryError("q", problem)
        rows = Suppression.objects.all()
        if query:
            rows = rows.filter(address__contains=query.lower())
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [suppression_json(e) for e in found], next_cursor, previous_cursor)

    @extend_schema(
        summary="Suppress an email address",
        description="201 with the entry; 200 with the existing entry when the address was on the list already.",
        tags=TAGS, request=SuppressionWriteSerializer,
        responses={200: SUPPRESSION, 201: SUPPRESSION, 400: ERROR, 403: ERROR},
        operation_id="email_suppressions_create",
    )  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        user = _settings_manager(request)
        serializer = SuppressionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            added = services.add_suppression(data["address"], actor=user, detail=data["detail"])
        except ComposeError as exc:
            raise _refuse(exc)
        entry = Suppression.objects.get(address=data["address"].strip().lower())
        body = suppression_json(entry)
        return json_response(body, status=201 if added else 200, headers={"Location": body["url"]} if added else None)


class SuppressionDetailView(BaseAPIView):
    @extend_schema(
        summary="Take an address off the suppression list", tags=TAGS, parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR}, operation_id="email_suppressions_destroy",
    )  # fmt: skip
    def delete(self, request: Request, pk: int) -> HttpResponse:
        user = _settings_manager(request)
        services.remove_suppression(get_or_404(Suppression.objects.all(), pk), actor=user)
        return HttpResponse(status=204)
