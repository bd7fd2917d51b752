"""Background jobs of reports: the scheduled email of a dashboard, weekly (Monday) or monthly (the
1st), from 07:00 in each recipient's time zone, through the outgoing mail path (the outbox).

Each recipient gets the figures *they* may see (the dashboard computed with them as the viewer),
once per dashboard, recipient and day (``once`` key). The email has a text version (the figures as text
tables) and an HTML version with each widget's chart inline: drawn on the server as PNG
(``chartimage``), attached with a Content-ID the HTML names; both end with a link to the dashboard.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from rapport.core import formatting
from rapport.jobs import job, once, periodic
from rapport.jobs.events import register_consumer

from . import chartimage, dashboards, engine, presentation, summaries
from .models import Dashboard

SEND_HOUR = 7
SEND_EVERY = dt.timedelta(minutes=30)


def due_today(schedule: str, day: dt.date) -> bool:
    return (schedule == "weekly" and day.weekday() == 0) or (schedule == "monthly" and day.day == 1)


def email_key(dashboard: Dashboard, user: Any, day: dt.date) -> str:
    return f"dashboard-email:{dashboard.pk}:{user.pk}:{day.isoformat()}"


def email_text(dashboard: Dashboard, user: Any, panels: list[dashboards.Panel], filters: dashboards.Filters) -> str:
    from rapport.activities.reminders import site_url

    period = dashboards.PERIOD_LABELS.get(filters.period, "All time")
    lines = [f"{dashboard.name} — {period}", "Figures of the records you may see in Rapport.", ""]
    for panel in panels:
        name = panel.widget.title
        if panel.standard is not None:
            lines += standard_lines(name, panel.standard)
            continue
        result = panel.result
        if result is None:
            lines += [f"{name}: {panel.error}", ""]
            continue
        if not result.group_labels or result.config.chart == "number":
            line = f"{name}: {result.format(result.total.value)}"
            if panel.previous is not None and panel.delta is not None:
                sign = "+" if panel.delta > 0 else ""
                line += f" ({sign}{result.format(panel.delta)} on the period before)"
            if panel.target is not None:
                line += f" · target {result.format(panel.target)}"
                if panel.attainment is not None:
                    line += f", {formatting.percent(panel.attainment)} reached"
            lines += [line]
            continue
        lines += ["", name]
        width = max((len(" / ".join(r.labels)) for r in result.rows), default=0)
        for row in result.rows[:20]:
            label = " / ".join(row.labels)
            lines.append(f"  {label.ljust(width)}  {result.format(row.value)}")
        if len(result.rows) > 20:
            lines.append(f"  … and {len(result.rows) - 20} more on the dashboard")
        lines.append(f"  {'Total'.ljust(width)}  {result.format(result.total.value)}")
        lines.append("")
    lines += ["", f"Open the dashboard: {site_url()}/reports/dashboards/{dashboard.pk}/"]
    return "\n".join(lines) + "\n"


def email_html(
    dashboard: Dashboard, user: Any, panels: list[dashboards.Panel], filters: dashboards.Filters
) -> tuple[str, list[tuple[str, bytes]]]:
    """The HTML version and its inline charts, as (Content-ID, PNG): the same figures as ``email_text``."""
    from rapport.activities.reminders import site_url

    from .presentation import cell_text

    shown, images = [], []
    for panel in panels:
        item: dict[str, Any] = {"title": panel.widget.title}
        chart: dict[str, Any] | None = None
        if panel.standard is not None:
            report = panel.standard
            currency = report.base_currency
            item["note"] = report.note
            item["summary"] = [(c.label, cell_text(c, v, currency)) for c, v, _ in report.summary]
            item["columns"] = ["", *(c.label for c in report.columns)]
            item["rows"] = [
                [r.label, *(cell_text(c, r.values.get(c.key), currency) for c in report.columns)]
                for r in report.rows[:20]
            ]
            item["more"] = max(0, len(report.rows) - 20)
            chart = presentation.standard_chart(report, panel.widget.standard)
        elif panel.result is None:
            item["error"] = panel.error
        elif not panel.result.group_labels or panel.result.config.chart == "number":
            result = panel.result
            item["figure"] = result.format(result.total.value)
            if panel.previous is not None and panel.delta is not None:
                item["delta"] = ("+" if panel.delta > 0 else "") + result.format(panel.delta)
            if panel.target is not None:
                target = f"Target {result.format(panel.target)}"
                if panel.attainment is not None:
                    target += f", {formatting.percent(panel.attainment)} reached"
                item["target"] = target
        else:
            result = panel.result
            item["columns"] = [" / ".join(result.group_labels), result.measure_label]
            item["rows"] = [[" / ".join(r.labels), result.format(r.value)] for r in result.rows[:20]]
            item["total"] = ["Total", result.format(result.total.value)]
            item["more"] = max(0, len(result.rows) - 20)
            chart = presentation.chart_data(result)
        picture = chartimage.png(chart)
        if picture is not None:
            item["cid"] = f"chart-{panel.widget.pk}@rapport"
            images.append((item["cid"], picture))
        shown.append(item)
    html = render_to_string(
        "reports/email/dashboard.html",
        {
            "dashboard": dashboard,
            "period": dashboards.PERIOD_LABELS.get(filters.period, "All time"),
            "panels": shown,
            "url": f"{site_url()}/reports/dashboards/{dashboard.pk}/",
            "schedule": "weekly" if dashboard.schedule == "weekly" else "monthly",
        },
    )
    return html, images


def standard_lines(name: str, result: Any) -> list[str]:
    """A standard report's widget as text: its headline figures, then its table (columns aligned)."""
    from .presentation import cell_text

    currency = result.base_currency
    lines = ["", f"{name} · {result.note}" if result.note else name]
    lines += [f"  {c.label}: {cell_text(c, v, currency)}" for c, v, _ in result.summary]
    if not result.rows:
        return [*lines, "  Nothing to show for this period.", ""]
    table = [["", *(c.label for c in result.columns)]]
    for r in result.rows[:20]:
        table.append([r.label, *(cell_text(c, r.values.get(c.key), currency) for c in result.columns)])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))]
        lines.append("  " + "  ".join(cells).rstrip())
    if len(result.rows) > 20:
        lines.append(f"  … and {len(result.rows) - 20} more on the dashboard")
    return [*lines, ""]


