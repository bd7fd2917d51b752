"""Dashboard pages: the list (with the default Sales dashboard), a dashboard's grid of widgets under
its filters, and the owner's changes (name, sharing, schedule, widgets' order and size)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.accounts.models import Team
from rapport.core.errors import PermissionDenied
from rapport.core.inputs import is_id
from rapport.web.common import error_page, page, signed_in
from rapport.web.forms import user_choices

from .. import dashboards, presentation, services
from ..engine import ReportError
from ..models import SCHEDULES, SHARING, SIZES, Dashboard, Widget
from ..presentation import cell_text


def _dashboard(request: HttpRequest, pk: int) -> Dashboard:
    return get_object_or_404(Dashboard.objects.readable_by(signed_in(request)), pk=pk)


@page
def dashboard_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    boards = list(Dashboard.objects.readable_by(user).select_related("owner"))
    if not any(b.slug == services.SALES_SLUG for b in boards):  # made on first use, not checked on every visit
        services.default_dashboard()
        boards = list(Dashboard.objects.readable_by(user).select_related("owner"))
    return render(request, "reports/dashboards.html", {"dashboards": boards, "sharing_choices": SHARING})


@require_POST
@page
def dashboard_create(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    name = request.POST.get("name", "").strip()[:100]
    sharing = request.POST.get("sharing", "private")
    if not name or sharing not in dict(SHARING):
        return error_page(request, "name: give the dashboard a name." if not name else "sharing: choose who sees it.",
                          back="/reports/dashboards/")  # fmt: skip
    dashboard = services.create_dashboard(actor=user, name=name, sharing=sharing, filters={"period": "this_quarter"})
    messages.success(request, f"Dashboard “{dashboard.name}” created. Add reports to it from a saved report’s page.")
    return redirect("reports-dashboard", pk=dashboard.pk)


def panel_view(panel: dashboards.Panel, user: Any, index: int) -> dict[str, Any]:
    widget = panel.widget
    out: dict[str, Any] = {
        "panel": panel,
        "widget": widget,
        "title": widget.title,
        "url": f"/reports/saved/{widget.report_id}/" if widget.report_id else f"/reports/{widget.standard}/",
        "error": panel.error,
    }
    if panel.standard is not None:
        return out | standard_panel(panel.standard, widget)
    result = panel.result
    if result is None:
        return out
    out.update(
        {
            "result": result,
            "number": result.config.chart == "number" or not result.group_labels,
            "total_text": result.format(result.total.value),
            "chart": presentation.chart_data(result),
            "rows": presentation.shown_rows(result),
            "chart_id": f"widget-chart-{panel.widget.pk}",
            "data_id": f"widget-data-{panel.widget.pk}",
        }
    )
    if panel.previous is not None:
        delta = panel.delta
        out["previous_text"] = panel.previous.format(panel.previous.total.value)
        out["delta"] = delta
        out["delta_text"] = None if delta is None else ("+" if delta > 0 else "") + result.format(delta)
        out["delta_percent"] = panel.delta_percent
    if panel.target is not None:
        out["target_text"] = result.format(panel.target) if result.value_kind == "money" else str(panel.target)
        out["attainment"] = panel.attainment
    return out


def standard_panel(result: Any, widget: Widget) -> dict[str, Any]:
    """A standard report's widget: its headline figures, chart and table as on its own page, linked to that
    page under the same filters."""
    currency = result.base_currency
    return {
        "standard": result,
        "url": f"/reports/{widget.standard}/?{result.filters.query()}",
        "note": result.note,
        "summary": [{"label": c.label, "text": cell_text(c, v, currency), "url": u} for c, v, u in result.summary],
        "columns": [c.label for c in result.columns],
        "table": [
            {
                "label": r.label,
                "cells": [
                    {"text": cell_text(c, r.values.get(c.key), currency), "url": r.links.get(c.key, "")}
                    for c in result.columns
                ],
            }
            for r in result.rows
        ],
        "chart": presentation.standard_chart(result, widget.standard),
        "chart_id": f"widget-chart-{widget.pk}",
        "data_id": f"widget-data-{widget.pk}",
    }


@page
def dashboard_page(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    dashboard = _dashboard(request, pk)
    try:
        filters = dashboards.parse_filters(request.GET, dashboard.filters, user)
    except ReportError as exc:
        return error_page(request, str(exc), back=f"/reports/dashboards/{pk}/")
    panels = dashboards.compute(dashboard, user, filters)
    can_edit = services.can_edit(user, dashboard)
    shown = [panel_view(p, user, i) for i, p in enumerate(panels)]
    ids = [p.widget.pk for p in panels]
    for i, view in enumerate(shown):  # "move earlier/later" buttons: the keyboard's way to arrange
        if i > 0:
            view["earlier"] = ",".join(map(str, ids[: i - 1] + [ids[i], ids[i - 1]] + ids[i + 1 :]))
        if i < len(ids) - 1:
            view["later"] = ",".join(map(str, ids[:i] + [ids[i + 1], ids[i]] + ids[i + 2 :]))
    if user.scope_for("deals", "view") == "all":
        teams = list(Team.objects.order_by("name").values_list("pk", "name"))
    else:
        teams = [(user.team.pk, user.team.name)] if user.team is not None else []
    return render(
        request,
        "reports/dashboard.html",
        {
            "dashboard": dashboard,
            "panels": shown,
            "filters": filters,
            "periods": dashboards.PERIODS,
            "period_label": dashboards.PERIOD_LABELS[filters.period],
            "owners": user_choices(),
            "teams": teams,
            "can_edit": can_edit,
            "sizes": SIZES,
            "sharing_choices": SHARING,
            "schedules": SCHEDULES,
            "recipient_ids": {u.pk for u in dashboard.recipients.all()} if can_edit else set(),
        },
    )


@require_POST
@page
def dashboard_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    dashboard = _dashboard(request, pk)
    back = f"/reports/dashboards/{pk}/"
    name = request.POST.get("name", "").strip()[:100] or dashboard.name
    sharing = request.POST.get("sharing", dashboard.sharing)
    schedule = request.POST.get("schedule", "")
    period = request.POST.get("period", dashboard.filters.get("period", ""))
    if sharing not in dict(SHARING) or schedule not in dict(SCHEDULES) or period not in dashboards.PERIOD_LABELS:
        return error_page(request, "Choose the sharing, schedule and period from the lists.", back=back)
    raw_ids = request.POST.getlist("recipients")
    if any(not is_id(r) for r in raw_ids):
        return error_page(request, "recipients: choose people from the list.", back=back)
    recipients = list(get_user_model().objects.filter(pk__in=[int(r) for r in raw_ids], is_active=True))
    try:
        services.update_dashboard(
            dashboard,
            actor=user,
            name=name,
            sharing=sharing,
            schedule=schedule,
            recipients=recipients,
            filters={**dashboard.filters, "period": period},
        )
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=back)
    messages.success(request, "Dashboard saved.")
    return redirect("reports-dashboard", pk=pk)


@require_POST
@page
def dashboard_delete(request: HttpRequest, pk: int) -> HttpResponse:
    dashboard = _dashboard(request, pk)
    try:
        services.delete_dashboard(dashboard, actor=signed_in(request))
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=f"/reports/dashboards/{pk}/")
    messages.success(request, f"Dashboard “{dashboard.name}” deleted.")
    return redirect("reports-dashboards")


def _widget(request: HttpRequest, pk: int, wid: int) -> Widget:
    dashboard = _dashboard(request, pk)
    return get_object_or_404(Widget.objects.select_related("dashboard", "report"), pk=wid, dashboard=dashboard)


@require_POST
@page
def widget_size(request: HttpRequest, pk: int, wid: int) -> HttpResponse:
    widget = _widget(request, pk, wid)
    size = request.POST.get("size", "")
    if size not in dict(SIZES):
        return error_page(request, "size: choose small, medium, large or wide.", back=f"/reports/dashboards/{pk}/")
    try:
        services.update_widget(widget, actor=signed_in(request), size=size)
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=f"/reports/dashboards/{pk}/")
    return redirect("reports-dashboard", pk=pk)


@require_POST
@page
def widget_remove(request: HttpRequest, pk: int, wid: int) -> HttpResponse:
    widget = _widget(request, pk, wid)
    try:
        services.remove_widget(widget, actor=signed_in(request))
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=f"/reports/dashboards/{pk}/")
    messages.success(request, f"“{widget.title}” removed from the dashboard.")
    return redirect("reports-dashboard", pk=pk)


@require_POST
@page
def dashboard_arrange(request: HttpRequest, pk: int) -> HttpResponse:
    """The widgets' new order after a drag (``order=3,1,2``); also a plain form's "Move up"."""
    dashboard = _dashboard(request, pk)
    raw = [v for v in request.POST.get("order", "").split(",") if v]
    if len(raw) > 200 or any(not is_id(v) for v in raw):
        return HttpResponse("order: give widget ids separated by commas.", status=400, content_type="text/plain")
    try:
        services.arrange_widgets(dashboard, [int(v) for v in raw], actor=signed_in(request))
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain")
    if request.headers.get("HX-Request") or request.headers.get("Accept") == "application/json":
        return HttpResponse(status=204)
    return redirect("reports-dashboard", pk=pk)
