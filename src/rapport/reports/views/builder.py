"""The report builder's pages: choose a type, filters (the list's filter bar), groupings, measure and
chart; a live preview (htmx), save, open a saved report, export, add to a dashboard.

The builder's own controls are ``r_*`` query parameters; every other parameter is a filter of the
chosen type, exactly as its list page takes it, so the address is bookmarkable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.core import registry
from rapport.core.errors import PermissionDenied
from rapport.core.inputs import is_id
from rapport.web.common import error_page, page, signed_in
from rapport.web.lists import filter_inputs

from .. import engine, presentation, services
from ..engine import CHART_LABELS, GRANULARITIES, OPERATION_LABELS, Config, ReportError
from ..models import SHARING, SIZES, Dashboard, SavedReport

CONTROLS = ("r_type", "r_group1", "r_gran1", "r_group2", "r_gran2", "r_op", "r_measure", "r_weight", "r_chart",
            "r_period", "r_saved")  # fmt: skip
IGNORED = ("csrfmiddlewaretoken", "format")


def reportable_types(user: Any) -> list[tuple[str, str]]:
    return [(t.key, t.label_plural) for t in registry.all_types() if user.scope_for(t.key, "view") is not None]


def config_data(params: QueryDict) -> dict[str, Any]:
    """The engine's config JSON from the builder's parameters."""
    filters = QueryDict(mutable=True)
    for key, values in params.lists():
        if key in CONTROLS or key in IGNORED:
            continue
        kept = [v for v in values if v != ""]
        if kept:
            filters.setlist(key, kept)
    rtype = registry.find(params.get("r_type", ""))
    dates = {k for k, f in engine.group_fields(rtype).items() if f.is_date} if rtype else set()
    groups = []
    for n in ("1", "2"):
        name = params.get(f"r_group{n}", "")
        if name:  # the "dates by" choice is always sent; it counts for dates only
            groups.append({"field": name, "granularity": params.get(f"r_gran{n}", "") if name in dates else ""})
    op = params.get("r_op", "") or "count"
    measure: dict[str, Any] = {"op": op}
    if op != "count":
        measure["field"] = params.get("r_measure", "")
        if params.get("r_weight"):
            measure["weight"] = params.get("r_weight", "")
    data: dict[str, Any] = {
        "type": params.get("r_type", ""),
        "filters": filters.urlencode(),
        "group_by": groups,
        "measure": measure,
    }
    if params.get("r_chart"):
        data["chart"] = params.get("r_chart")
    if params.get("r_period"):
        data["period_field"] = params.get("r_period")
    return data


def builder_params(config: Config) -> str:
    """The builder's address parameters for a config (opening a saved report)."""
    items: list[tuple[str, str]] = [("r_type", config.type)]
    for n, g in enumerate(config.group_by, start=1):
        items.append((f"r_group{n}", g.field))
        if g.granularity:
            items.append((f"r_gran{n}", g.granularity))
    items.append(("r_op", config.op))
    if config.measure:
        items.append(("r_measure", config.measure))
    if config.weight:
        items.append(("r_weight", config.weight))
    items.append(("r_chart", config.chart))
    if config.period_field:
        items.append(("r_period", config.period_field))
    query = urlencode(items)
    return query + ("&" + config.filters if config.filters else "")


def _context(request: HttpRequest, params: QueryDict, saved: SavedReport | None = None) -> dict[str, Any]:
    user = signed_in(request)
    types = reportable_types(user)
    type_key = params.get("r_type", "")
    ctx: dict[str, Any] = {
        "types": types,
        "type_key": type_key,
        "saved": saved,
        "chart_choices": list(CHART_LABELS.items()),
        "op_choices": list(OPERATION_LABELS.items()),
        "granularities": GRANULARITIES,
        "params": params,
    }
    rtype = registry.find(type_key)
    if rtype is None or user.scope_for(type_key, "view") is None:
        ctx["type_key"] = ""
        return ctx
    ctx["rtype"] = rtype
    ctx["group_choices"] = [(k, f.label, f.is_date) for k, f in engine.group_fields(rtype).items()]
    ctx["measure_choices"] = [(k, f.label) for k, f in engine.measure_fields(rtype).items()]
    ctx["weight_choices"] = [
        (k, f.label) for k, f in engine.measure_fields(rtype).items() if f.kind == "percent" and not f.custom
    ]
    ctx["period_choices"] = engine.period_fields(rtype)
    ctx["filters"] = filter_inputs(rtype, params, user)
    ctx["filters_active"] = any(f.value for f in ctx["filters"])
    ctx.update(_preview(request, params, saved))
    return ctx


def _preview(request: HttpRequest, params: QueryDict, saved: SavedReport | None) -> dict[str, Any]:
    user = signed_in(request)
    query = QueryDict(mutable=True)
    for key, values in params.lists():
        if key not in ("r_saved", *IGNORED):
            query.setlist(key, [v for v in values if v != ""])
    ctx: dict[str, Any] = {
        "saved": saved,
        "can_edit": saved is not None and services.can_edit(user, saved),
        "sharing_choices": SHARING,
        "sizes": SIZES,
        "query": query.urlencode(),
    }
    if saved is not None:
        ctx["dashboards"] = [d for d in Dashboard.objects.readable_by(user) if services.can_edit(user, d)]
    try:
        config = engine.parse_config(config_data(params), user)
        result = engine.run(config, user)
    except ReportError as exc:
        return {**ctx, "error": exc}
    return {
        **ctx,
        "error": None,
        "result": result,
        "chart": presentation.chart_data(result),
        "rows": presentation.shown_rows(result),
        "pivot": presentation.shown_pivot(result),
        "total_text": result.format(result.total.value),
        "max_groups": engine.MAX_GROUPS,
    }


