"""``/api/v1/integrations/``: the inbound endpoint of each integration (signed, no token) and the integrations'
settings (settings managers only: create, change, new secret, delete, the delivery log).
Receiving is ``integrations.services.receive``; the settings writes are shared with the settings pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.views import APIView

from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import listing
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value

from .. import queries, services
from ..models import KINDS, InboundDelivery, Integration
from ..serializers import IntegrationSerializer
from ..telephony import CallSerializer

TAGS = ["Integrations"]


class InboundRecordSerializer(serializers.Serializer):
    """A record a delivery or call wrote."""

    type = serializers.CharField(help_text="The record type key: companies, people, invoices, activities…")
    id = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["created", "updated", "unchanged", "deleted", "logged"])


def record_list() -> serializers.ListField:
    return serializers.ListField(child=InboundRecordSerializer())


RESULT = inline_serializer(
    "InboundResult",
    {
        "status": serializers.ChoiceField(
            choices=["processed", "ignored", "duplicate"],
            help_text="duplicate: this delivery id was processed before; nothing was written again.",
        ),
        "delivery_id": serializers.CharField(),
        "event_type": serializers.CharField(allow_blank=True),
        "message": serializers.CharField(allow_blank=True),
        "records": record_list(),
        "received_at": serializers.DateTimeField(),
    },
)
SIGNATURE_HEADERS = [
    OpenApiParameter(
        "webhook-id",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Standard Webhooks: the delivery's id (idempotency key).",
    ),
    OpenApiParameter(
        "webhook-timestamp",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Unix seconds; at most 5 minutes from now.",
    ),
    OpenApiParameter(
        "webhook-signature",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="v1,<base64 HMAC-SHA256 of id.timestamp.body keyed with the integration's secret>.",
    ),
    OpenApiParameter(
        "X-Rapport-Secret",
        str,
        OpenApiParameter.HEADER,
        required=False,
        description="Invoice Ninja integrations only (it cannot sign): the secret itself, as a custom header.",
    ),
]


class InboundView(APIView):
    """No token: a delivery is authenticated by its signature (or Invoice Ninja's secret header)."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Receive a delivery for an integration",
        description=(
            "Signed per Standard Webhooks with the integration's secret; a delivery id already processed answers "
            "`duplicate` and writes nothing; a refused payload answers 400 naming the fields and may be sent again "
            "with the same id. The body depends on the integration's kind (docs/integrations.md): generic "
            "`{type, match, data}` or `{records: [...]}`, Invoice Ninja's invoice/payment/client payloads, or a call."
        ),
        tags=TAGS,
        auth=[],
        parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH), *SIGNATURE_HEADERS],
        request=OpenApiTypes.OBJECT,
        responses={200: RESULT, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR, 413: ERROR},
        examples=[
            OpenApiExample(
                "Generic: a company by domain",
                value={
                    "event": "erp.customer",
                    "type": "companies",
                    "match": {"domain": "acme.com"},
                    "data": {"name": "Acme"},
                },
                request_only=True,
            )
        ],
        operation_id="integrations_inbound",
    )
    def post(self, request: Request, slug: str) -> HttpResponse:
        received = services.receive(slug, request.headers, request.body)
        return json_response(received.body, status=received.status)


# --- settings ---------------------------------------------------------------------------------------------------


