"""The reports and dashboards API: saved reports CRUD and run, ad hoc runs, dashboards and widgets,
errors naming the field, each viewer's own numbers; every answer checked against the schema."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from rapport.reports.models import Dashboard, SavedReport

from .test_report_engine import book  # noqa: F401

BY_OWNER = {
    "type": "deals",
    "group_by": [{"field": "owner"}],
    "measure": {"op": "sum", "field": "amount"},
    "chart": "bar",
}


def post(client: Any, url: str, data: Any) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json")


def patch(client: Any, url: str, data: Any) -> Any:
    return client.patch(url, json.dumps(data), content_type="application/json")


def test_run_an_ad_hoc_report(book, api_client_for):  # noqa: F811
    client = api_client_for(book["admin"])
    response = post(client, "/api/v1/reports/run/", BY_OWNER)
    assert response.status_code == 200, response.content
    data = response.json()
    assert [(r["labels"], r["value"], r["count"]) for r in data["rows"]] == [
        (["Member"], "3670.00", 5),
        (["Peer"], "1100.00", 2),
        (["Outsider"], "400.00", 1),
    ]
    assert data["total"]["value"] == "5170.00" and data["currency"] == "USD" and data["value_kind"] == "money"
    assert data["unconverted"] == 1 and data["unconverted_currencies"] == ["GBP"]
    assert data["rows"][0]["url"] == f"/deals/?owner={book['member'].pk}"
    count = post(client, "/api/v1/reports/run/", {"type": "deals", "group_by": [{"field": "status"}]}).json()
    assert [(r["keys"], r["value"]) for r in count["rows"]] == [(["open"], "5"), (["won"], "3")]


def test_bad_reports_name_the_field(book, api_client_for):  # noqa: F811
    client = api_client_for(book["admin"])
    cases = [
        ({"type": "deals", "group_by": [{"field": "title"}]}, "group_by[0].field"),
        ({"type": "deals", "filters": "colour=red"}, "filters.colour"),
        ({"type": "deals", "measure": {"op": "sum", "field": "title"}}, "measure.field"),
        ({"type": "deals", "chart": "radar"}, "chart"),
        ({"type": "deals", "group_by": [{"field": "owner"}] * 3}, "group_by"),
        ({"type": "nope"}, "type"),
    ]
    for body, field in cases:
        response = post(client, "/api/v1/reports/run/", body)
        assert response.status_code == 400, (body, response.content)
        fields = response.json()["fields"]
        assert any(k == field or k.startswith(field + ".") for k in fields), (body, response.json())


def test_saved_reports_crud_and_each_viewers_numbers(book, api_client_for):  # noqa: F811
    member, peer, outsider = book["member"], book["peer"], book["outsider"]
    mine = api_client_for(member)
    created = post(mine, "/api/v1/reports/saved/", {"name": "By owner", "sharing": "everyone", "config": BY_OWNER})
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created["Location"] == f"/api/v1/reports/saved/{pk}/"
    assert created.json()["config"]["group_by"] == [{"field": "owner", "granularity": ""}]
    # shared with everyone: each viewer runs it and gets their own numbers
    theirs = api_client_for(outsider).get(f"/api/v1/reports/saved/{pk}/run/").json()
    assert theirs["total"]["value"] == "400.00" and [r["labels"] for r in theirs["rows"]] == [["Outsider"]]
    team = api_client_for(peer).get(f"/api/v1/reports/saved/{pk}/run/").json()
    assert team["total"]["value"] == "4770.00"
    # only the owner changes it
    assert patch(api_client_for(peer), f"/api/v1/reports/saved/{pk}/", {"name": "Mine"}).status_code == 403
    changed = patch(mine, f"/api/v1/reports/saved/{pk}/", {"name": "Owners", "sharing": "private"})
    assert changed.status_code == 200 and changed.json()["name"] == "Owners"
    assert api_client_for(outsider).get(f"/api/v1/reports/saved/{pk}/").status_code == 404
    listed = mine.get("/api/v1/reports/saved/").json()
    assert [r["name"] for r in listed["results"]] == ["Owners"]
    assert (
        post(mine, "/api/v1/reports/saved/", {"name": "x", "config": {"type": "deals"}, "colour": 1}).status_code == 400
    )
    assert mine.delete(f"/api/v1/reports/saved/{pk}/").status_code == 204
    assert not SavedReport.objects.filter(pk=pk).exists()


def test_dashboards_and_widgets(book, api_client_for):  # noqa: F811
    member = book["member"]
    client = api_client_for(member)
    listed = client.get("/api/v1/dashboards/").json()
    assert [d["name"] for d in listed["results"]] == ["Sales"]  # made on the first visit
    created = post(
        client,
        "/api/v1/dashboards/",
        {"name": "Mine", "filters": {"period": ""}, "schedule": "weekly", "recipients": [member.pk]},
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    report = post(
        client, "/api/v1/reports/saved/", {"name": "Won", "config": {"type": "deals", "filters": "status=won"}}
    )
    rid = report.json()["id"]
    widget = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"report": rid, "size": "s"})
    assert widget.status_code == 201, widget.content
    second = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"report": rid, "size": "w"}).json()
    arranged = post(client, f"/api/v1/dashboards/{pk}/arrange/", {"order": [second["id"]]})
    assert [w["id"] for w in arranged.json()["widgets"]] == [second["id"], widget.json()["id"]]
    resized = patch(client, f"/api/v1/dashboards/{pk}/widgets/{second['id']}/", {"size": "l"})
    assert resized.json()["size"] == "l"
    run = client.get(f"/api/v1/dashboards/{pk}/run/").json()
    assert [p["result"]["total"]["value"] for p in run["panels"]] == ["3", "3"]  # member's three won deals
    narrowed = client.get(f"/api/v1/dashboards/{pk}/run/?owner={book['peer'].pk}").json()
    assert [p["result"]["total"]["value"] for p in narrowed["panels"]] == ["0", "0"]
    assert client.get(f"/api/v1/dashboards/{pk}/run/?period=fortnight").status_code == 400
    bad = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"report": 999999})
    assert bad.status_code == 400 and "report" in bad.json()["fields"]
    # a standard report as a widget: the conversion per stage, under the dashboard's filters
    funnel = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"standard": "funnel", "size": "w"})
    assert funnel.status_code == 201, funnel.content
    assert {k: funnel.json()[k] for k in ("report", "standard", "report_name")} == {
        "report": None, "standard": "funnel", "report_name": "Funnel conversion"
    }  # fmt: skip
    with freeze_time("2026-11-30 12:00"):  # this year: 2026
        run = client.get(f"/api/v1/dashboards/{pk}/run/?period=this_year&owner={member.pk}").json()
    shown = run["panels"][-1]
    assert shown["result"] is None and shown["standard"] == "funnel" and shown["name"] == "Funnel conversion"
    entered = {r["label"]: r["values"]["entered"] for r in shown["standard_result"]["rows"]}
    # the member's deals of 2026: d4 created in Proposal, d8 in Qualification, d1–d3 won
    assert (entered["Qualification"], entered["Proposal"], entered["Won"]) == (1, 1, 3)
    assert shown["standard_result"]["filters"]["owner"] == member.pk
    both = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"report": rid, "standard": "funnel"})
    assert both.status_code == 400 and "report" in both.json()["fields"]
    neither = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"size": "s"})
    assert neither.status_code == 400 and "report" in neither.json()["fields"]
    unknown = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"standard": "horoscope"})
    assert unknown.status_code == 400 and "standard" in unknown.json()["fields"]
    leads_only = post(client, f"/api/v1/dashboards/{pk}/widgets/", {"standard": "adoption"})
    assert leads_only.status_code == 400 and "standard" in leads_only.json()["fields"]  # a member is no team lead
    sales = Dashboard.objects.get(slug="sales")
    assert patch(client, f"/api/v1/dashboards/{sales.pk}/", {"name": "Mine"}).status_code == 403
    assert api_client_for(book["outsider"]).get(f"/api/v1/dashboards/{pk}/").status_code == 404
    assert client.delete(f"/api/v1/dashboards/{pk}/widgets/{second['id']}/").status_code == 204
    assert client.delete(f"/api/v1/dashboards/{pk}/").status_code == 204


def test_sales_dashboard_run_query_count(book, api_client_for):  # noqa: F811
    client = api_client_for(book["admin"])
    client.get("/api/v1/dashboards/")
    sales = Dashboard.objects.get(slug="sales")
    client.get(f"/api/v1/dashboards/{sales.pk}/run/")
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/api/v1/dashboards/{sales.pk}/run/?period=")
    assert response.status_code == 200
    values = [p["result"]["total"]["value"] for p in response.json()["panels"][:4]]
    assert values == ["5", "3500.00", "1210.00", "1670.00"]
    assert response.json()["panels"][4]["standard"] == "funnel"
    # token, throttle, user, role, dashboard, rates, widgets, custom fields; four number widgets
    # (no period: no comparison); the conversion per stage: pipeline, stage entries, time in stage, stages,
    # the base currency
    assert len(ctx.captured_queries) <= 19, "\n".join(q["sql"][:120] for q in ctx.captured_queries)
