"""The ``/api/v1/exchange-rates/``, ``/api/v1/quotas/`` and ``/api/v1/forecast/`` endpoints (validation in
``forecasting.serializers``, writes in ``forecasting.services``, shared with the settings pages)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.views import (
    BaseAPIView,
    SettingsAPIView,
    get_or_404,
    json_response,
    object_page,
    page_link,
    page_response,
)
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError

from .. import forecast, services
from ..models import ExchangeRate, Quota
from ..money import base_currency
from ..queries import visible_quotas
from ..serializers import ExchangeRateSerializer, QuotaSerializer


def rate_json(rate: ExchangeRate) -> dict[str, Any]:
    return {
        "id": rate.pk,
        "currency": rate.currency,
        "rate": str(rate.rate),
        "valid_from": rate.valid_from.isoformat(),
        "url": f"/api/v1/exchange-rates/{rate.pk}/",
    }


def quota_json(quota: Quota) -> dict[str, Any]:
    return {
        "id": quota.pk,
        "user": {"id": quota.user_id, "name": quota.user.display_name},
        "period": quota.period,
        "period_start": quota.period_start.isoformat(),
        "amount": str(quota.amount),
        "currency": base_currency(),
        "url": f"/api/v1/quotas/{quota.pk}/",
    }


from rapport.api.schema import CURSOR, ERROR, page_serializer  # noqa: E402
from rapport.core import listing  # noqa: E402

RATE_SCHEMA = inline_serializer(
    "ExchangeRate",
    {
        "id": serializers.IntegerField(),
        "currency": serializers.CharField(),
        "rate": serializers.CharField(),
        "valid_from": serializers.DateField(),
        "url": serializers.CharField(),
    },
)
QUOTA_SCHEMA = inline_serializer(
    "Quota",
    {
        "id": serializers.IntegerField(),
        "user": inline_serializer("QuotaUser", {"id": serializers.IntegerField(), "name": serializers.CharField()}),
        "period": serializers.CharField(),
        "period_start": serializers.DateField(),
        "amount": serializers.CharField(),
        "currency": serializers.CharField(),
        "url": serializers.CharField(),
    },
)
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]
QuotaPageSerializer = page_serializer("QuotaPage", QUOTA_SCHEMA)


# --- API -----------------------------------------------------------------------------------------
class ExchangeRateListView(SettingsAPIView):
    settings_subject = "exchange rates"

    @extend_schema(
        summary="List exchange rates",
        description="Every dated rate: `rate` units of the base currency buy one unit of `currency` from "
        "`valid_from` on, until the next rate of that currency.",
        tags=["Exchange rates"],
        parameters=[OpenApiParameter("currency", str, description="Only this currency."), *PAGE_PARAMS],
        responses=inline_serializer(
            "ExchangeRateList",
            {
                "base_currency": serializers.CharField(),
                "results": serializers.ListField(child=RATE_SCHEMA),
                "next": serializers.URLField(allow_null=True, help_text="The next page (null on the last one)."),
                "previous": serializers.URLField(allow_null=True, help_text="The previous page (null on the first)."),
            },
        ),
        operation_id="exchange_rates_list",
    )
    def get(self, request: Request) -> HttpResponse:
        unknown = set(request.query_params) - {"currency", "cursor", "page_size"}
        if unknown:
            raise QueryError(sorted(unknown)[0], "unknown parameter; use currency, cursor and page_size.")
        qs = ExchangeRate.objects.all()
        if currency := request.query_params.get("currency"):
            qs = qs.filter(currency=currency.strip().upper())
        rates, next_cursor, previous_cursor = object_page(request, qs, "valid_from")
        return json_response(
            {
                "base_currency": base_currency(),
                "results": [rate_json(r) for r in rates],
                "next": page_link(request, next_cursor),
                "previous": page_link(request, previous_cursor),
            }
        )

    @extend_schema(
        summary="Add an exchange rate",
        tags=["Exchange rates"],
        request=ExchangeRateSerializer,
        responses={201: RATE_SCHEMA, 400: ERROR, 403: ERROR},
        operation_id="exchange_rates_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = ExchangeRateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rate = services.add_exchange_rate(serializer.validated_data, actor=request.user)
        return json_response(rate_json(rate), status=201, headers={"Location": rate_json(rate)["url"]})


class ExchangeRateDetailView(SettingsAPIView):
    settings_subject = "exchange rates"

    @extend_schema(
        summary="Retrieve an exchange rate",
        tags=["Exchange rates"],
        parameters=ID_PARAM,
        responses={200: RATE_SCHEMA, 404: ERROR},
        operation_id="exchange_rates_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        rate = get_or_404(ExchangeRate.objects, pk)
        return json_response(rate_json(rate))

    @extend_schema(
        summary="Delete an exchange rate",
        tags=["Exchange rates"],
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="exchange_rates_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        rate = get_or_404(ExchangeRate.objects, pk)
        services.delete_exchange_rate(rate, actor=request.user)
        return HttpResponse(status=204)


class QuotaListView(SettingsAPIView):
    settings_subject = "quotas"

    @extend_schema(
        summary="List quotas",
        description="Your own quotas; administrators see everyone's. Amounts are in the base currency.",
        tags=["Quotas"],
        parameters=[
            OpenApiParameter("user", int, description="Only this user's quotas."),
            OpenApiParameter("period", str, enum=["month", "quarter"]),
            *PAGE_PARAMS,
        ],
        responses={200: QuotaPageSerializer, 400: ERROR},
        operation_id="quotas_list",
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        unknown = set(params) - {"user", "period", "cursor", "page_size"}
        if unknown:
            raise QueryError(sorted(unknown)[0], "unknown parameter; use user, period, cursor and page_size.")
        qs = visible_quotas(request.user)
        if "user" in params:
            if not is_id(params["user"]):
                raise QueryError("user", "give a user id.")
            qs = qs.filter(user_id=int(params["user"]))
        if "period" in params:
            if params["period"] not in ("month", "quarter"):
                raise QueryError("period", "use month or quarter.")
            qs = qs.filter(period=params["period"])
        quotas, next_cursor, previous_cursor = object_page(request, qs, "period_start")
        return page_response(request, [quota_json(q) for q in quotas], next_cursor, previous_cursor)

    @extend_schema(
        summary="Set a quota",
        description="Creates the quota of a user for a period, or changes its amount when one exists.",
        tags=["Quotas"],
        request=QuotaSerializer,
        responses={201: QUOTA_SCHEMA, 400: ERROR, 403: ERROR},
        operation_id="quotas_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = QuotaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quota = services.set_quota(serializer.validated_data, actor=request.user)
        return json_response(quota_json(quota), status=201, headers={"Location": quota_json(quota)["url"]})


class QuotaDetailView(SettingsAPIView):
    settings_subject = "quotas"

    def _get(self, request: Request, pk: int) -> Quota:
        quota = get_or_404(visible_quotas(request.user), pk)
        return quota

    @extend_schema(
        summary="Retrieve a quota",
        tags=["Quotas"],
        parameters=ID_PARAM,
        responses={200: QUOTA_SCHEMA, 404: ERROR},
        operation_id="quotas_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(quota_json(self._get(request, pk)))

    @extend_schema(
        summary="Delete a quota",
        tags=["Quotas"],
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="quotas_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        quota = self._get(request, pk)
        services.delete_quota(quota, actor=request.user)
        return HttpResponse(status=204)


FIGURE_FIELDS = {f: serializers.CharField() for f in forecast.FIGURES}
FORECAST_ROW = inline_serializer(
    "ForecastRow",
    {
        "owner": inline_serializer(
            "ForecastOwner",
            {"id": serializers.IntegerField(allow_null=True), "name": serializers.CharField()},
            allow_null=True,
        ),
        **FIGURE_FIELDS,
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "unconverted": serializers.IntegerField(help_text="Deals left out: no exchange rate on their close date."),
        "quota": serializers.CharField(allow_null=True),
        "attainment": serializers.CharField(allow_null=True, help_text="Closed won / quota, percent."),
        "links": serializers.DictField(child=serializers.CharField(), help_text="Deal-list URL behind each figure."),
    },
)


class ForecastView(BaseAPIView):
    @extend_schema(
        summary="Forecast figures per owner",
        description=(
            "Amounts in the base currency, converted with the rate in force on each deal's close date. "
            "closed_won: won deals closed in the period. commit: open deals in the commit category expected "
            "to close in the period. best_case: open, best case or commit. pipeline: open, any category but "
            "omitted. weighted: pipeline amounts × probability. Only deals you may see are counted."
        ),
        tags=["Forecast"],
        parameters=[
            OpenApiParameter(
                "period", str, description="A month (2026-11) or a quarter (2026-Q4); default: this quarter."
            ),
            OpenApiParameter("scope", str, description="me (default), all, or team:<id>."),
        ],
        responses={
            200: inline_serializer(
                "Forecast",
                {
                    "period": inline_serializer(
                        "ForecastPeriod",
                        {
                            "key": serializers.CharField(),
                            "kind": serializers.CharField(),
                            "start": serializers.DateField(),
                            "end": serializers.DateField(),
                        },
                    ),
                    "scope": serializers.CharField(),
                    "base_currency": serializers.CharField(),
                    "rows": serializers.ListField(child=FORECAST_ROW),
                    "total": FORECAST_ROW,
                    "unconverted_currencies": serializers.ListField(child=serializers.CharField()),
                },
            ),
            400: ERROR,
        },
        operation_id="forecast_retrieve",
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        unknown = set(params) - {"period", "scope"}
        if unknown:
            raise QueryError(sorted(unknown)[0], "unknown parameter; use period and scope.")
        period = forecast.parse_period(params.get("period"))
        scope = forecast.parse_scope(params.get("scope"), request.user)
        return json_response(forecast.compute(request.user, period, scope).as_json())
