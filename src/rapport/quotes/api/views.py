"""Quote endpoints: list a deal's quotes, create one from the deal's line items, read it (ETag),
replace its lines while draft (If-Match), send, accept, decline, and download its PDF."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.schema import (
    CURSOR,
    ETAG,
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    IF_NONE_MATCH,
    LOCATION,
    LinkSerializer,
    page_serializer,
)
from rapport.api.views import BaseAPIView, get_or_404, idempotent_create, if_match_version, json_response, page_response
from rapport.core import listing
from rapport.core.errors import PermissionDenied
from rapport.core.inputs import is_id
from rapport.core.models import to_json_value
from rapport.core.visibility import can, record_link
from rapport.deals.models import Deal

from .. import queries
from .. import services as quotes
from ..models import QUOTE_STATUSES, Quote
from ..serializers import LineItemSerializer
from ..views.quotes import pdf_response

TAG = ["Quotes"]
STATUS_HELP = "One of: " + ", ".join(s for s, _ in QUOTE_STATUSES) + "."
from rapport.api.schema import ERROR  # noqa: E402

ID = OpenApiParameter("id", int, OpenApiParameter.PATH)
IF_MATCH = OpenApiParameter(
    "If-Match", str, OpenApiParameter.HEADER, description="ETag from a read; a stale value gets 412."
)


# --- schema-only serializers (reads are built by hand, writes are validated by the services) -----
class QuoteLineSerializer(serializers.Serializer):
    product = LinkSerializer(allow_null=True)
    name = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    tax_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    net = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax = serializers.DecimalField(max_digits=14, decimal_places=2)


class QuoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(help_text="Q-<year>-<sequence>, e.g. Q-2026-0042.")
    deal = LinkSerializer()
    status = serializers.CharField(help_text=STATUS_HELP)
    currency = serializers.CharField()
    valid_until = serializers.DateField(allow_null=True)
    customer_name = serializers.CharField()
    customer_address = serializers.CharField()
    terms = serializers.CharField()
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    tax_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    created_at = serializers.DateTimeField()
    created_by = LinkSerializer(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    version = serializers.IntegerField()
    lines = QuoteLineSerializer(many=True)
    url = serializers.CharField()
    pdf_url = serializers.CharField()


class QuoteSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    deal = serializers.IntegerField()
    status = serializers.CharField(help_text=STATUS_HELP)
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    valid_until = serializers.DateField(allow_null=True)
    created_at = serializers.DateTimeField()
    url = serializers.CharField()


QuotePageSerializer = page_serializer("QuotePage", QuoteSummarySerializer)


class QuoteCreateSerializer(serializers.Serializer):
    valid_days = serializers.IntegerField(min_value=0, max_value=3650, required=False, default=30)


class QuoteLinesSerializer(serializers.Serializer):
    lines = LineItemSerializer(
        many=True, required=False, help_text="The whole list of lines, in order; replaces the current lines."
    )
    valid_until = serializers.DateField(required=False, allow_null=True)
    terms = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    customer_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    customer_address = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class QuoteDetailsSerializer(serializers.Serializer):
    valid_until = serializers.DateField(required=False, allow_null=True)
    terms = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    customer_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    customer_address = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class QuoteAcceptSerializer(serializers.Serializer):
    mark_deal_won = serializers.BooleanField(required=False, default=False)


# --- representation ------------------------------------------------------------------------------
def represent_quote(quote: Quote, viewer: Any) -> dict[str, Any]:
    return {
        "id": quote.pk,
        "number": quote.number,
        "deal": {"id": quote.deal_id, "name": quote.deal.title},
        "status": quote.status,
        "currency": quote.currency,
        "valid_until": to_json_value(quote.valid_until),
        "customer_name": quote.customer_name,
        "customer_address": quote.customer_address,
        "terms": quote.terms,
        "subtotal": str(quote.subtotal),
        "tax_total": str(quote.tax_total),
        "total": str(quote.total),
        "created_at": to_json_value(quote.created_at),
        "created_by": {"id": quote.created_by_id, "name": quote.created_by.display_name} if quote.created_by else None,
        "sent_at": to_json_value(quote.sent_at),
        "decided_at": to_json_value(quote.decided_at),
        "version": quote.version,
        "lines": [
            {
                "product": record_link(viewer, ln.product) if ln.product else None,
                "name": ln.name,
                "quantity": str(ln.quantity),
                "unit_price": str(ln.unit_price),
                "discount_percent": str(ln.discount_percent),
                "tax_percent": str(ln.tax_percent),
                "net": str(ln.net),
                "tax": str(ln.tax),
            }
            for ln in quote.lines.all()
        ],
        "url": f"/api/v1/quotes/{quote.pk}/",
        "pdf_url": f"/api/v1/quotes/{quote.pk}/pdf/",
    }


def _answer(quote_id: int, user: Any, status: int = 200, **headers: str) -> HttpResponse:
    quote = _fetch(user, quote_id)
    return json_response(
        represent_quote(quote, user), status=status, headers={"ETag": quotes.quote_etag(quote), **headers}
    )


def _fetch(user: Any, pk: int) -> Quote:
    quote = (
        queries.visible_quotes(user)
        .select_related("deal", "created_by")
        .prefetch_related("lines__product")
        .filter(pk=pk)
        .first()
    )
    if quote is None:
        raise Http404
    return quote


def _expected_version(request: Request, quote: Quote) -> int | None:
    return if_match_version(request, quote.pk, quotes.quote_etag(quote))


# --- views ---------------------------------------------------------------------------------------
class QuoteListView(BaseAPIView):
    @extend_schema(
        summary="List quotes",
        description="Quotes of deals you can see, newest first, keyset-paginated by id.",
        tags=TAG,
        parameters=[
            OpenApiParameter("deal", int, description="Only this deal's quotes."),
            OpenApiParameter("status", str, enum=[s for s, _ in QUOTE_STATUSES]),
            CURSOR,
            OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
        ],
        responses={200: QuotePageSerializer, 400: ERROR},
        operation_id="quotes_list",
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        unknown = set(params) - {"deal", "status", "cursor", "page_size"}
        if unknown:
            name = sorted(unknown)[0]
            raise listing.QueryError(name, f"unknown parameter {name}.")
        qs = queries.visible_quotes(request.user)
        if params.get("deal"):
            if not is_id(params["deal"]):
                raise listing.QueryError("deal", "give a deal id.")
            qs = qs.filter(deal_id=int(params["deal"]))
        if params.get("status"):
            if params["status"] not in dict(QUOTE_STATUSES):
                raise listing.QueryError("status", "one of " + ", ".join(s for s, _ in QUOTE_STATUSES) + ".")
            qs = qs.filter(status=params["status"])
        cursor = params.get("cursor", "")
        if cursor:
            if not is_id(cursor):
                raise listing.QueryError("cursor", "this cursor is not valid.")
            qs = qs.filter(id__lt=int(cursor))
        size = listing.page_size(params)
        rows = list(
            qs.order_by("-id").values(
                "id", "number", "deal_id", "status", "currency", "total", "valid_until", "created_at"
            )[: size + 1]
        )
        more = len(rows) > size
        rows = rows[:size]
        results = [
            {
                "id": r["id"],
                "number": r["number"],
                "deal": r["deal_id"],
                "status": r["status"],
                "currency": r["currency"],
                "total": str(r["total"]),
                "valid_until": to_json_value(r["valid_until"]),
                "created_at": to_json_value(r["created_at"]),
                "url": f"/api/v1/quotes/{r['id']}/",
            }
            for r in rows
        ]
        return page_response(request, results, str(rows[-1]["id"]) if more and rows else None)


class DealQuotesView(BaseAPIView):
    @extend_schema(
        summary="Create a quote from a deal's line items",
        tags=TAG,
        parameters=[
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="The deal."),
            IDEMPOTENCY_KEY,
            ETAG,
            LOCATION,
            IDEMPOTENT_REPLAYED,
        ],
        request=QuoteCreateSerializer,
        responses={201: QuoteSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="deals_quotes_create",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        return idempotent_create(request, lambda: self._create(request, pk))

    def _create(self, request: Request, pk: int) -> HttpResponse:
        deal = get_or_404(Deal.objects.visible_to(request.user), pk)
        if not can(request.user, deal, "change"):
            raise PermissionDenied("You may not change this deal or its quotes.")
        empty = request.META.get("CONTENT_LENGTH") in (None, "", "0")
        body = QuoteCreateSerializer(data={} if empty else request.data)
        body.is_valid(raise_exception=True)
        quote = quotes.create_quote_from_deal(
            deal, actor=request.user, valid_days=body.validated_data["valid_days"], source="api"
        )
        return _answer(quote.pk, request.user, status=201, Location=f"/api/v1/quotes/{quote.pk}/")


class QuoteDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a quote",
        tags=TAG,
        parameters=[ID, IF_NONE_MATCH, ETAG],
        responses={200: QuoteSerializer, 404: ERROR},
        operation_id="quotes_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        quote = _fetch(request.user, pk)
        etag = quotes.quote_etag(quote)
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        return json_response(represent_quote(quote, request.user), headers={"ETag": etag})

    @extend_schema(
        summary="Change a draft quote: its lines, validity, terms or customer block",
        description="Only while the quote is a draft; totals are recomputed when the lines change.",
        tags=TAG,
        parameters=[ID, IF_MATCH, ETAG],
        request=QuoteLinesSerializer,
        responses={200: QuoteSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 412: ERROR},
        operation_id="quotes_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        quote = _fetch(request.user, pk)
        expected = _expected_version(request, quote)
        if not isinstance(request.data, dict) or not ({"lines", *quotes.DETAIL_FIELDS} & set(request.data)):
            raise serializers.ValidationError(
                {"lines": ["Give the whole list of lines, or one of: " + ", ".join(quotes.DETAIL_FIELDS) + "."]}
            )
        details = QuoteDetailsSerializer(data=request.data, partial=True)
        details.is_valid(raise_exception=True)
        lines = (
            quotes.clean_lines(request.data["lines"], quote.currency, actor=request.user)
            if "lines" in request.data
            else None
        )
        with transaction.atomic():
            if details.validated_data:
                quote = quotes.update_quote_details(
                    quote, details.validated_data, actor=request.user, expected_version=expected, source="api"
                )
                expected = quote.version
            if lines is not None:
                quotes.update_quote_lines(quote, lines, actor=request.user, expected_version=expected, source="api")
        return _answer(pk, request.user)


class QuoteActionView(BaseAPIView):
    action_name = ""

    def post(self, request: Request, pk: int) -> HttpResponse:
        quote = _fetch(request.user, pk)
        expected = _expected_version(request, quote)
        if self.action_name == "send":
            quotes.send_quote(quote, actor=request.user, source="api", expected_version=expected)
        elif self.action_name == "decline":
            quotes.decline_quote(quote, actor=request.user, source="api", expected_version=expected)
        else:
            empty = request.META.get("CONTENT_LENGTH") in (None, "", "0")  # a bare POST means the defaults
            body = QuoteAcceptSerializer(data={} if empty else request.data)
            body.is_valid(raise_exception=True)
            quotes.accept_quote(
                quote,
                actor=request.user,
                mark_deal_won=body.validated_data["mark_deal_won"],
                source="api",
                expected_version=expected,
            )
        return _answer(pk, request.user)


def _action_view(name: str, summary: str, request_body: Any) -> type[QuoteActionView]:
    schema = extend_schema(
        summary=summary,
        tags=TAG,
        parameters=[ID, IF_MATCH, ETAG],
        request=request_body,
        responses={200: QuoteSerializer, 400: ERROR, 403: ERROR, 404: ERROR, 412: ERROR},
        operation_id=f"quotes_{name}",
    )

    def post(self: QuoteActionView, request: Request, pk: int) -> HttpResponse:
        return QuoteActionView.post(self, request, pk)

    return type(f"Quote{name.title()}View", (QuoteActionView,), {"action_name": name, "post": schema(post)})


QuoteSendView = _action_view("send", "Mark a draft quote as sent", None)
QuoteAcceptView = _action_view("accept", "Accept a sent quote (optionally marking the deal won)", QuoteAcceptSerializer)
QuoteDeclineView = _action_view("decline", "Decline a sent quote", None)


class QuotePDFView(BaseAPIView):
    @extend_schema(
        summary="Download a quote as PDF",
        tags=TAG,
        parameters=[ID],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 404: ERROR},
        operation_id="quotes_pdf",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return pdf_response(_fetch(request.user, pk))
