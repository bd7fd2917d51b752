"""``/api/v1/webhooks/``: subscriptions (CRUD, new secret, test send), their deliveries and redelivery. Settings
managers only, reads included (a subscription carries its signing secret). Validation in
``webhooks.serializers``, writes in ``webhooks.services``, shared with the settings pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import listing
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value

from .. import queries, services
from ..models import EVENT_TYPE_KEYS, Delivery, DeliveryAttempt, Subscription
from ..serializers import SubscriptionSerializer


def subscription_json(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.pk,
        "name": s.name,
        "url": s.url,
        "event_types": list(s.event_types),
        "type_keys": list(s.type_keys),
        "active": s.active,
        "flagged_at": to_json_value(s.flagged_at),
        "failed_in_a_row": s.failed_in_a_row,
        "disabled_reason": s.disabled_reason,
        "secret": s.secret,
        "created_by": {"id": s.created_by_id, "name": s.created_by.display_name},
        "created_at": to_json_value(s.created_at),
        "updated_at": to_json_value(s.updated_at),
        "deliveries": f"/api/v1/webhooks/{s.pk}/deliveries/",
        "url_self": f"/api/v1/webhooks/{s.pk}/",
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "subscription": d.subscription_id,
        "message_id": d.message_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": to_json_value(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": to_json_value(d.created_at),
        "finished_at": to_json_value(d.finished_at),
    }


def attempt_json(a: DeliveryAttempt) -> dict[str, Any]:
    return {
        "at": to_json_value(a.at),
        "status_code": a.status_code,
        "response_excerpt": a.response_excerpt,
        "error": a.error,
        "latency_ms": a.latency_ms,
    }


USER = inline_serializer("WebhookUser", {"id": serializers.IntegerField(), "name": serializers.CharField()})
SUBSCRIPTION = inline_serializer(
    "WebhookSubscription",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "url": serializers.CharField(),
        "event_types": serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_KEYS)),
        "type_keys": serializers.ListField(child=serializers.CharField()),
        "active": serializers.BooleanField(),
        "flagged_at": serializers.DateTimeField(allow_null=True),
        "failed_in_a_row": serializers.IntegerField(),
        "disabled_reason": serializers.CharField(allow_blank=True),
        "secret": serializers.CharField(help_text="whsec_…: the key receivers verify signatures with."),
        "created_by": USER,
        "created_at": serializers.DateTimeField(),
        "updated_at": serializers.DateTimeField(),
        "deliveries": serializers.CharField(),
        "url_self": serializers.CharField(),
    },
)
_DELIVERY_FIELDS: dict[str, serializers.Field] = {
    "id": serializers.IntegerField(),
    "subscription": serializers.IntegerField(),
    "message_id": serializers.CharField(help_text="The webhook-id header: the same on every attempt."),
    "event_id": serializers.IntegerField(allow_null=True),
    "event_type": serializers.CharField(),
    "status": serializers.ChoiceField(choices=["pending", "succeeded", "failed"]),
    "attempts": serializers.IntegerField(),
    "next_attempt_at": serializers.DateTimeField(allow_null=True),
    "last_status_code": serializers.IntegerField(allow_null=True),
    "last_error": serializers.CharField(allow_blank=True),
    "created_at": serializers.DateTimeField(),
    "finished_at": serializers.DateTimeField(allow_null=True),
}
DELIVERY = inline_serializer("WebhookDelivery", _DELIVERY_FIELDS)
ATTEMPT = inline_serializer(
    "WebhookAttempt",
    {
        "at": serializers.DateTimeField(),
        "status_code": serializers.IntegerField(allow_null=True),
        "response_excerpt": serializers.CharField(allow_blank=True),
        "error": serializers.CharField(allow_blank=True),
        "latency_ms": serializers.IntegerField(),
    },
)
DELIVERY_DETAIL = inline_serializer(
    "WebhookDeliveryDetail",
    {
        **_DELIVERY_FIELDS,
        "payload": serializers.DictField(help_text="The JSON body posted to the receiver."),
        "attempt_log": serializers.ListField(child=ATTEMPT),
    },
)
SubscriptionPage = page_serializer("WebhookSubscriptionPage", SUBSCRIPTION)
DeliveryPage = page_serializer("WebhookDeliveryPage", DELIVERY)
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]
TAGS = ["Webhooks"]


class WebhookAPIView(BaseAPIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not api_user(request).can_manage_settings():
            raise PermissionDenied("Only administrators can see and change webhooks.")


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed))}.")


class SubscriptionListView(WebhookAPIView):
    @extend_schema(
        summary="List webhook subscriptions",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={200: SubscriptionPage, 400: ERROR, 403: ERROR},
        operation_id="webhooks_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size"})
        rows, next_cursor, previous_cursor = object_page(request, queries.subscriptions(), "id", descending=False)
        return page_response(request, [subscription_json(s) for s in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create a webhook subscription",
        description="The answer carries the signing secret (whsec_…) the receiver verifies deliveries with.",
        tags=TAGS,
        request=SubscriptionSerializer,
        responses={201: SUBSCRIPTION, 400: ERROR, 403: ERROR},
        operation_id="webhooks_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = SubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.create_subscription(dict(serializer.validated_data), actor=api_user(request))
        body = subscription_json(subscription)
        return json_response(body, status=201, headers={"Location": body["url_self"]})


class SubscriptionDetailView(WebhookAPIView):
    @extend_schema(
        summary="Retrieve a webhook subscription",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: SUBSCRIPTION, 403: ERROR, 404: ERROR},
        operation_id="webhooks_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(subscription_json(get_or_404(queries.subscriptions(), pk)))

    @extend_schema(
        summary="Change a webhook subscription",
        description="Setting `active` to true re-enables a subscription disabled after failures.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=SubscriptionSerializer(partial=True),
        responses={200: SUBSCRIPTION, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="webhooks_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        subscription = get_or_404(queries.subscriptions(), pk)
        serializer = SubscriptionSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_subscription(subscription, dict(serializer.validated_data), actor=api_user(request))
        return json_response(subscription_json(subscription))

    @extend_schema(
        summary="Delete a webhook subscription",
        description="Its deliveries and their log go with it.",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="webhooks_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        services.delete_subscription(get_or_404(Subscription.objects, pk), actor=api_user(request))
        return HttpResponse(status=204)


class SubscriptionRotateView(WebhookAPIView):
    @extend_schema(
        summary="Give a webhook subscription a new signing secret",
        tags=TAGS,
        parameters=ID_PARAM,
        request=None,
        responses={200: SUBSCRIPTION, 403: ERROR, 404: ERROR},
        operation_id="webhooks_rotate_secret",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        subscription = get_or_404(queries.subscriptions(), pk)
        services.rotate_secret(subscription, actor=api_user(request))
        return json_response(subscription_json(subscription))


class SubscriptionTestView(WebhookAPIView):
    @extend_schema(
        summary="Send a test event (ping) to a webhook subscription",
        description="Answers with the delivery, which is sent within seconds; follow it in the deliveries.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=None,
        responses={202: DELIVERY, 403: ERROR, 404: ERROR},
        operation_id="webhooks_test",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        subscription = get_or_404(Subscription.objects, pk)
        delivery = services.send_test(subscription, actor=api_user(request))
        return json_response(delivery_json(delivery), status=202)


class DeliveryListView(WebhookAPIView):
    @extend_schema(
        summary="List a webhook subscription's deliveries",
        description="Newest first, without payloads.",
        tags=TAGS,
        parameters=[
            *ID_PARAM,
            OpenApiParameter("status", str, enum=["pending", "succeeded", "failed"], description="Only these."),
            *PAGE_PARAMS,
        ],
        responses={200: DeliveryPage, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="webhooks_deliveries_list",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "status"})
        subscription = get_or_404(Subscription.objects, pk)
        rows = queries.deliveries_of(subscription)
        status = request.query_params.get("status")
        if status is not None:
            if status not in ("pending", "succeeded", "failed"):
                raise QueryError("status", "use pending, succeeded or failed.")
            rows = rows.filter(status=status)
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [delivery_json(d) for d in found], next_cursor, previous_cursor)


class DeliveryDetailView(WebhookAPIView):
    @extend_schema(
        summary="Retrieve a webhook delivery with its payload and attempts",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: DELIVERY_DETAIL, 403: ERROR, 404: ERROR},
        operation_id="webhooks_deliveries_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        delivery = get_or_404(Delivery.objects, pk)
        body = delivery_json(delivery)
        body["payload"] = delivery.payload
        body["attempt_log"] = [attempt_json(a) for a in delivery.attempt_rows.order_by("id")]
        return json_response(body)


class DeliveryRedeliverView(WebhookAPIView):
    @extend_schema(
        summary="Send a webhook delivery again",
        description="Same webhook-id, so a receiver that already has it can tell; sent within seconds.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=None,
        responses={202: DELIVERY, 403: ERROR, 404: ERROR},
        operation_id="webhooks_deliveries_redeliver",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        delivery = services.redeliver(get_or_404(Delivery.objects, pk), actor=api_user(request))
        return json_response(delivery_json(delivery), status=202)
