"""Dashboards and the builder's pages: the default Sales dashboard's figures worked out by hand, the
dashboard filters changing every widget, the previous period and targets, each viewer's numbers,
saving and sharing, typed XLSX cells, and pinned query counts."""

from __future__ import annotations

import datetime as dt
import importlib
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from rapport.core.models import AuditEntry
from rapport.forecasting.models import Quota
from rapport.reports import dashboards, engine, services
from rapport.reports.models import Dashboard, SavedReport, Widget

from .test_report_engine import book  # noqa: F401  (the hand-built book of deals)

D = Decimal
Q1_DAY = dt.date(2026, 2, 15)  # "this quarter" is Q1 2026, the one before Q4 2025


@pytest.fixture
def quotas(book):  # noqa: F811
    Quota.objects.create(user=book["member"], period="quarter", period_start=dt.date(2026, 1, 1), amount=D("5000"))
    Quota.objects.create(user=book["peer"], period="month", period_start=dt.date(2026, 1, 1), amount=D("100"))
    Quota.objects.create(user=book["peer"], period="month", period_start=dt.date(2026, 2, 1), amount=D("200"))
    Quota.objects.create(user=book["outsider"], period="quarter", period_start=dt.date(2026, 1, 1), amount=D("900"))
    return book


def figures(user: Any, **filters: Any) -> dict[str, Any]:
    board = services.default_dashboard()
    parsed = dashboards.parse_filters(filters, board.filters, user)
    out: dict[str, Any] = {}
    for panel in dashboards.compute(board, user, parsed, today=Q1_DAY):
        if panel.standard is not None:  # the conversion per stage: (stage, entered, advanced) where any entered
            funnel = panel.standard
            out[panel.widget.title] = [(r.label, r.values["entered"], r.values["advanced"]) for r in funnel.rows]
            out["funnel period"] = (funnel.filters.start, funnel.filters.end)
            continue
        result = panel.result
        assert result is not None, panel.error
        if result.group_labels:
            out[panel.widget.report.name] = [(r.labels[0], r.value) for r in result.rows]
        else:
            out[panel.widget.report.name] = result.total.value
            if panel.previous is not None:
                out[panel.widget.report.name + " before"] = panel.previous.total.value
            if panel.target is not None:
                out["target"] = panel.target
                out["attainment"] = panel.attainment
    return out


def test_the_default_sales_dashboard_is_made_once(db):
    first = services.default_dashboard()
    again = services.default_dashboard()
    assert first.pk == again.pk and Dashboard.objects.filter(slug="sales").count() == 1
    assert [w.title for w in first.widgets.order_by("position")] == [
        "Open deals",
        "Pipeline value",
        "Weighted pipeline",
        "Won this period",
        "Funnel conversion",  # the conversion per stage: a standard report on the dashboard
    ]
    assert first.widgets.get(standard="funnel").report is None
    assert first.owner is None and first.sharing == "everyone"


