"""Pages: the reports index and one page per standard report (filter bar, chart, table, drill-down links)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from rapport.accounts.models import Team, User
from rapport.core.listing import QueryError
from rapport.deals.models import Pipeline
from rapport.web.common import error_page, page, signed_in

from .. import standard
from ..presentation import cell_text
from ..standard import Result


def chart_data(result: Result) -> dict[str, Any]:
    """What static/js/standard_reports.js draws: one dataset per charted column, one point per row, with the
    records list behind each point where the report links it."""
    cols = [c for c in result.columns if c.chart]
    return {
        "type": result.chart,
        "currency": result.base_currency,
        "labels": [r.label for r in result.rows],
        "datasets": [
            {
                "label": c.label,
                "kind": c.kind,
                "data": [float(r.values[c.key]) if r.values.get(c.key) is not None else None for r in result.rows],
                "urls": [r.links.get(c.key) or None for r in result.rows],  # a bar's records (drill-down)
            }
            for c in cols
        ],
    }


@page
def report_page(request: HttpRequest, key: str) -> HttpResponse:
    user = signed_in(request)
    spec = standard.get(key)
    if spec is None:
        raise Http404
    if spec.team_leads and not standard.leads_team(user):
        raise PermissionDenied("Adoption and data quality are for team leads and administrators.")
    try:
        filters = standard.parse_filters(request.GET, user, default=spec.default_period)
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=f"/reports/{key}/")
    result = spec.compute(user, filters)
    currency = result.base_currency
    rows = [
        {
            "label": r.label,
            "cells": [
                {"text": cell_text(c, r.values.get(c.key), currency), "url": r.links.get(c.key, "")}
                for c in result.columns
            ],
        }
        for r in result.rows
    ]
    summary = [{"label": c.label, "text": cell_text(c, v, currency), "url": url} for c, v, url in result.summary]
    return render(
        request,
        "reports/standard_report.html",
        {
            "spec": spec,
            "result": result,
            "filters": filters,
            "rows": rows,
            "summary": summary,
            "chart": chart_data(result),
            "has_chart": bool(result.rows) and any(c.chart for c in result.columns),
            "presets": list(standard.PRESETS.items()),
            "groups": list(standard.GROUPS.items()),
            "pipelines": list(Pipeline.objects.filter(archived=False).values_list("pk", "name")),
            "owners": _owners(user),
            "teams": _teams(user),
        },
    )


def _owners(user: Any) -> list[tuple[int, str]]:
    """People worth offering in the owner filter: those whose records the user may see."""
    reach = user.scope_for("deals", "view")
    users = User.objects.filter(is_active=True)
    if reach != "all" and not user.can_manage_settings():
        users = users.filter(team_id=user.team_id) if user.team_id and reach == "team" else users.filter(pk=user.pk)
    return [(u.pk, u.display_name) for u in users.only("pk", "username", "first_name", "last_name")]


def _teams(user: Any) -> list[tuple[int, str]]:
    reach = user.scope_for("deals", "view")
    if reach == "all" or user.can_manage_settings():
        return list(Team.objects.order_by("name").values_list("pk", "name"))
    return [(user.team_id, user.team.name)] if reach == "team" and user.team_id else []