def integration_json(i: Integration, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": i.pk,
        "name": i.name,
        "slug": i.slug,
        "kind": i.kind,
        "active": i.active,
        "create_unknown_callers": i.create_unknown_callers,
        "inbound_url": i.inbound_path,
        "secret_hint": f"…{i.secret_hint}",
        "service_user": {"id": i.service_user_id, "name": i.service_user.display_name},
        "created_at": to_json_value(i.created_at),
        "updated_at": to_json_value(i.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def delivery_json(d: InboundDelivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "delivery_id": d.delivery_id,
        "event_type": d.event_type,
        "status": d.status,
        "http_status": d.http_status,
        "message": d.message,
        "fields": d.fields,
        "records": d.records,
        "attempts": d.attempts,
        "received_at": to_json_value(d.received_at),
        "processed_at": to_json_value(d.processed_at),
    }


USER = inline_serializer("IntegrationUser", {"id": serializers.IntegerField(), "name": serializers.CharField()})
_FIELDS: dict[str, serializers.Field] = {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "slug": serializers.CharField(),
    "kind": serializers.ChoiceField(choices=KINDS),
    "active": serializers.BooleanField(),
    "create_unknown_callers": serializers.BooleanField(),
    "inbound_url": serializers.CharField(help_text="Where the sender posts: a path on this installation."),
    "secret_hint": serializers.CharField(help_text="The secret's last characters (it is shown once)."),
    "service_user": USER,
    "created_at": serializers.DateTimeField(),
    "updated_at": serializers.DateTimeField(),
}
INTEGRATION = inline_serializer("Integration", _FIELDS)
INTEGRATION_WITH_SECRET = inline_serializer(
    "IntegrationWithSecret",
    {**_FIELDS, "secret": serializers.CharField(help_text="whsec_…: shown this once; keep it in the sender.")},
)
DELIVERY = inline_serializer(
    "InboundDelivery",
    {
        "id": serializers.IntegerField(),
        "delivery_id": serializers.CharField(),
        "event_type": serializers.CharField(allow_blank=True),
        "status": serializers.ChoiceField(choices=["processed", "failed", "ignored"]),
        "http_status": serializers.IntegerField(),
        "message": serializers.CharField(allow_blank=True),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
        "records": record_list(),
        "attempts": serializers.IntegerField(),
        "received_at": serializers.DateTimeField(),
        "processed_at": serializers.DateTimeField(allow_null=True),
    },
)
IntegrationPage = page_serializer("IntegrationPage", INTEGRATION)
DeliveryPage = page_serializer("InboundDeliveryPage", DELIVERY)
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]


class IntegrationAPIView(BaseAPIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not api_user(request).can_manage_settings():
            raise PermissionDenied("Only administrators can see and change integrations.")


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed))}.")


