"""``/api/v1/reports/…`` and ``/api/v1/dashboards/…``: saved reports (CRUD, run), ad hoc reports, and
dashboards with their widgets (CRUD, run with filters). Validation in ``reports.serializers``,
writes in ``reports.services``, figures from ``reports.engine`` — the same as the pages."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, LOCATION, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core.errors import PermissionDenied
from rapport.core.listing import PAGE_SIZE_SCHEMA, QueryError

from .. import dashboards, engine, services
from ..engine import ReportError
from ..models import Dashboard, SavedReport, Widget
from ..serializers import (
    ArrangeSerializer,
    DashboardRunSerializer,
    DashboardSerializer,
    DashboardWriteSerializer,
    ReportConfigSerializer,
    ReportResultSerializer,
    SavedReportSerializer,
    SavedReportWriteSerializer,
    WidgetChangeSerializer,
    WidgetSerializer,
    WidgetWriteSerializer,
    validated_config,
)

ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [CURSOR, OpenApiParameter("page_size", PAGE_SIZE_SCHEMA)]
SavedReportPage = page_serializer("SavedReportPage", SavedReportSerializer)
DashboardPage = page_serializer("DashboardPage", DashboardSerializer)


def _owner(obj: Any) -> dict[str, Any] | None:
    return {"id": obj.owner_id, "name": obj.owner.display_name} if obj.owner_id else None


def report_json(report: SavedReport, user: Any) -> dict[str, Any]:
    return {
        "id": report.pk,
        "name": report.name,
        "type": report.type_key,
        "sharing": report.sharing,
        "owner": _owner(report),
        "config": report.config,
        "can_change": services.can_edit(user, report),
        "created_at": report.created_at.isoformat(),
        "updated_at": report.updated_at.isoformat(),
        "url": f"/api/v1/reports/saved/{report.pk}/",
    }


def widget_json(widget: Widget) -> dict[str, Any]:
    return {
        "id": widget.pk,
        "report": widget.report_id,
        "standard": widget.standard or None,
        "report_name": widget.title,
        "position": widget.position,
        "size": widget.size,
        "target": widget.options.get("target") or None,
    }


def dashboard_json(dashboard: Dashboard, user: Any) -> dict[str, Any]:
    filters = dashboard.filters or {}
    return {
        "id": dashboard.pk,
        "name": dashboard.name,
        "sharing": dashboard.sharing,
        "owner": _owner(dashboard),
        "filters": {"period": filters.get("period", ""), "owner": filters.get("owner"), "team": filters.get("team")},
        "schedule": dashboard.schedule,
        "recipients": sorted(u.pk for u in dashboard.recipients.all()),
        "widgets": [widget_json(w) for w in dashboard.widgets.select_related("report").order_by("position", "id")],
        "can_change": services.can_edit(user, dashboard),
        "url": f"/api/v1/dashboards/{dashboard.pk}/",
    }


def result_json(result: engine.Result) -> dict[str, Any]:
    data = result.as_json()
    for cell in [*data["rows"], data["total"]]:
        cell["value"] = None if cell["value"] is None else str(cell["value"])
    return data


def _no_params(request: Request, allowed: tuple[str, ...] = ()) -> None:
    unknown = set(request.query_params) - set(allowed)
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(allowed) or 'none'}.")


def _run(config_data: Any, user: Any, prefix: str = "config") -> engine.Result:
    config = validated_config(config_data, user, prefix)
    try:
        return engine.run(config, user)
    except ReportError as exc:  # e.g. too many groups
        raise QueryError(f"{prefix}.{exc.field}", exc.message)


# --- saved reports --------------------------------------------------------------------------------
class SavedReportListView(BaseAPIView):
    @extend_schema(
        summary="List saved reports",
        description="Your reports, those shared with your team or everyone, and the installation's.",
        tags=["Reports"],
        parameters=PAGE_PARAMS,
        responses={200: SavedReportPage, 400: ERROR},
        operation_id="saved_reports_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _no_params(request, ("cursor", "page_size"))
        user = api_user(request)
        qs = SavedReport.objects.readable_by(user).select_related("owner")
        rows, next_cursor, previous_cursor = object_page(request, qs, "id")
        return page_response(request, [report_json(r, user) for r in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Save a report",
        tags=["Reports"],
        request=SavedReportWriteSerializer,
        responses={201: SavedReportSerializer, 400: ERROR},
        parameters=[LOCATION],
        operation_id="saved_reports_create",
    )
    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        serializer = SavedReportWriteSerializer(data=request.data, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = services.create_report(actor=user, name=data["name"], config=data["config"], sharing=data["sharing"])
        body = report_json(report, user)
        return json_response(body, status=201, headers={"Location": body["url"]})


class SavedReportDetailView(BaseAPIView):
    def _get(self, request: Request, pk: int) -> SavedReport:
        return get_or_404(SavedReport.objects.readable_by(api_user(request)).select_related("owner"), pk)

    @extend_schema(
        summary="Retrieve a saved report",
        tags=["Reports"],
        parameters=ID_PARAM,
        responses={200: SavedReportSerializer, 404: ERROR},
        operation_id="saved_reports_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(report_json(self._get(request, pk), api_user(request)))

    @extend_schema(
        summary="Change a saved report",
        description="Only its owner (settings managers for the installation's own).",
        tags=["Reports"],
        parameters=ID_PARAM,
        request=SavedReportWriteSerializer(partial=True),
        responses={200: SavedReportSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="saved_reports_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        report = self._get(request, pk)
        if not services.can_edit(user, report):
            raise PermissionDenied("Only its owner changes this report.")
        serializer = SavedReportWriteSerializer(data=request.data, partial=True, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.update_report(
            report, actor=user, name=data.get("name"), config=data.get("config"), sharing=data.get("sharing")
        )
        return json_response(report_json(report, user))

    @extend_schema(
        summary="Delete a saved report",
        tags=["Reports"],
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="saved_reports_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        services.delete_report(self._get(request, pk), actor=api_user(request))
        return HttpResponse(status=204)


class SavedReportRunView(BaseAPIView):
    @extend_schema(
        summary="Run a saved report",
        description="The figures for you: only records you may see are counted.",
        tags=["Reports"],
        parameters=ID_PARAM,
        responses={200: ReportResultSerializer, 400: ERROR, 404: ERROR},
        operation_id="saved_reports_run",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _no_params(request)
        user = api_user(request)
        report = get_or_404(SavedReport.objects.readable_by(user), pk)
        return json_response(result_json(_run(report.config, user)))


class ReportRunView(BaseAPIView):
    @extend_schema(
        summary="Run a report",
        description="An ad hoc report over any record type you may view: filters as on its list, up to two "
        "groupings, one measure; money in the base currency at the rate of each record's day.",
        tags=["Reports"],
        request=ReportConfigSerializer,
        responses={200: ReportResultSerializer, 400: ERROR},
        operation_id="reports_run",
    )
    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        ReportConfigSerializer(data=request.data).is_valid(raise_exception=True)
        return json_response(result_json(_run(request.data, user, prefix="")))


# --- dashboards -----------------------------------------------------------------------------------
def _dashboard(request: Request, pk: int) -> Dashboard:
    return get_or_404(Dashboard.objects.readable_by(api_user(request)).select_related("owner"), pk)


def _filters(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (data or {}).items() if v not in (None, "") or k == "period"}


class DashboardListView(BaseAPIView):
    @extend_schema(
        summary="List dashboards",
        tags=["Dashboards"],
        parameters=PAGE_PARAMS,
        responses={200: DashboardPage, 400: ERROR},
        operation_id="dashboards_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _no_params(request, ("cursor", "page_size"))
        user = api_user(request)
        qs = Dashboard.objects.readable_by(user).select_related("owner").prefetch_related("recipients")
        rows, next_cursor, previous_cursor = object_page(request, qs, "id")
        if next_cursor is None and not any(d.slug == services.SALES_SLUG for d in rows):
            # The last page holds the oldest: no Sales dashboard there means none yet (made on first use,
            # not checked on every request).
            services.default_dashboard()
            rows, next_cursor, previous_cursor = object_page(request, qs.all(), "id")
        return page_response(request, [dashboard_json(d, user) for d in rows], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create a dashboard",
        tags=["Dashboards"],
        request=DashboardWriteSerializer,
        responses={201: DashboardSerializer, 400: ERROR},
        parameters=[LOCATION],
        operation_id="dashboards_create",
    )
    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        serializer = DashboardWriteSerializer(data=request.data, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dashboard = services.create_dashboard(
            actor=user,
            name=data["name"],
            sharing=data["sharing"],
            filters=_filters(data.get("filters") or {"period": "this_quarter"}),
            schedule=data.get("schedule", ""),
            recipients=data.get("recipients"),
        )
        body = dashboard_json(dashboard, user)
        return json_response(body, status=201, headers={"Location": body["url"]})


class DashboardDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a dashboard",
        tags=["Dashboards"],
        parameters=ID_PARAM,
        responses={200: DashboardSerializer, 404: ERROR},
        operation_id="dashboards_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(dashboard_json(_dashboard(request, pk), api_user(request)))

    @extend_schema(
        summary="Change a dashboard",
        tags=["Dashboards"],
        parameters=ID_PARAM,
        request=DashboardWriteSerializer(partial=True),
        responses={200: DashboardSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="dashboards_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        dashboard = _dashboard(request, pk)
        serializer = DashboardWriteSerializer(data=request.data, partial=True, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "filters" in changes:
            changes["filters"] = _filters(changes["filters"])
        services.update_dashboard(dashboard, actor=user, **changes)
        return json_response(dashboard_json(dashboard, user))

    @extend_schema(
        summary="Delete a dashboard",
        tags=["Dashboards"],
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="dashboards_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        services.delete_dashboard(_dashboard(request, pk), actor=api_user(request))
        return HttpResponse(status=204)


class DashboardRunView(BaseAPIView):
    @extend_schema(
        summary="A dashboard's figures",
        description="Every widget's report for you under the dashboard's filters (the query's, else its defaults); "
        "number widgets also carry the figure of the period before, and a target where set.",
        tags=["Dashboards"],
        parameters=[
            *ID_PARAM,
            OpenApiParameter("period", str, enum=[k for k, _ in dashboards.PERIODS]),
            OpenApiParameter("owner", str, description="A user id or `me`."),
            OpenApiParameter("team", int),
        ],
        responses={200: DashboardRunSerializer, 400: ERROR, 404: ERROR},
        operation_id="dashboards_run",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _no_params(request, ("period", "owner", "team"))
        user = api_user(request)
        dashboard = _dashboard(request, pk)
        try:
            filters = dashboards.parse_filters(request.query_params, dashboard.filters, user)
        except ReportError as exc:
            raise QueryError(exc.field, exc.message)
        panels = dashboards.compute(dashboard, user, filters)
        return json_response(
            {
                "dashboard": dashboard.pk,
                "filters": {"period": filters.period, "owner": filters.owner, "team": filters.team},
                "panels": [
                    {
                        "widget": p.widget.pk,
                        "report": p.widget.report_id,
                        "standard": p.widget.standard or None,
                        "name": p.widget.title,
                        "size": p.widget.size,
                        "error": p.error or None,
                        "result": result_json(p.result) if p.result else None,
                        "standard_result": p.standard.as_json() if p.standard is not None else None,
                        "previous": None
                        if p.previous is None or p.previous.total.value is None
                        else str(p.previous.total.value),
                        "target": None if p.target is None else str(p.target),
                    }
                    for p in panels
                ],
            }
        )


class WidgetListView(BaseAPIView):
    @extend_schema(
        summary="Add a widget",
        description="Puts a saved report you may open (`report`), or a standard report (`standard`: its key, e.g. "
        "`funnel` for the conversion per stage), on your dashboard, last.",
        tags=["Dashboards"],
        parameters=ID_PARAM,
        request=WidgetWriteSerializer,
        responses={201: WidgetSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="dashboards_widgets_create",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        dashboard = _dashboard(request, pk)
        serializer = WidgetWriteSerializer(data=request.data, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = {"target": data["target"]} if data.get("target") else {}
        widget = services.add_widget(
            dashboard,
            data.get("report"),
            standard=data.get("standard") or "",
            actor=user,
            size=data["size"],
            options=options,
        )
        return json_response(widget_json(widget), status=201)


class WidgetDetailView(BaseAPIView):
    def _get(self, request: Request, pk: int, wid: int) -> Widget:
        dashboard = _dashboard(request, pk)
        return get_or_404(Widget.objects.filter(dashboard=dashboard).select_related("report", "dashboard"), wid)

    @extend_schema(
        summary="Resize a widget or change its target",
        tags=["Dashboards"],
        parameters=[*ID_PARAM, OpenApiParameter("wid", int, OpenApiParameter.PATH)],
        request=WidgetChangeSerializer,
        responses={200: WidgetSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="dashboards_widgets_partial_update",
    )
    def patch(self, request: Request, pk: int, wid: int) -> HttpResponse:
        widget = self._get(request, pk, wid)
        serializer = WidgetChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        options = None
        if "target" in data:
            options = {**widget.options, "target": data["target"]} if data["target"] else {}
        services.update_widget(widget, actor=api_user(request), size=data.get("size"), options=options)
        return json_response(widget_json(widget))

    @extend_schema(
        summary="Remove a widget",
        tags=["Dashboards"],
        parameters=[*ID_PARAM, OpenApiParameter("wid", int, OpenApiParameter.PATH)],
        responses={204: None, 403: ERROR, 404: ERROR},
        operation_id="dashboards_widgets_delete",
    )
    def delete(self, request: Request, pk: int, wid: int) -> HttpResponse:
        services.remove_widget(self._get(request, pk, wid), actor=api_user(request))
        return HttpResponse(status=204)


class ArrangeView(BaseAPIView):
    @extend_schema(
        summary="Arrange widgets",
        description="The widgets in this order (ids); widgets left out follow in their current order.",
        tags=["Dashboards"],
        parameters=ID_PARAM,
        request=ArrangeSerializer,
        responses={200: DashboardSerializer, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="dashboards_arrange",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        dashboard = _dashboard(request, pk)
        serializer = ArrangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.arrange_widgets(dashboard, serializer.validated_data["order"], actor=user)
        return json_response(dashboard_json(dashboard, user))
