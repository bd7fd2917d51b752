"""The report builder's engine on a small hand-built book of deals: every grouping (each date
granularity, owner, team, choice, link, custom field, two levels) and every measure, with the
figures worked out by hand below; money at dated rates; visibility per viewer; the drill-down
addresses select exactly the records behind each figure. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from rapport.core import customfields, registry
from rapport.core.listing import build_filter
from rapport.deals.models import Pipeline
from rapport.forecasting.models import ExchangeRate
from rapport.reports import engine
from rapport.reports.engine import ReportError

from .conftest import make_user, write

D = Decimal


def deal(owner: Any, created: str, **data: Any) -> Any:
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    stage = data.pop("stage", None)
    if stage:
        data["stage"] = pipeline.stages.get(name=stage).pk
    data.setdefault("title", f"Deal {data.get('amount')}")
    with freeze_time(created):
        return write("deals", data, actor=owner)


@pytest.fixture
def book(users: dict[str, Any]) -> dict[str, Any]:
    """Base USD; EUR 1.10 from 1 Jan 2026, 1.20 from 1 Feb; no GBP rate.

    d1 member 1000 USD won 15 Jan          created 2026-01-05 10:00Z  region EU  seats 10  budget 100 EUR
    d2 member  500 EUR won 20 Jan (550)    created 2026-01-10 10:00Z  region EU  seats 5
    d3 member  100 EUR won 10 Feb (120)    created 2026-02-01 03:00Z  region US            (31 Jan in New York)
    d4 member 2000 USD Proposal, exp 1 Mar created 2026-02-15 12:00Z  region US  seats 20  budget 50 USD
    d5 peer   1000 EUR open, exp 31 Jan (1100)  created 2026-03-02 12:00Z  region EU
    d6 peer    300 GBP open, exp 15 Feb (no rate) created 2026-03-03 12:00Z
    d7 outsider 400 USD open, exp 20 Feb, 25 %  created 2026-04-01 12:00Z        seats 3
    d8 member  no amount, open               created 2026-04-02 12:00Z
    """
    admin = users["admin"]
    customfields.create_field(
        "deals", "region", {"label": "Region", "field_type": "choice", "choices": ["EU", "US"]}, actor=admin
    )
    customfields.create_field("deals", "seats", {"label": "Seats", "field_type": "number"}, actor=admin)
    customfields.create_field("deals", "budget", {"label": "Budget", "field_type": "money"}, actor=admin)
    customfields.forget()
    ExchangeRate.objects.create(currency="EUR", rate=D("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=D("1.20"), valid_from=dt.date(2026, 2, 1))
    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    out = {
        "d1": deal(member, "2026-01-05 10:00Z", amount="1000", status="won", closed_on="2026-01-15",
                   custom={"region": "EU", "seats": 10, "budget": {"amount": "100.00", "currency": "EUR"}}),
        "d2": deal(member, "2026-01-10 10:00Z", amount="500", currency="EUR", status="won", closed_on="2026-01-20",
                   custom={"region": "EU", "seats": 5}),
        "d3": deal(member, "2026-02-01 03:00Z", amount="100", currency="EUR", status="won", closed_on="2026-02-10",
                   custom={"region": "US"}),
        "d4": deal(member, "2026-02-15 12:00Z", amount="2000", stage="Proposal", expected_close_date="2026-03-01",
                   custom={"region": "US", "seats": 20, "budget": {"amount": "50.00", "currency": "USD"}}),
        "d5": deal(peer, "2026-03-02 12:00Z", amount="1000", currency="EUR", expected_close_date="2026-01-31",
                   custom={"region": "EU"}),
        "d6": deal(peer, "2026-03-03 12:00Z", amount="300", currency="GBP", expected_close_date="2026-02-15"),
        "d7": deal(outsider, "2026-04-01 12:00Z", amount="400", probability=25, expected_close_date="2026-02-20",
                   custom={"seats": 3}),
        "d8": deal(member, "2026-04-02 12:00Z", title="No amount"),
    }  # fmt: skip
    return {**users, **out}


def report(user: Any, **data: Any) -> engine.Result:
    data.setdefault("type", "deals")
    return engine.run(engine.parse_config(data, user), user)


def table(result: engine.Result) -> list[tuple[Any, ...]]:
    return [(*r.labels, r.value) for r in result.rows]


def by_month(field: str, granularity: str = "month") -> list[dict[str, str]]:
    return [{"field": field, "granularity": granularity}]


def test_count_by_owner_team_choice_and_link(book):
    admin = book["admin"]
    assert table(report(admin, group_by=["owner"])) == [("Member", 5), ("Peer", 2), ("Outsider", 1)]
    assert table(report(admin, group_by=["team"])) == [("East", 7), ("West", 1)]
    assert table(report(admin, group_by=["status"])) == [("Open", 5), ("Won", 3)]
    assert table(report(admin, group_by=["stage"])) == [
        ("Qualification", 4),
        ("Proposal", 1),
        ("Won", 3),
    ]  # pipeline order
    total = report(admin)
    assert total.rows[0].value == 8 and total.total.value == 8 and total.config.chart == "number"


def test_created_at_by_every_granularity_in_the_viewers_time_zone(book):
    admin = book["admin"]
    assert table(report(admin, group_by=by_month("created_at", "day"))) == [
        (label, 1)
        for label in ("Jan 5, 2026", "Jan 10, 2026", "Feb 1, 2026", "Feb 15, 2026", "Mar 2, 2026", "Mar 3, 2026",
                      "Apr 1, 2026", "Apr 2, 2026")
    ]  # fmt: skip
    weeks = report(admin, group_by=by_month("created_at", "week"))
    assert [(r.keys[0], r.value) for r in weeks.rows] == [
        (dt.date(2026, 1, 5), 2),  # Mon 5 Jan: the 5th and Saturday the 10th
        (dt.date(2026, 1, 26), 1),  # Sunday 1 Feb belongs to the week of Monday 26 Jan
        (dt.date(2026, 2, 9), 1),
        (dt.date(2026, 3, 2), 2),
        (dt.date(2026, 3, 30), 2),
    ]
    assert weeks.rows[0].labels == ("Week of Jan 5, 2026",)
    assert table(report(admin, group_by=by_month("created_at"))) == [
        ("Jan 2026", 2),
        ("Feb 2026", 2),
        ("Mar 2026", 2),
        ("Apr 2026", 2),
    ]
    assert table(report(admin, group_by=by_month("created_at", "quarter"))) == [("Q1 2026", 6), ("Q2 2026", 2)]
    assert table(report(admin, group_by=by_month("created_at", "year"))) == [("2026", 8)]
    # d3 was created on 1 Feb 03:00 UTC: 31 Jan 22:00 in New York.
    ny = make_user("ny", "admin", book["admin"].team, time_zone="America/New_York")
    assert table(report(ny, group_by=by_month("created_at")))[:2] == [("Jan 2026", 3), ("Feb 2026", 1)]


def test_date_field_by_month_with_undated_last(book):
    result = report(book["admin"], group_by=by_month("expected_close_date"))
    assert table(result) == [("Jan 2026", 1), ("Feb 2026", 2), ("Mar 2026", 1), ("No date", 4)]


def test_custom_fields_group_and_measure(book):
    admin = book["admin"]
    assert table(report(admin, group_by=["cf_region"])) == [("EU", 3), ("US", 2), ("Not set", 3)]
    seats = report(admin, group_by=["owner"], measure={"op": "sum", "field": "cf_seats"})
    assert table(seats) == [("Member", D(35)), ("Peer", D(0)), ("Outsider", D(3))]
    assert seats.total.value == D(38) and seats.value_kind == "number"
    avg = report(admin, measure={"op": "avg", "field": "cf_seats"})
    assert avg.total.value == D("9.50")  # (10 + 5 + 20 + 3) / 4
    # money custom field: 100 EUR on d1's close day (15 Jan, 1.10) + 50 USD
    budget = report(admin, measure={"op": "sum", "field": "cf_budget"})
    assert budget.total.value == D("160.00") and budget.value_kind == "money" and budget.currency == "USD"


def test_money_measures_convert_at_the_rate_of_each_deals_day(book):
    admin = book["admin"]
    total = report(admin, group_by=["owner"], measure={"op": "sum", "field": "amount"})
    # member 1000 + 500 EUR × 1.10 + 100 EUR × 1.20 + 2000; peer 1000 EUR × 1.10 (GBP unconverted)
    assert table(total) == [("Member", D("3670.00")), ("Peer", D("1100.00")), ("Outsider", D("400.00"))]
    assert total.total.value == D("5170.00")
    assert total.unconverted == 1 and total.unconverted_currencies == ["GBP"]
    assert [r.count for r in total.rows] == [5, 2, 1]  # records behind each figure, unconverted included
    avg = report(admin, group_by=["owner"], measure={"op": "avg", "field": "amount"})
    assert table(avg) == [("Member", D("917.50")), ("Peer", D("1100.00")), ("Outsider", D("400.00"))]
    low = report(admin, group_by=["owner"], measure={"op": "min", "field": "amount"})
    assert table(low) == [("Member", D("120.00")), ("Peer", D("1100.00")), ("Outsider", D("400.00"))]
    high = report(admin, group_by=["owner"], measure={"op": "max", "field": "amount"})
    assert table(high)[0] == ("Member", D("2000.00")) and high.total.value == D("2000.00")
    months = report(admin, group_by=by_month("created_at"), measure={"op": "sum", "field": "amount"})
    assert table(months) == [
        ("Jan 2026", D("1550.00")),
        ("Feb 2026", D("2120.00")),
        ("Mar 2026", D("1100.00")),
        ("Apr 2026", D("400.00")),
    ]
    # weighted open pipeline: 2000 × 50 % + 1000 EUR × 10 % × 1.10 + 400 × 25 % (GBP unconverted)
    weighted = report(admin, filters="status=open", measure={"op": "sum", "field": "amount", "weight": "probability"})
    assert weighted.total.value == D("1210.00")
    pct = report(admin, measure={"op": "avg", "field": "probability"})
    # won 3 × 100, Proposal 50, Qualification 3 × 10, d7 25: 405 / 8
    assert pct.value_kind == "percent" and pct.total.value == D("50.63")


def test_two_groupings_and_the_pivot(book):
    result = report(book["admin"], group_by=["owner", "status"])
    assert table(result) == [
        ("Member", "Open", 2),
        ("Member", "Won", 3),
        ("Peer", "Open", 2),
        ("Outsider", "Open", 1),
    ]
    pivot = result.pivot()
    assert pivot["columns"] == ["Open", "Won"]
    assert [(r["label"], [c.value if c else None for c in r["cells"]]) for r in pivot["rows"]] == [
        ("Member", [2, 3]),
        ("Peer", [2, None]),
        ("Outsider", [1, None]),
    ]


def test_each_viewer_gets_their_own_numbers(book):
    config = {"group_by": ["owner"], "measure": {"op": "sum", "field": "amount"}}
    member = report(book["member"], **config)
    assert table(member) == [("Member", D("3670.00")), ("Peer", D("1100.00"))]
    outsider = report(book["outsider"], **config)
    assert table(outsider) == [("Outsider", D("400.00"))] and outsider.total.count == 1


def test_drill_down_addresses_select_the_records_behind_each_figure(book):
    admin = book["admin"]
    rtype = registry.get("deals")
    configs = [
        {"group_by": ["owner"]},
        {"group_by": ["team"]},
        {"group_by": ["stage", "status"]},
        {"group_by": by_month("created_at", "week")},
        {"group_by": by_month("expected_close_date", "quarter")},
        {"group_by": ["cf_region"], "filters": "status=open"},
        {"group_by": by_month("created_at"), "filters": "created__after=2026-01-07"},
    ]
    for config in configs:
        result = report(admin, **config)
        with timezone.override(engine.user_tz(admin)):
            for row in result.rows:
                path, _, query = row.url.partition("?")
                assert path == "/deals/"
                where = build_filter(rtype, QueryDict(query), admin)
                assert rtype.model.objects.visible_to(admin).filter(where).count() == row.count, (config, row)
    month = report(admin, group_by=by_month("created_at"), filters="created__after=2026-01-07")
    assert month.rows[0].url == "/deals/?created__after=2026-01-07&created__before=2026-01-31"
    owner = report(admin, group_by=["owner"]).rows[0]
    assert owner.url == f"/deals/?owner={book['member'].pk}"


def test_groups_beyond_the_bound_become_others(book, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    result = report(book["admin"], group_by=["owner"])
    assert table(result) == [("Member", 5), ("Others", 3)]
    # Others: the deals of no owner shown (peer 2, outsider 1)
    assert result.others and result.rows[-1].url == f"/deals/?owner__not={book['member'].pk}"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "nope"}, "type"),
        ({"filters": "colour=red"}, "filters.colour"),
        ({"filters": "created__after=yesterday"}, "filters.created__after"),
        ({"group_by": ["owner", "team", "status"]}, "group_by"),
        ({"group_by": ["title"]}, "group_by[0].field"),
        ({"group_by": [{"field": "created_at", "granularity": "fortnight"}]}, "group_by[0].granularity"),
        ({"group_by": [{"field": "owner", "granularity": "month"}]}, "group_by[0].granularity"),
        ({"measure": {"op": "median", "field": "amount"}}, "measure.op"),
        ({"measure": {"op": "sum", "field": "title"}}, "measure.field"),
        ({"measure": {"op": "avg", "field": "amount", "weight": "probability"}}, "measure.weight"),
        ({"chart": "radar"}, "chart"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_configs_name_the_field(book, data, field):
    data = {"type": "deals", **data}
    with pytest.raises(ReportError) as caught:
        engine.parse_config(data, book["admin"])
    assert caught.value.field == field


def test_a_report_reads_a_fixed_number_of_queries(book):
    admin = book["admin"]
    config = engine.parse_config(
        {"type": "deals", "group_by": ["owner", "stage"], "measure": {"op": "sum", "field": "amount"}}, admin
    )
    customfields.forget()
    with CaptureQueriesContext(connection) as ctx:
        engine.run(config, admin)
    # custom field definitions, rates, the summaries' state (not built here: the deals are read), the
    # aggregate, user names, stage names
    assert len(ctx.captured_queries) == 6, [q["sql"] for q in ctx.captured_queries]


def test_every_registered_type_can_be_counted_by_each_of_its_groupings(book):
    for rtype in registry.all_types():
        for key, spec in engine.group_fields(rtype).items():
            data = {"type": rtype.key, "group_by": [{"field": key, "granularity": "month" if spec.is_date else ""}]}
            engine.run(engine.parse_config(data, book["admin"]), book["admin"])
        for key in engine.measure_fields(rtype):
            for op in ("sum", "avg", "min", "max"):
                engine.run(
                    engine.parse_config({"type": rtype.key, "measure": {"op": op, "field": key}}, book["admin"]),
                    book["admin"],
                )


def test_custom_date_user_and_yes_no_groupings(book):
    admin, member = book["admin"], book["member"]
    customfields.create_field("deals", "signed", {"label": "Signed", "field_type": "date"}, actor=admin)
    customfields.create_field("deals", "champion", {"label": "Champion", "field_type": "user"}, actor=admin)
    customfields.create_field("deals", "strategic", {"label": "Strategic", "field_type": "boolean"}, actor=admin)
    customfields.forget()
    for key, custom in (
        ("d1", {"signed": "2026-01-20", "champion": member.pk, "strategic": True}),
        ("d2", {"signed": "2026-01-31", "strategic": False}),
        ("d3", {"signed": "2026-02-01", "champion": member.pk, "strategic": True}),
    ):
        write("deals", {"custom": {**book[key].custom, **custom}}, actor=admin, instance=book[key])
    signed = report(admin, group_by=[{"field": "cf_signed", "granularity": "month"}])
    assert table(signed) == [("Jan 2026", 2), ("Feb 2026", 1), ("No date", 5)]
    assert signed.rows[0].url == "/deals/?cf_signed__gte=2026-01-01&cf_signed__lte=2026-01-31"
    assert table(report(admin, group_by=["cf_champion"])) == [("Member", 2), ("No champion", 6)]
    assert table(report(admin, group_by=["cf_strategic"])) == [("Yes", 2), ("No", 1), ("Not set", 5)]
    rtype = registry.get("deals")
    for config in (
        {"group_by": ["cf_strategic"]},
        {"group_by": ["cf_champion"]},
        {"group_by": [{"field": "cf_signed"}]},
    ):
        for row in report(admin, **config).rows:
            if row.url is None:
                continue
            where = build_filter(rtype, QueryDict(row.url.partition("?")[2]), admin)
            assert rtype.model.objects.visible_to(admin).filter(where).count() == row.count, (config, row)


# --- drill-down from "No date" and "Others" ----------------------------------------------------------------
def _listed(client: Any, url: str) -> list[str]:
    path, _, query = url.partition("?")
    answer = client.get(f"/api/v1{path}?{query}&page_size=200")
    assert answer.status_code == 200, (url, answer.content[:300])
    return sorted(r["title"] for r in answer.json()["results"])


def test_no_date_groups_list_the_undated_records(book, api_client_for):
    admin = book["admin"]
    result = report(admin, group_by=by_month("expected_close_date"))
    undated = result.rows[-1]
    assert undated.labels == ("No date",) and undated.count == 4  # d1, d2, d3 (won, no date) and d8
    assert undated.url == "/deals/?close_date__isnull=true"
    assert _listed(api_client_for(admin), undated.url) == ["Deal 100", "Deal 1000", "Deal 500", "No amount"]
    # under the report's own filter (open deals): d8 only; a member sees only the east team's
    open_undated = report(admin, group_by=by_month("expected_close_date"), filters="status=open").rows[-1]
    assert open_undated.url == "/deals/?close_date__isnull=true&status=open"
    assert _listed(api_client_for(admin), open_undated.url) == ["No amount"]
    created = report(book["member"], group_by=by_month("closed_on")).rows[-1]
    assert created.labels == ("No date",) and created.count == 4  # member sees d4, d5, d6, d8 open, not d7
    assert _listed(api_client_for(book["member"]), created.url) == ["Deal 1000", "Deal 2000", "Deal 300", "No amount"]


def test_others_lists_the_records_of_the_groups_not_shown(book, api_client_for, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    admin, member = book["admin"], book["member"]
    others = report(admin, group_by=["owner"]).rows[-1]
    assert _listed(api_client_for(admin), others.url) == ["Deal 1000", "Deal 300", "Deal 400"]  # d5, d6, d7
    # the member sees the east team: Member 5, Others = the peer's 2 (the outsider's d7 is not theirs to see)
    mine = report(member, group_by=["owner"])
    assert table(mine) == [("Member", 5), ("Peer", 2)]  # two owners: nothing folded
    by_status = report(admin, group_by=["stage", "status"])
    # stages: Qualification 4 (d5–d8, kept), Won 3 (d1–d3) and Proposal 1 (d4) → Others; statuses: Open 5,
    # Won 3 (two: nothing folded)
    assert table(by_status) == [("Qualification", "Open", 4), ("Others", "Open", 1), ("Others", "Won", 3)]
    rtype = registry.get("deals")
    for row in by_status.rows:
        where = build_filter(rtype, QueryDict(row.url.partition("?")[2]), admin)
        assert rtype.model.objects.visible_to(admin).filter(where).count() == row.count, row
    assert _listed(api_client_for(admin), by_status.rows[1].url) == ["Deal 2000"]  # d4 in Proposal
    assert _listed(api_client_for(admin), by_status.rows[2].url) == ["Deal 100", "Deal 1000", "Deal 500"]
    monkeypatch.setattr(engine, "MAX_GROUPS", 1)  # nothing kept: "Others" is every record
    everything = report(admin, group_by=["owner"])
    assert table(everything) == [("Others", 8)] and everything.rows[0].url == "/deals/"


def test_others_and_no_date_on_the_list_page_count_the_figure(book, client, monkeypatch):
    client.force_login(book["admin"])
    undated = report(book["admin"], group_by=by_month("expected_close_date")).rows[-1]
    page = client.get(undated.url).content.decode()
    assert "4 deals" in page and "Expected close (empty)" in page
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    others = report(book["admin"], group_by=["owner"]).rows[-1]
    page = client.get(others.url).content.decode()
    assert "3 deals" in page and "Owner (not)" in page  # the exclusion is shown, and can be removed


def test_not_and_isnull_filters_by_hand(book, api_client_for):
    client = api_client_for(book["admin"])
    member, peer = book["member"].pk, book["peer"].pk
    assert _listed(client, f"/deals/?owner__not={member},{peer}") == ["Deal 400"]
    assert len(_listed(client, "/deals/?owner__not=none")) == 8  # every deal has an owner
    assert _listed(client, "/deals/?status__not=open") == ["Deal 100", "Deal 1000", "Deal 500"]
    assert len(_listed(client, "/deals/?close_date__isnull=false")) == 4  # d4, d5, d6, d7
    assert _listed(client, "/deals/?currency__not=USD,EUR") == ["Deal 300"]


@pytest.mark.parametrize(
    "query, param",
    [
        ("owner__not=abc", "owner__not"),
        ("status__not=bogus", "status__not"),
        ("close_date__isnull=maybe", "close_date__isnull"),
        ("close_date__isnull=true,false", "close_date__isnull"),
        ("tag__not=x", "tag__not"),
        ("title__not=x", "title__not"),
    ],
)
def test_hostile_not_and_isnull_filters_get_a_400_naming_them(book, api_client_for, query, param):
    answer = api_client_for(book["admin"]).get(f"/api/v1/deals/?{query}")
    assert answer.status_code == 400 and list(answer.json()["fields"]) == [param], answer.content[:300]