class IntegrationListView(IntegrationAPIView):
    @extend_schema(
        summary="List integrations",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={200: IntegrationPage, 400: ERROR, 403: ERROR},
        operation_id="integrations_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size"})
        rows, next_cursor, previous_cursor = object_page(request, queries.integrations(), "id", descending=False)
        return page_response(request, [integration_json(i) for i in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create an integration",
        description="The answer carries the signing secret, this once.",
        tags=TAGS,
        request=IntegrationSerializer,
        responses={201: INTEGRATION_WITH_SECRET, 400: ERROR, 403: ERROR},
        operation_id="integrations_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = IntegrationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        integration, secret = services.create_integration(dict(serializer.validated_data), actor=api_user(request))
        body = integration_json(integration, secret)
        return json_response(body, status=201, headers={"Location": f"/api/v1/integrations/{integration.pk}/"})


class IntegrationDetailView(IntegrationAPIView):
    @extend_schema(
        summary="Retrieve an integration",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: INTEGRATION, 403: ERROR, 404: ERROR},
        operation_id="integrations_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(integration_json(get_or_404(queries.integrations(), pk)))

    @extend_schema(
        summary="Change an integration (name, on/off, unknown callers)",
        tags=TAGS,
        parameters=ID_PARAM,
        request=IntegrationSerializer(partial=True),
        responses={200: INTEGRATION, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="integrations_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        integration = get_or_404(queries.integrations(), pk)
        serializer = IntegrationSerializer(data=request.data, partial=True, context={"instance": integration})
        serializer.is_valid(raise_exception=True)
        services.update_integration(integration, dict(serializer.validated_data), actor=api_user(request))
        return json_response(integration_json(integration))

    @extend_schema(
        summary="Delete an integration",
        description="Its delivery log goes with it; its service user is deactivated (its records keep it).",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="integrations_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        services.delete_integration(get_or_404(queries.integrations(), pk), actor=api_user(request))
        return HttpResponse(status=204)


class IntegrationRotateView(IntegrationAPIView):
    @extend_schema(
        summary="Give an integration a new secret",
        description="The answer carries the new secret, this once; the old one is accepted for 24 hours more.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=None,
        responses={200: INTEGRATION_WITH_SECRET, 403: ERROR, 404: ERROR},
        operation_id="integrations_rotate_secret",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        integration = get_or_404(queries.integrations(), pk)
        secret = services.rotate_secret(integration, actor=api_user(request))
        return json_response(integration_json(integration, secret))


class DeliveryListView(IntegrationAPIView):
    @extend_schema(
        summary="List an integration's received deliveries with their outcome",
        description="Newest first, without payloads.",
        tags=TAGS,
        parameters=[
            *ID_PARAM,
            OpenApiParameter("status", str, enum=["processed", "failed", "ignored"], description="Only these."),
            *PAGE_PARAMS,
        ],
        responses={200: DeliveryPage, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="integrations_deliveries_list",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "status"})
        integration = get_or_404(Integration.objects, pk)
        rows = queries.deliveries_of(integration)
        status = request.query_params.get("status")
        if status is not None:
            if status not in ("processed", "failed", "ignored"):
                raise QueryError("status", "use processed, failed or ignored.")
            rows = rows.filter(status=status)
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [delivery_json(d) for d in found], next_cursor, previous_cursor)


# --- telephony ------------------------------------------------------------------------------------------------

LOOKUP = inline_serializer(
    "CallerLookup",
    {
        "number": serializers.CharField(help_text="E.164"),
        "display": serializers.CharField(),
        "people": serializers.ListField(
            child=inline_serializer(
                "CallerPerson",
                {
                    "id": serializers.IntegerField(),
                    "name": serializers.CharField(),
                    "url": serializers.CharField(),
                    "company": inline_serializer(
                        "CallerPersonCompany",
                        {"id": serializers.IntegerField(), "name": serializers.CharField(allow_null=True)},
                        allow_null=True,
                    ),
                },
            )
        ),
        "companies": serializers.ListField(
            child=inline_serializer(
                "CallerCompany",
                {"id": serializers.IntegerField(), "name": serializers.CharField(), "url": serializers.CharField()},
            )
        ),
        "deals": serializers.ListField(
            child=inline_serializer(
                "CallerDeal",
                {
                    "id": serializers.IntegerField(),
                    "title": serializers.CharField(),
                    "stage": serializers.CharField(),
                    "amount": serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True),
                    "currency": serializers.CharField(),
                    "url": serializers.CharField(),
                },
            )
        ),
    },
)
CALL_LOGGED = inline_serializer(
    "CallLogged",
    {
        "number": serializers.CharField(help_text="E.164"),
        "person": serializers.IntegerField(allow_null=True),
        "company": serializers.IntegerField(allow_null=True),
        "activity": serializers.IntegerField(),
        "records": record_list(),
    },
)
TELEPHONY_TAGS = ["Telephony"]


class CallerLookupView(BaseAPIView):
    @extend_schema(
        summary="Who is calling: people, companies and open deals with a phone number",
        description=(
            "For a PBX's screen pop. The number may be in any format; answers only what the token's user may see."
        ),
        tags=TELEPHONY_TAGS,
        parameters=[OpenApiParameter("number", str, required=True, description="+33 1 23 45 67 89, 0033123456789…")],
        responses={200: LOOKUP, 400: ERROR},
        operation_id="telephony_lookup",
    )
    def get(self, request: Request) -> HttpResponse:
        from .. import telephony

        _check_params(request, {"number"})
        try:
            found = telephony.lookup(api_user(request), request.query_params.get("number", ""))
        except services.Refused as refused:
            raise QueryError("number", refused.fields.get("number", [refused.message])[0]) from refused
        return json_response(found)


class CallLogView(BaseAPIView):
    @extend_schema(
        summary="Log a call",
        description=(
            "A done call activity on the person with the number (and their company), as the token's user. An unknown "
            "number is logged on nothing unless `create_unknown` is true (then a lead is created). Send an "
            "Idempotency-Key to make retries safe."
        ),
        tags=TELEPHONY_TAGS,
        parameters=[
            OpenApiParameter("create_unknown", bool, description="Create a lead for a number nobody has."),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False),
        ],
        request=CallSerializer,
        responses={201: CALL_LOGGED, 400: ERROR, 403: ERROR, 422: ERROR},
        operation_id="telephony_log_call",
    )
    def post(self, request: Request) -> HttpResponse:
        from rapport.api.views import idempotent_create

        from .. import telephony

        _check_params(request, {"create_unknown"})
        create_unknown = request.query_params.get("create_unknown", "false")
        if create_unknown not in ("true", "false"):
            raise QueryError("create_unknown", "true or false.")
        serializer = telephony.CallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def create() -> HttpResponse:
            try:
                result = telephony.log_call(
                    dict(serializer.validated_data), actor=api_user(request), create_unknown=create_unknown == "true"
                )
            except services.Refused as refused:
                from rest_framework.exceptions import ValidationError

                raise ValidationError(refused.fields or refused.message) from refused
            result["activity"] = result["activity"].pk
            return json_response(result, status=201)

        return idempotent_create(request, create)
