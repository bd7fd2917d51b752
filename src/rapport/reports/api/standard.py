"""``GET /api/v1/reports/<key>/``: each standard report with the page's filters, typed per report."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.schema import ERROR
from rapport.api.views import BaseAPIView, api_user, json_response

from .. import standard
from ..standard import Col, Report


def _field(col: Col) -> serializers.Field:
    if col.kind == "count":
        return serializers.IntegerField(allow_null=True)
    if col.kind == "money":
        return serializers.DecimalField(
            max_digits=20, decimal_places=2, allow_null=True, help_text="In the base currency."
        )
    if col.kind in ("percent", "days", "number"):
        return serializers.DecimalField(max_digits=20, decimal_places=1, allow_null=True, help_text=col.kind)
    return serializers.CharField(allow_null=True)


def _name(key: str) -> str:
    return "".join(part.title() for part in key.split("-"))


FILTERS = inline_serializer(
    "ReportFilters",
    {
        "period": serializers.ChoiceField(choices=list(standard.PRESETS)),
        "start": serializers.DateField(),
        "end": serializers.DateField(),
        "pipeline": serializers.IntegerField(allow_null=True),
        "owner": serializers.IntegerField(allow_null=True),
        "team": serializers.IntegerField(allow_null=True),
        "group": serializers.ChoiceField(choices=list(standard.GROUPS)),
    },
)


def response_serializer(spec: Report) -> Any:
    name = f"Report{_name(spec.key)}"
    values = inline_serializer(f"{name}Values", {c.key: _field(c) for c in spec.columns})
    row = inline_serializer(
        f"{name}Row",
        {
            "key": serializers.CharField(),
            "label": serializers.CharField(),
            "values": values,
            "links": serializers.DictField(
                child=serializers.CharField(), help_text="The records list behind a value, by column key."
            ),
        },
    )
    return inline_serializer(
        name,
        {
            "report": serializers.CharField(),
            "filters": FILTERS,
            "base_currency": serializers.CharField(allow_blank=True),
            "unconverted": serializers.IntegerField(help_text="Amounts left out: no exchange rate on their day."),
            "summary": inline_serializer(f"{name}Summary", {c.key: _field(c) for c in spec.headline}),
            "summary_links": serializers.DictField(child=serializers.CharField()),
            "rows": serializers.ListField(child=row),
        },
    )


PARAMETERS = [
    OpenApiParameter(
        "period", str, enum=list(standard.PRESETS), description="A preset period; custom needs start and end."
    ),
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day of a custom period (years 1800–2999)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day of a custom period."),
    OpenApiParameter("pipeline", {"type": "string", "pattern": "^[0-9]{1,18}$"}, description="A pipeline id."),
    OpenApiParameter("owner", {"type": "string", "pattern": "^([0-9]{1,18}|me)$"}, description="A user id, or me."),
    OpenApiParameter("team", {"type": "string", "pattern": "^[0-9]{1,18}$"}, description="A team id."),
    OpenApiParameter("group", str, enum=list(standard.GROUPS), description="Per-period reports: by month or quarter."),
]


class StandardReportView(BaseAPIView):
    spec: Report

    def get(self, request: Request) -> HttpResponse:
        user = api_user(request)
        if self.spec.team_leads and not standard.leads_team(user):
            raise PermissionDenied("Adoption and data quality are for team leads and administrators.")
        filters = standard.parse_filters(request.query_params, user, default=self.spec.default_period)
        return json_response(self.spec.compute(user, filters).as_json())


def view_for(spec: Report) -> Any:
    described = "\n".join(f"- **{term}**: {text}" for term, text in spec.definitions)
    responses: dict[int, Any] = {200: response_serializer(spec), 400: ERROR}
    if spec.team_leads:
        responses[403] = ERROR

    def get(self: StandardReportView, request: Request) -> HttpResponse:
        return StandardReportView.get(self, request)

    get = extend_schema(
        summary=spec.title,
        description=f"{spec.summary} Only records you may see are counted.\n\n{described}",
        tags=["Reports"],
        parameters=PARAMETERS,
        responses=responses,
        operation_id=f"report_{spec.key.replace('-', '_')}",
    )(get)
    return type(f"{_name(spec.key)}ReportView", (StandardReportView,), {"spec": spec, "get": get})