@page
def builder(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/builder.html", _context(request, request.GET))


@page
def preview(request: HttpRequest) -> HttpResponse:
    """The preview part of the builder (htmx swaps it in as the controls change)."""
    user = signed_in(request)
    rtype = registry.find(request.GET.get("r_type", ""))
    if rtype is None or user.scope_for(rtype.key, "view") is None:
        raise Http404("No such report.")
    raw = request.GET.get("r_saved", "")
    saved = SavedReport.objects.readable_by(user).filter(pk=int(raw)).first() if is_id(raw) else None
    ctx = _preview(request, request.GET, saved)
    # a fragment: htmx swaps it in whatever it says (an error names the field)
    return render(request, "reports/_preview.html", ctx)


def _saved(request: HttpRequest, pk: int) -> SavedReport:
    return get_object_or_404(SavedReport.objects.readable_by(signed_in(request)), pk=pk)


@page
def saved_report(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved report opened in the builder: its settings unless the address carries new ones."""
    report = _saved(request, pk)
    user = signed_in(request)
    if "r_type" in request.GET:
        params = request.GET
    else:
        try:
            config = engine.parse_config(report.config, user)
        except ReportError as exc:
            if exc.field == "type":
                return error_page(
                    request, "You cannot see the records this report counts.", status=403, back="/reports/builder/"
                )
            return error_page(request, f"This report no longer works ({exc}). Open it in the builder to fix it.")
        params = QueryDict(builder_params(config))
    return render(request, "reports/builder.html", _context(request, params, saved=report))


def _export(request: HttpRequest, params: QueryDict, name: str) -> HttpResponse:
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        return HttpResponse("format: choose csv or xlsx.", status=400, content_type="text/plain; charset=utf-8")
    user = signed_in(request)
    try:
        result = engine.run(engine.parse_config(config_data(params), user), user)
    except ReportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return presentation.download(result, name, fmt, user)


@page
def export_builder(request: HttpRequest) -> HttpResponse:
    return _export(request, request.GET, "Report")


@page
def export_saved(request: HttpRequest, pk: int) -> HttpResponse:
    report = _saved(request, pk)
    user = signed_in(request)
    try:
        config = engine.parse_config(report.config, user)
    except ReportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    params = QueryDict(builder_params(config), mutable=True)
    return _export(request, params, report.name)


@require_POST
@page
def save(request: HttpRequest) -> HttpResponse:
    """Save the builder's report as a new one, or (``report`` posted) over the user's own."""
    user = signed_in(request)
    query = QueryDict(request.POST.get("query", ""))
    name = request.POST.get("name", "").strip()[:100]
    sharing = request.POST.get("sharing", "private")
    back = "/reports/builder/?" + query.urlencode()
    if sharing not in dict(SHARING):
        return error_page(request, "sharing: choose only me, my team or everyone.", back=back)
    try:
        config = engine.parse_config(config_data(query), user)
    except ReportError as exc:
        return error_page(request, str(exc), back=back)
    existing = request.POST.get("report", "")
    if existing:
        report = _saved(request, int(existing)) if is_id(existing) else None
        if report is None:
            raise Http404
        try:
            services.update_report(report, actor=user, name=name or report.name, config=config, sharing=sharing)
        except PermissionDenied as exc:
            return error_page(request, str(exc), status=403, back=back)
        messages.success(request, f"Report “{report.name}” saved.")
        return redirect("reports-saved", pk=report.pk)
    if not name:
        return error_page(request, "name: give the report a name.", back=back)
    report = services.create_report(actor=user, name=name, config=config, sharing=sharing)
    messages.success(request, f"Report “{report.name}” saved.")
    return redirect("reports-saved", pk=report.pk)


@require_POST
@page
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    report = _saved(request, pk)
    try:
        services.delete_report(report, actor=signed_in(request))
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=f"/reports/saved/{pk}/")
    messages.success(request, f"Report “{report.name}” deleted.")
    return redirect("reports-saved-list")


@page
def saved_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    reports = list(SavedReport.objects.readable_by(user).select_related("owner"))
    labels = dict(reportable_types(user))
    return render(
        request,
        "reports/saved_list.html",
        {
            "reports": [
                {"report": r, "type_label": labels.get(r.type_key, r.type_key)} for r in reports if r.type_key in labels
            ]
        },
    )


@require_POST
@page
def add_to_dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    report = _saved(request, pk)
    user = signed_in(request)
    raw = request.POST.get("dashboard", "")
    dashboard = Dashboard.objects.readable_by(user).filter(pk=int(raw)).first() if is_id(raw) else None
    if dashboard is None:
        return error_page(request, "dashboard: choose one of your dashboards.", back=f"/reports/saved/{pk}/")
    size = request.POST.get("size", "m")
    if size not in dict(SIZES):
        size = "m"
    try:
        services.add_widget(dashboard, report, actor=user, size=size)
    except PermissionDenied as exc:
        return error_page(request, str(exc), status=403, back=f"/reports/saved/{pk}/")
    messages.success(request, f"“{report.name}” added to {dashboard.name}.")
    return redirect("reports-dashboard", pk=dashboard.pk)