def send_dashboards_now(now: dt.datetime | None = None) -> int:
    """Queue the email of every scheduled dashboard to each recipient whose local sending time has come
    today (and who has not had it); each with their own figures."""
    from rapport.activities.models import OutgoingEmail, OutgoingEmailImage
    from rapport.activities.reminders import flush_outbox

    now = now or timezone.now()
    queued = 0
    for dashboard in Dashboard.objects.exclude(schedule="").prefetch_related("recipients"):
        for user in dashboard.recipients.all():
            if not user.is_active or not user.email:
                continue
            local = now.astimezone(engine.user_tz(user))
            if local.hour < SEND_HOUR or not due_today(dashboard.schedule, local.date()):
                continue
            key = email_key(dashboard, user, local.date())
            with once(key) as first:
                if not first:
                    continue
                with formatting.using(getattr(user, "locale", None)), timezone.override(engine.user_tz(user)):
                    filters = dashboards.parse_filters({}, dashboard.filters, user)
                    panels = dashboards.compute(dashboard, user, filters, today=local.date())
                    body = email_text(dashboard, user, panels, filters)
                    html, images = email_html(dashboard, user, panels, filters)
                kind = "Weekly" if dashboard.schedule == "weekly" else "Monthly"
                email = OutgoingEmail.objects.create(
                    key=key, to=user.email, subject=f"{kind}: {dashboard.name}", body=body, html=html
                )
                OutgoingEmailImage.objects.bulk_create(
                    [OutgoingEmailImage(email=email, cid=cid, content=png) for cid, png in images]
                )
                queued += 1
    flush_outbox()
    return queued


@job(max_attempts=5)
def send_dashboards() -> int:
    return send_dashboards_now()


periodic("dashboard_emails", send_dashboards, every=SEND_EVERY)


@job(max_attempts=3)
def snapshot_data_quality() -> int:
    """Today's data quality per type, key field and team (``standard_team.take_snapshot``): idempotent,
    a second run the same day replaces the first."""
    from .standard_team import take_snapshot

    return take_snapshot()


periodic("snapshot_data_quality", snapshot_data_quality, every=dt.timedelta(days=1), offset=dt.timedelta(hours=2))


@job(max_attempts=3)
def reconcile_summaries() -> int:
    """Every minute: the deals changed since the last run re-synced into the report summaries (anything
    an event did not bring), or a full rebuild when the exchange-rate stretches changed."""
    return summaries.reconcile()


periodic("reconcile_report_summaries", reconcile_summaries, every=dt.timedelta(minutes=1))
register_consumer(summaries.keep_current)
