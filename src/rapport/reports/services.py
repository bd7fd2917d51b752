"""The writes of saved reports and dashboards: pages, API and jobs all call these. Each runs in one
transaction with its settings audit entry (``core.audit.record_setting_change``)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.core.audit import record_setting_change
from rapport.core.errors import PermissionDenied

from .engine import Config
from .models import EVERYONE, PRIVATE, TEAM, Dashboard, SavedReport, Widget

REPORT_FIELDS = ("name", "type_key", "config", "sharing", "team")
DASHBOARD_FIELDS = ("name", "sharing", "team", "filters", "schedule", "recipients", "widgets")


def can_edit(user: Any, obj: SavedReport | Dashboard) -> bool:
    """The owner changes their report or dashboard; the installation's own (no owner: the default
    Sales dashboard and its reports) are changed by settings managers."""
    if obj.owner_id is None:
        return bool(user.can_manage_settings())
    return bool(obj.owner_id == user.pk)


def _check(user: Any, obj: Any) -> None:
    if not can_edit(user, obj):
        raise PermissionDenied("Only its owner changes this.")


def _team_for(actor: Any, sharing: str) -> Any:
    return getattr(actor, "team_id", None) if sharing == TEAM else None


def _report_values(report: SavedReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "type_key": report.type_key,
        "config": report.config,
        "sharing": report.sharing,
        "team": report.team_id,
    }


# --- saved reports --------------------------------------------------------------------------------
def create_report(
    *, actor: Any, name: str, config: Config, sharing: str = PRIVATE, system: bool = False
) -> SavedReport:
    with transaction.atomic():
        report = SavedReport.objects.create(
            name=name,
            type_key=config.type,
            config=config.as_json(),
            owner=None if system else actor,
            sharing=EVERYONE if system else sharing,
            team_id=None if system else _team_for(actor, sharing),
        )
        record_setting_change("saved_report", report, actor=actor, action="created", after=_report_values(report))
    return report


def update_report(
    report: SavedReport,
    *,
    actor: Any,
    name: str | None = None,
    config: Config | None = None,
    sharing: str | None = None,
) -> SavedReport:
    _check(actor, report)
    with transaction.atomic():
        before = _report_values(report)
        if name is not None:
            report.name = name
        if config is not None:
            report.config = config.as_json()
            report.type_key = config.type
        if sharing is not None and report.owner_id is not None:
            report.sharing = sharing
            report.team_id = _team_for(actor, sharing)
        report.updated_at = timezone.now()
        report.save()
        record_setting_change("saved_report", report, actor=actor, before=before, after=_report_values(report))
    return report


def delete_report(report: SavedReport, *, actor: Any) -> None:
    _check(actor, report)
    with transaction.atomic():
        record_setting_change("saved_report", report, actor=actor, action="deleted", before=_report_values(report))
        report.delete()


# --- dashboards -----------------------------------------------------------------------------------
def _dashboard_values(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "name": dashboard.name,
        "sharing": dashboard.sharing,
        "team": dashboard.team_id,
        "filters": dashboard.filters,
        "schedule": dashboard.schedule,
        "recipients": sorted(u.pk for u in dashboard.recipients.all()) if dashboard.pk else [],
        "widgets": [
            f"{w.ref}:{w.size}" for w in Widget.objects.filter(dashboard=dashboard).order_by("position", "id")
        ]
        if dashboard.pk
        else [],
    }


def create_dashboard(
    *,
    actor: Any,
    name: str,
    sharing: str = PRIVATE,
    filters: dict[str, Any] | None = None,
    schedule: str = "",
    recipients: list[Any] | None = None,
    system: bool = False,
    slug: str = "",
) -> Dashboard:
    with transaction.atomic():
        dashboard = Dashboard.objects.create(
            name=name,
            slug=slug,
            owner=None if system else actor,
            sharing=EVERYONE if system else sharing,
            team_id=None if system else _team_for(actor, sharing),
            filters=filters or {},
            schedule=schedule,
        )
        if recipients:
            dashboard.recipients.set(recipients)
        record_setting_change("dashboard", dashboard, actor=actor, action="created", after=_dashboard_values(dashboard))
    return dashboard


def update_dashboard(dashboard: Dashboard, *, actor: Any, **changes: Any) -> Dashboard:
    """Change any of name, sharing, filters, schedule, recipients."""
    _check(actor, dashboard)
    unknown = set(changes) - {"name", "sharing", "filters", "schedule", "recipients"}
    if unknown:
        raise ValueError(f"unknown dashboard fields {sorted(unknown)}")
    with transaction.atomic():
        before = _dashboard_values(dashboard)
        for name in ("name", "filters", "schedule"):
            if name in changes:
                setattr(dashboard, name, changes[name])
        if "sharing" in changes and dashboard.owner_id is not None:
            dashboard.sharing = changes["sharing"]
            dashboard.team_id = _team_for(actor, changes["sharing"])
        dashboard.updated_at = timezone.now()
        dashboard.save()
        if "recipients" in changes:
            dashboard.recipients.set(changes["recipients"])
        record_setting_change("dashboard", dashboard, actor=actor, before=before, after=_dashboard_values(dashboard))
    return dashboard


def delete_dashboard(dashboard: Dashboard, *, actor: Any) -> None:
    _check(actor, dashboard)
    with transaction.atomic():
        record_setting_change(
            "dashboard", dashboard, actor=actor, action="deleted", before=_dashboard_values(dashboard)
        )
        dashboard.delete()


def add_widget(
    dashboard: Dashboard,
    report: SavedReport | None,
    *,
    actor: Any,
    size: str = "m",
    options: dict[str, Any] | None = None,
    standard: str = "",
) -> Widget:
    """Add a saved report, or (``report`` None) the standard report ``standard``, to ``dashboard``."""
    _check(actor, dashboard)
    if (report is None) == (not standard):
        raise ValueError("a widget shows a saved report or a standard report")
    with transaction.atomic():
        before = _dashboard_values(dashboard)
        last = (
            Widget.objects.filter(dashboard=dashboard).order_by("-position").values_list("position", flat=True).first()
        )
        widget = Widget.objects.create(
            dashboard=dashboard,
            report=report,
            standard=standard,
            size=size,
            position=(last or 0) + 1,
            options=options or {},
        )
        record_setting_change("dashboard", dashboard, actor=actor, before=before, after=_dashboard_values(dashboard))
    return widget


def update_widget(
    widget: Widget, *, actor: Any, size: str | None = None, options: dict[str, Any] | None = None
) -> Widget:
    dashboard = widget.dashboard
    _check(actor, dashboard)
    with transaction.atomic():
        before = _dashboard_values(dashboard)
        if size is not None:
            widget.size = size
        if options is not None:
            widget.options = options
        widget.save()
        record_setting_change("dashboard", dashboard, actor=actor, before=before, after=_dashboard_values(dashboard))
    return widget


def arrange_widgets(dashboard: Dashboard, order: list[int], *, actor: Any) -> None:
    """Put the widgets in ``order`` (widget ids); widgets left out keep their place after them."""
    _check(actor, dashboard)
    with transaction.atomic():
        before = _dashboard_values(dashboard)
        widgets = {w.pk: w for w in Widget.objects.select_for_update().filter(dashboard=dashboard)}
        ranked = [pk for pk in order if pk in widgets] + [pk for pk in widgets if pk not in order]
        for position, pk in enumerate(ranked, start=1):
            if widgets[pk].position != position:
                widgets[pk].position = position
                widgets[pk].save(update_fields=["position"])
        record_setting_change("dashboard", dashboard, actor=actor, before=before, after=_dashboard_values(dashboard))


def remove_widget(widget: Widget, *, actor: Any) -> None:
    dashboard = widget.dashboard
    _check(actor, dashboard)
    with transaction.atomic():
        before = _dashboard_values(dashboard)
        widget.delete()
        record_setting_change("dashboard", dashboard, actor=actor, before=before, after=_dashboard_values(dashboard))


# --- the default Sales dashboard ------------------------------------------------------------------
SALES_SLUG = "sales"
# (name, config, size, options): the figures every installation starts with
SALES_WIDGETS: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    (
        "Open deals",
        {"type": "deals", "filters": "status=open", "chart": "number", "period_field": "close_date"},
        "s",
        {},
    ),
    (
        "Pipeline value",
        {
            "type": "deals",
            "filters": "status=open",
            "measure": {"op": "sum", "field": "amount"},
            "chart": "number",
            "period_field": "close_date",
        },
        "s",
        {},
    ),
    (
        "Weighted pipeline",
        {
            "type": "deals",
            "filters": "status=open",
            "measure": {"op": "sum", "field": "amount", "weight": "probability"},
            "chart": "number",
            "period_field": "close_date",
        },
        "s",
        {},
    ),
    (
        "Won this period",
        {
            "type": "deals",
            "filters": "status=won",
            "measure": {"op": "sum", "field": "amount"},
            "chart": "number",
            "period_field": "closed",
        },
        "s",
        {"target": "quota"},
    ),
]
# Standard reports on it, after those: (key, size). The conversion per stage of the first pipeline.
SALES_STANDARD_WIDGETS: list[tuple[str, str]] = [("funnel", "w")]


def default_dashboard(actor: Any = None) -> Dashboard:
    """The installation's Sales dashboard, made once (on the first visit of the dashboards page;
    idempotent under concurrency: the slug is unique)."""
    found = Dashboard.objects.filter(slug=SALES_SLUG).first()
    if found is not None:
        return found
    from rapport.core.visibility import SYSTEM

    from .engine import parse_config

    builder = _Everything()
    try:
        with transaction.atomic():
            dashboard = create_dashboard(
                actor=actor or SYSTEM,
                name="Sales",
                system=True,
                slug=SALES_SLUG,
                filters={"period": "this_quarter"},
            )
            for position, (name, data, size, options) in enumerate(SALES_WIDGETS, start=1):
                report = create_report(
                    actor=actor or SYSTEM, name=name, config=parse_config(data, builder), system=True
                )
                Widget.objects.create(dashboard=dashboard, report=report, position=position, size=size, options=options)
            for position, (key, size) in enumerate(SALES_STANDARD_WIDGETS, start=len(SALES_WIDGETS) + 1):
                Widget.objects.create(dashboard=dashboard, standard=key, position=position, size=size)
    except IntegrityError:  # made by a concurrent first visit
        return Dashboard.objects.get(slug=SALES_SLUG)
    return dashboard


class _Everything:
    """Validates the default reports' configs as someone who may view deals (no user exists yet
    on a fresh installation)."""

    pk = None
    team_id = None
    is_authenticated = True

    def scope_for(self, type_key: str, action: str) -> str:
        return "all"