def test_default_dashboard_figures_this_quarter(quotas):
    # Q1 2026 — open deals expected to close in it: d4 2000, d5 1000 EUR × 1.10, d6 (GBP, no rate), d7 400 at 25 %
    # won in it: d1 1000, d2 500 EUR × 1.10, d3 100 EUR × 1.20; created in it: d1–d6.
    assert figures(quotas["admin"]) == {
        "Open deals": 4,
        "Open deals before": 0,
        "Pipeline value": D("3500.00"),
        "Pipeline value before": D("0"),
        "Weighted pipeline": D("1210.00"),  # 2000 × 50 % + 1100 × 10 % + 400 × 25 %
        "Weighted pipeline before": D("0"),
        "Won this period": D("1670.00"),
        "Won this period before": D("0"),
        "target": D("6200"),  # member's quarter 5000 + peer's months 100 + 200 + outsider's 900
        "attainment": D("26.9"),  # 1670 / 6200
        # stage entries in Q1: d5, d6 created in Qualification, d4 in Proposal, d1–d3 created won; none moved on
        "Funnel conversion": [
            ("Qualification", 2, 0), ("Needs analysis", 0, 0), ("Proposal", 1, 0), ("Negotiation", 0, 0),
            ("Won", 3, None), ("Lost", 0, None),
        ],
        "funnel period": (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    }  # fmt: skip


def test_dashboard_filters_change_every_widget(quotas):
    member = quotas["member"]
    mine = figures(quotas["admin"], owner=str(member.pk))
    assert mine == {
        "Open deals": 1,
        "Open deals before": 0,
        "Pipeline value": D("2000.00"),
        "Pipeline value before": D("0"),
        "Weighted pipeline": D("1000.00"),
        "Weighted pipeline before": D("0"),
        "Won this period": D("1670.00"),
        "Won this period before": D("0"),
        "target": D("5000"),
        "attainment": D("33.4"),
        "Funnel conversion": [
            ("Qualification", 0, 0), ("Needs analysis", 0, 0), ("Proposal", 1, 0), ("Negotiation", 0, 0),
            ("Won", 3, None), ("Lost", 0, None),
        ],  # the member's own: d4 and d1–d3
        "funnel period": (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    }  # fmt: skip
    west = figures(quotas["admin"], team=str(quotas["outsider"].team_id))
    assert west["Open deals"] == 1 and west["Pipeline value"] == D("400.00") and west["target"] == D("900")
    # last quarter (Q4 2025) compared with Q3 2025: nothing
    last = figures(quotas["admin"], period="last_quarter")
    assert last["Open deals"] == 0 and last["Funnel conversion"] == []
    assert last["funnel period"] == (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    # all time: no period, no comparison
    everything = figures(quotas["admin"], period="")
    assert everything["Open deals"] == 5 and "Open deals before" not in everything
    # all time: a standard report needs a period, so the funnel shows the last 12 months (Mar 2025 – Feb
    # 2026): d1–d4; d5 (2 March) and later are not in it
    assert everything["funnel period"] == (dt.date(2025, 3, 1), dt.date(2026, 2, 28))
    assert [row for row in everything["Funnel conversion"] if row[1]] == [("Proposal", 1, 0), ("Won", 3, None)]


def test_each_viewer_sees_their_own_numbers_on_a_shared_dashboard(quotas):
    assert figures(quotas["outsider"])["Pipeline value"] == D("400.00")
    member = figures(quotas["member"])
    assert member["Open deals"] == 3 and member["Pipeline value"] == D("3100.00")
    assert member["target"] == D("5300")  # their team's quotas only


def test_periods_and_the_one_before():
    day = dt.date(2026, 2, 15)
    assert dashboards.period_span("this_month", day) == (
        dashboards.Span(dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        dashboards.Span(dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
    )
    assert dashboards.period_span("last_quarter", day) == (
        dashboards.Span(dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
        dashboards.Span(dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
    )
    assert dashboards.period_span("this_year", day)[1] == dashboards.Span(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert dashboards.period_span("last_30_days", day) == (
        dashboards.Span(dt.date(2026, 1, 17), dt.date(2026, 2, 15)),
        dashboards.Span(dt.date(2025, 12, 18), dt.date(2026, 1, 16)),
    )
    assert dashboards.period_span("", day) is None


# --- pages --------------------------------------------------------------------------------------
def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


BUILDER = "/reports/builder/?r_type=deals&r_group1=owner&r_op=sum&r_measure=amount&status=won"


def test_builder_page_shows_the_report_and_its_drill_down(book):  # noqa: F811
    response = client_for(book["admin"]).get(BUILDER)
    assert response.status_code == 200
    html = response.content.decode()
    # won deals: member 1000 + 550 + 120
    assert "$1,670.00" in html and f'href="/deals/?owner={book["member"].pk}&amp;status=won"' in html
    assert 'id="report-data"' in html and "<script>" not in html.replace('<script src="', "")
    preview = client_for(book["admin"]).get(BUILDER.replace("/builder/", "/builder/preview/"))
    assert preview.status_code == 200 and "$1,670.00" in preview.content.decode()
    bad = client_for(book["admin"]).get("/reports/builder/preview/?r_type=deals&r_group1=title")
    assert bad.status_code == 200 and "group_by[0].field" in bad.content.decode()


def test_builder_page_query_count_is_pinned(book, django_assert_num_queries):  # noqa: F811
    client = client_for(book["admin"])
    client.get(BUILDER)  # warm: content types, sessions
    # session, user, role; custom fields; the filter bar's users, pipelines, stages, lost reasons and teams;
    # rates; the summaries' state (not built: the deals are read); the aggregate; owner names
    with CaptureQueriesContext(connection) as ctx:
        client.get(BUILDER)
    assert len(ctx.captured_queries) == 13, "\n".join(q["sql"][:150] for q in ctx.captured_queries)


def test_save_share_and_open_a_report(book):  # noqa: F811
    member, peer, outsider = book["member"], book["peer"], book["outsider"]
    query = "r_type=deals&r_group1=owner&r_op=sum&r_measure=amount"
    response = client_for(member).post(
        "/reports/builder/save/", {"query": query, "name": "By owner", "sharing": "team"}
    )
    report = SavedReport.objects.get(name="By owner")
    assert response.status_code == 302 and response["Location"] == f"/reports/saved/{report.pk}/"
    assert report.owner == member and report.team_id == member.team_id
    assert report.config["group_by"] == [{"field": "owner", "granularity": ""}]
    assert AuditEntry.objects.filter(kind="saved_report", action="created", object_id=report.pk).exists()
    # the peer (same team) opens it and sees their team's figures; the outsider gets a 404
    page = client_for(peer).get(f"/reports/saved/{report.pk}/").content.decode()
    assert "$3,670.00" in page and "$1,100.00" in page
    assert client_for(outsider).get(f"/reports/saved/{report.pk}/").status_code == 404
    # the peer cannot overwrite it
    denied = client_for(peer).post(
        "/reports/builder/save/", {"query": query, "name": "Mine now", "sharing": "private", "report": report.pk}
    )
    assert denied.status_code == 403
    report.refresh_from_db()
    assert report.name == "By owner"


def test_exports_have_typed_cells(book):  # noqa: F811
    client = client_for(book["admin"])
    url = "/reports/builder/export/?r_type=deals&r_group1=created_at&r_gran1=quarter&r_op=sum&r_measure=amount"
    response = client.get(url + "&format=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Created", "Sum of amount", "Records")
    # Q1: 1000 + 550 + 120 + 2000 + 1100; Q2: 400
    assert rows[1][0] == dt.datetime(2026, 1, 1) and rows[1][1] == 4770 and rows[1][2] == 6
    assert rows[2][1] == 400 and rows[3] == ("Total", 5170, 8)
    assert "USD" in sheet.cell(row=2, column=2).number_format and sheet.cell(row=2, column=1).is_date
    csv = b"".join(client.get(url + "&format=csv").streaming_content).decode("utf-8-sig")
    assert csv.splitlines()[1] == "2026-01-01,4770.00,6"
    assert client.get(url + "&format=pdf").status_code == 400


def test_dashboard_pages_and_widget_changes(quotas):
    admin, member = quotas["admin"], quotas["member"]
    response = client_for(member).get("/reports/dashboards/")
    board = Dashboard.objects.get(slug="sales")
    assert response.status_code == 200 and "Sales" in response.content.decode()
    page = client_for(member).get(f"/reports/dashboards/{board.pk}/?period=")
    assert page.status_code == 200
    assert "Remove" not in page.content.decode()  # the installation's dashboard: settings managers change it
    html = page.content.decode()  # the conversion per stage, linked to its report under the same period
    assert '<a href="/reports/funnel/?period=custom&amp;start=' in html and "Funnel conversion" in html
    assert '<th scope="row">Qualification</th>' in html and "First stage to won" in html
    created = client_for(member).post("/reports/dashboards/new/", {"name": "Mine", "sharing": "private"})
    mine = Dashboard.objects.get(name="Mine")
    assert created["Location"] == f"/reports/dashboards/{mine.pk}/"
    report = services.create_report(
        actor=member, name="Won", config=engine.parse_config({"type": "deals", "filters": "status=won"}, member)
    )
    client_for(member).post(f"/reports/saved/{report.pk}/add-to-dashboard/", {"dashboard": mine.pk, "size": "w"})
    second = services.add_widget(mine, report, actor=member)
    first = Widget.objects.get(dashboard=mine, size="w")
    assert client_for(member).post(f"/reports/dashboards/{mine.pk}/arrange/", {"order": f"{second.pk},{first.pk}"},
                                   HTTP_ACCEPT="application/json").status_code == 204  # fmt: skip
    assert list(mine.widgets.values_list("pk", flat=True)) == [second.pk, first.pk]
    html = client_for(member).get(f"/reports/dashboards/{mine.pk}/?period=").content.decode()
    assert f'name="order" value="{first.pk},{second.pk}" aria-label="Move Won later"' in html
    client_for(member).post(f"/reports/dashboards/{mine.pk}/arrange/", {"order": f"{first.pk},{second.pk}"})
    assert list(mine.widgets.values_list("pk", flat=True)) == [first.pk, second.pk]
    client_for(member).post(f"/reports/dashboards/{mine.pk}/arrange/", {"order": f"{second.pk},{first.pk}"})
    client_for(member).post(f"/reports/dashboards/{mine.pk}/widgets/{first.pk}/size/", {"size": "s"})
    first.refresh_from_db()
    assert first.size == "s"
    html = client_for(member).get(f"/reports/dashboards/{mine.pk}/?period=").content.decode()
    assert html.count("$1,670.00") == 0 and html.count(">3<") == 2  # a count: three won deals, twice
    # someone else's private dashboard is not there for others
    assert client_for(admin).get(f"/reports/dashboards/{mine.pk}/").status_code == 404
    assert client_for(admin).post(f"/reports/dashboards/{mine.pk}/delete/").status_code == 404


def test_dashboard_page_query_count_is_pinned(quotas, django_assert_num_queries):
    client = client_for(quotas["admin"])
    board = services.default_dashboard()
    client.get(f"/reports/dashboards/{board.pk}/")
    # session, user, dashboard, rates, widgets, role, custom fields; four number widgets × (this period,
    # the one before); quotas; the conversion per stage (pipeline, stage entries, time in stage, stages,
    # the base currency); the filter bar's teams and users; the recipients; the summaries' state, read once
    # (not built here: the widgets read the deals)
    with CaptureQueriesContext(connection) as ctx:
        client.get(f"/reports/dashboards/{board.pk}/")
    assert len(ctx.captured_queries) == 25, "\n".join(q["sql"][:150] for q in ctx.captured_queries)


def test_scheduled_email_gives_each_recipient_their_own_figures_once(quotas):
    from rapport.activities.models import OutgoingEmail
    from rapport.reports.tasks import send_dashboards_now

    member, outsider = quotas["member"], quotas["outsider"]
    for user, address in ((member, "member@example.com"), (outsider, "outsider@example.com")):
        user.email = address
        user.save(update_fields=["email"])
    board = services.default_dashboard()
    services.update_dashboard(board, actor=quotas["admin"], schedule="weekly", recipients=[member, outsider])
    sunday = dt.datetime(2026, 2, 15, 9, 0, tzinfo=dt.UTC)
    assert send_dashboards_now(sunday) == 0  # weekly: Mondays
    monday_early = dt.datetime(2026, 2, 16, 6, 0, tzinfo=dt.UTC)
    assert send_dashboards_now(monday_early) == 0  # from 07:00 local
    monday = dt.datetime(2026, 2, 16, 8, 0, tzinfo=dt.UTC)
    assert send_dashboards_now(monday) == 2
    assert send_dashboards_now(monday + dt.timedelta(hours=2)) == 0  # once per day
    mails = {m.to: m for m in OutgoingEmail.objects.all()}
    mine, theirs = mails["member@example.com"].body, mails["outsider@example.com"].body
    assert mails["member@example.com"].subject == "Weekly: Sales"
    # member: their team's open deals this quarter d4, d5, d6 (GBP unconverted); outsider: d7
    assert "Open deals: 3 (+3 on the period before)" in mine and "Pipeline value: $3,100.00" in mine
    assert "Won this period: $1,670.00" in mine and "target $5,300.00, 31.5% reached" in mine
    assert "Open deals: 1 (+1 on the period before)" in theirs and "Pipeline value: $400.00" in theirs
    assert f"/reports/dashboards/{board.pk}/" in mine
    # the conversion per stage as a text table: the member's team's stage entries of Q1 (d5, d6, d4, d1–d3)
    assert "Funnel conversion · Sales pipeline" in mine and "  Reached won: 3" in mine
    rows = {line.split()[0]: line.split()[1:] for line in mine.splitlines() if line.startswith("  Qualification")}
    assert rows["Qualification"] == ["2", "0", "0%", "0", "0", "—"]
    assert "Funnel conversion · Sales pipeline\n  Entered the first stage: 0\n  Reached won: 0" in theirs
    assert "Nothing to show for this period." in theirs  # the outsider's d7 entered in April


def test_an_existing_sales_dashboard_gains_the_conversion_per_stage_once(db):
    from django.apps import apps

    board = services.default_dashboard()
    board.widgets.filter(standard="funnel").delete()  # a Sales dashboard made before it existed
    migration = importlib.import_module("rapport.reports.migrations.0004_widget_standard_report")
    migration.add_conversion(apps, None)
    migration.add_conversion(apps, None)
    assert [(w.standard, w.size, w.position) for w in board.widgets.order_by("position")][-2:] == [
        ("", "s", 4),
        ("funnel", "w", 5),
    ]
