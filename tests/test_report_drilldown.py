"""Drill-down from figures to the records behind them: the funnel's stages to the deals list's ``entered``
filter (deals that entered a stage between two days, from the stage-change history), the report builder's
"No date" and "Others" groups, and the data quality report's figures to the records to fix. Every list
reached must hold exactly the records counted, for the viewer (visibility holds).

The book is test_reports_standard's (its docstring lists the deals and their moves)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from . import test_reports_standard as base
from .test_reports_standard import Q1, run

book = base.book  # the fixture


def listed(client: Any, url: str) -> list[str]:
    """The titles (or names) of the records the list behind ``url`` holds, read through the API."""
    parts = urlsplit(url)
    answer = client.get(f"/api/v1{parts.path}?{parts.query}&page_size=200")
    assert answer.status_code == 200, (url, answer.content[:300])
    body = answer.json()
    assert body["next"] is None
    return sorted(r.get("title") or r.get("first_name") or r.get("name") for r in body["results"])


def stage_links(result: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["label"]: r["links"] for r in result["rows"]}


# --- the funnel --------------------------------------------------------------------------------------
def test_each_funnel_figure_lists_the_deals_it_counts(book, api_client_for):
    member = book["users"]["member"]
    client = api_client_for(member)
    r = run("funnel", member)
    links = stage_links(r)
    # by hand (Q1, the member sees the east team's D1–D5): Qualification entered D1–D5, of which D1 (to
    # Proposal), D2 (to Needs analysis) and D3 (to Won) moved on; D1 and D3 are won now, D2 lost.
    assert listed(client, links["Qualification"]["entered"]) == ["D1", "D2", "D3", "D4", "D5"]
    assert listed(client, links["Qualification"]["advanced"]) == ["D1", "D2", "D3"]
    assert listed(client, links["Qualification"]["won"]) == ["D1", "D3"]
    assert listed(client, links["Qualification"]["lost"]) == ["D2"]
    # Needs analysis: D2 only, which then went to Lost (not a further stage that counts): no "advanced" link
    assert listed(client, links["Needs analysis"]["entered"]) == ["D2"]
    assert "advanced" not in links["Needs analysis"] and "won" not in links["Needs analysis"]
    assert listed(client, links["Needs analysis"]["lost"]) == ["D2"]
    assert listed(client, links["Proposal"]["advanced"]) == ["D1"]  # D1 Proposal → Won
    assert links["Negotiation"] == {}  # nothing entered it
    assert listed(client, links["Won"]["entered"]) == ["D1", "D3"]
    assert listed(client, links["Lost"]["entered"]) == ["D2"]
    # the headline figures link to the first stage's and the won stage's entries
    assert r["summary"] == {"entered_first": 5, "reached_won": 2, "overall": "40.0"}
    assert listed(client, r["summary_links"]["entered_first"]) == ["D1", "D2", "D3", "D4", "D5"]
    assert listed(client, r["summary_links"]["reached_won"]) == ["D1", "D3"]
    assert "overall" not in r["summary_links"]
    # the link carries the pipeline (the first one, not chosen), the stage and the period's days
    pipeline = r["filters"]["pipeline"]
    assert pipeline is None
    query = dict(parse_qsl(urlsplit(links["Qualification"]["advanced"]).query))
    assert query == {
        "pipeline": str(book["deals"][0].pipeline_id),
        "entered": str(book["stage"]["Qualification"]),
        "entered__after": "2026-01-01",
        "entered__before": "2026-03-31",
        "entered__advanced": "yes",
    }


def test_every_funnel_count_equals_its_list_for_each_viewer_and_filter(book, api_client_for):
    """For every figure with a link, the list's length is the figure, whoever looks and whatever the filters:
    the admin sees D6 (the west team's, entered Qualification 01-07, won 01-30), the member never does."""
    users = book["users"]
    peer, west = users["peer"], users["outsider"].team_id
    cases = [
        ("member", Q1),
        ("admin", Q1),
        ("westlead", Q1),
        ("member", Q1 + f"&owner={peer.pk}"),  # D5 only
        ("admin", Q1 + f"&team={west}"),  # D6 only
        ("member", Q1 + f"&team={west}"),  # nothing the member may see
        ("member", "period=custom&start=2026-02-01&end=2026-02-28"),  # D3, D4 entered; D1 won
    ]
    checked = 0
    for role, query in cases:
        user = users[role]
        client = api_client_for(user)
        r = run("funnel", user, query)
        for row in r["rows"]:
            for key, url in row["links"].items():
                assert len(listed(client, url)) == row["values"][key], (role, query, row["label"], key)
                checked += 1
            for key in ("entered", "advanced", "won", "lost"):
                assert (key in row["links"]) == bool(row["values"][key]), (role, query, row["label"], key)
    assert checked > 20
    admin = run("funnel", users["admin"])
    assert listed(api_client_for(users["admin"]), stage_links(admin)["Won"]["entered"]) == ["D1", "D3", "D6"]
    west_only = stage_links(run("funnel", users["admin"], Q1 + f"&team={west}"))
    assert listed(api_client_for(users["admin"]), west_only["Qualification"]["won"]) == ["D6"]
    # the member following the admin's link sees only their team's deals
    assert listed(api_client_for(users["member"]), stage_links(admin)["Won"]["entered"]) == ["D1", "D3"]
    assert run("funnel", users["member"], Q1 + f"&team={west}")["rows"] == []
    feb = stage_links(run("funnel", users["member"], "period=custom&start=2026-02-01&end=2026-02-28"))
    assert listed(api_client_for(users["member"]), feb["Qualification"]["entered"]) == ["D3", "D4"]
    assert listed(api_client_for(users["member"]), feb["Qualification"]["advanced"]) == ["D3"]


def test_the_deals_page_counts_what_the_funnel_counts(book, client):
    client.force_login(book["users"]["member"])
    page = client.get(f"/reports/funnel/?{Q1}").content.decode()
    hrefs = re.findall(r'href="(/deals/\?[^"]+)"', page)
    # non-zero stage figures: Qualification 4, Needs analysis 2 (entered, lost), Proposal 3 (entered, advanced,
    # won), Won 2 (entered, won), Lost 2 (entered, lost) = 13; and 2 headlines
    assert len(hrefs) == 13 + 2
    qualification = [h for h in hrefs if f"entered={book['stage']['Qualification']}&" in h.replace("&amp;", "&")]
    entered = next(h for h in qualification if "advanced" not in h and "status" not in h).replace("&amp;", "&")
    listing = client.get(entered)
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "5 deals" in text
    assert all(f">{t}<" in text for t in ("D1", "D2", "D3", "D4", "D5"))
    # the filter bar shows the stage, the days and the "moved on" choice, so the user sees why
    assert 'name="entered__after"' in text and 'value="2026-01-01"' in text
    moved = client.get(entered + "&entered__advanced=yes").content.decode()
    assert "3 deals" in moved


def test_the_sales_dashboards_conversion_widget_links_each_stage(book, client):
    from rapport.reports.services import default_dashboard

    dashboard = default_dashboard()
    client.force_login(book["users"]["member"])
    page = client.get(f"/reports/dashboards/{dashboard.pk}/?period=").content.decode()
    stage = book["stage"]["Qualification"]
    assert f"entered={stage}&amp;entered__after=" in page  # the widget's figures table, under its filters


@pytest.mark.parametrize(
    "query, param",
    [
        ("entered=abc", "entered"),
        ("entered=99999999999999999999999", "entered"),
        ("entered=1&entered__after=2026-13-01", "entered__after"),
        ("entered=1&entered__before=yesterday", "entered__before"),
        ("entered__after=2026-01-01,2026-02-01", "entered__after"),
        ("entered__advanced=maybe", "entered__advanced"),
        ("entered__since=2026-01-01", "entered__since"),
        ("entered=%00", "entered"),
    ],
)
def test_hostile_entered_filters_get_a_400_naming_the_parameter(book, api_client_for, client, query, param):
    member = book["users"]["member"]
    answer = api_client_for(member).get(f"/api/v1/deals/?{query}")
    assert answer.status_code == 400, answer.content[:200]
    assert list(answer.json()["fields"]) == [param]
    client.force_login(member)
    page = client.get(f"/deals/?{query}")
    assert page.status_code == 400 and param in page.content.decode()


def test_the_entered_filter_is_in_the_api_schema(book, api_client_for):
    document = api_client_for(book["users"]["member"]).get("/api/schema/?format=json").json()
    names = {p["name"]: p for p in document["paths"]["/api/v1/deals/"]["get"]["parameters"]}
    assert names["entered__after"]["schema"] == {"type": "string", "format": "date"}
    assert names["entered__before"]["schema"] == {"type": "string", "format": "date"}
    assert names["entered__advanced"]["schema"] == {"type": "string", "enum": ["yes", "no"]}
    assert names["entered"]["schema"]["type"] == "string"


def test_not_moved_on_is_the_rest_of_the_entered(book, api_client_for):
    member = book["users"]["member"]
    links = stage_links(run("funnel", member))
    stayed = links["Qualification"]["entered"] + "&entered__advanced=no"
    assert listed(api_client_for(member), stayed) == ["D4", "D5"]  # 5 entered − 3 advanced


# --- data quality: every figure opens the records to fix -------------------------------------------------
def test_every_data_quality_figure_lists_the_records_to_fix(book, api_client_for):
    manager = book["users"]["manager"]  # the east team: P1–P4, Acme, D1–D5
    client = api_client_for(manager)
    r = run("data-quality", manager)
    missing = {row["label"]: row["links"].get("missing") for row in r["rows"]}
    # by hand: P1 has an email, a phone and a company; P2 an email; P3 and P4 nothing; all have an owner and
    # a lifecycle stage (lead, the default). Acme has a domain and an owner, no phone, no industry.
    assert listed(client, missing["People · Email"]) == ["P3", "P4"]
    assert listed(client, missing["People · Phone"]) == ["P2", "P3", "P4"]
    assert listed(client, missing["People · Company"]) == ["P2", "P3", "P4"]
    assert missing["People · Owner"] is None and missing["People · Lifecycle stage"] is None  # nothing missing
    assert listed(client, missing["Companies · Phone"]) == ["Acme"]
    assert listed(client, missing["Companies · Industry"]) == ["Acme"]
    for row in r["rows"]:  # every missing figure above zero has its list, of that length
        url = row["links"].get("missing")
        assert (url is not None) == bool(row["values"]["missing"]), row["label"]
        if url:
            assert len(listed(client, url)) == row["values"]["missing"], row["label"]
    links = r["summary_links"]
    assert listed(client, links["people_total"]) == ["P1", "P2", "P3", "P4"]
    assert listed(client, links["companies_total"]) == ["Acme"]
    assert listed(client, links["deals_open"]) == ["D4", "D5"]
    assert listed(client, links["deals_without_next"]) == ["D5"]  # D4 has a task to do linked
    assert listed(client, links["deals_stale"]) == ["D4", "D5"]
    assert listed(client, links["people_stale"]) == ["P1", "P2", "P3", "P4"]
    for key, value in r["summary"].items():  # every headline figure above zero links its records
        assert (key in links) == bool(value), key
        if value:
            assert len(listed(client, links[key])) == value, key
    # the list filters behind the new links, by hand
    assert listed(client, "/people/?has_lifecycle_stage=yes") == ["P1", "P2", "P3", "P4"]
    assert listed(client, "/people/?has_lifecycle_stage=no") == []
    assert listed(client, "/deals/?has_next_activity=yes") == ["D4"]
    # the west lead sees no open deal of the east team: no figure, no link
    west = run("data-quality", book["users"]["westlead"])
    assert west["summary"]["deals_open"] == 0 and "deals_open" not in west["summary_links"]


@pytest.mark.parametrize("query", ["has_next_activity=maybe", "has_next_activity=yes,no", "has_next_activity__x=1"])
def test_hostile_next_activity_filters_get_a_400_naming_the_parameter(book, api_client_for, query):
    answer = api_client_for(book["users"]["member"]).get(f"/api/v1/deals/?{query}")
    assert answer.status_code == 400 and list(answer.json()["fields"]) == [query.partition("=")[0]]
