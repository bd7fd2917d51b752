"""Forecast figures against hand-computed expectations, permission scopes, bad parameters, the page
and its query count."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.deals.models import LostReason, Pipeline
from rapport.forecasting import forecast
from rapport.forecasting.models import ExchangeRate, Quota

from .conftest import write

D = Decimal


@pytest.fixture
def pipeline(db: Any) -> Pipeline:
    return Pipeline.objects.get(name="Sales pipeline")


def deal(owner: Any, pipeline: Pipeline, **data: Any) -> Any:
    stage = data.pop("stage", None)
    if stage:
        data["stage"] = pipeline.stages.get(name=stage).pk
    data.setdefault("title", f"Deal {data.get('amount')}")
    return write("deals", data, actor=owner)


@pytest.fixture
def book(users: dict[str, Any], pipeline: Pipeline) -> dict[str, Any]:
    """Q1 2026. EUR: 1.10 from 1 Jan, 1.20 from 1 Feb; no GBP rate. Base currency USD."""
    ExchangeRate.objects.create(currency="EUR", rate=D("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=D("1.20"), valid_from=dt.date(2026, 2, 1))
    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    price = LostReason.objects.get(name="Price")
    # member
    deal(member, pipeline, amount="1000", status="won", closed_on="2026-01-15")  # 1000
    deal(member, pipeline, amount="500", currency="EUR", status="won", closed_on="2026-01-20")  # 550
    deal(member, pipeline, amount="100", currency="EUR", status="won", closed_on="2026-02-10")  # 120
    deal(member, pipeline, amount="9999", status="lost", lost_reason=price.pk, closed_on="2026-01-10")  # lost
    deal(member, pipeline, amount="700", status="won", closed_on="2026-04-02")  # next quarter
    deal(
        member, pipeline, amount="2000", stage="Proposal", forecast_category="commit", expected_close_date="2026-03-01"
    )
    deal(
        member,
        pipeline,
        amount="1000",
        currency="EUR",
        stage="Negotiation",
        forecast_category="best_case",
        expected_close_date="2026-01-31",
    )  # 1100, weighted 825
    deal(member, pipeline, amount="5000", forecast_category="omitted", expected_close_date="2026-02-01")
    deal(member, pipeline, amount="300", currency="GBP", expected_close_date="2026-02-15")  # no rate
    deal(member, pipeline, amount="400", probability=25, expected_close_date="2026-02-20")  # weighted 100
    deal(member, pipeline, amount="800", expected_close_date="2026-04-20")  # next quarter
    # peer, same team
    deal(peer, pipeline, amount="200", status="won", closed_on="2026-03-31")
    deal(
        peer, pipeline, amount="100", currency="EUR", forecast_category="commit", expected_close_date="2026-02-01"
    )  # 120, weighted 12 (Qualification 10 %)
    # outsider, other team
    deal(outsider, pipeline, amount="10000", status="won", closed_on="2026-02-01")
    Quota.objects.create(user=member, period="quarter", period_start=dt.date(2026, 1, 1), amount=D("5000"))
    Quota.objects.create(user=member, period="month", period_start=dt.date(2026, 1, 1), amount=D("1000"))
    for month, amount in ((1, "100"), (2, "200"), (3, "300")):
        Quota.objects.create(user=peer, period="month", period_start=dt.date(2026, month, 1), amount=D(amount))
    Quota.objects.create(user=outsider, period="quarter", period_start=dt.date(2026, 1, 1), amount=D("20000"))
    return users


def run(user: Any, period: str = "2026-Q1", scope: str = "all") -> forecast.Forecast:
    return forecast.compute(user, forecast.parse_period(period), forecast.parse_scope(scope, user))


def figures(row: forecast.Row) -> dict[str, Any]:
    return {
        **{f: row.figures[f] for f in forecast.FIGURES},
        "quota": row.quota,
        "attainment": row.attainment,
        "unconverted": row.unconverted,
    }


MEMBER_Q1 = {
    "closed_won": D("1670.00"),
    "commit": D("2000.00"),
    "best_case": D("3100.00"),
    "pipeline": D("3500.00"),
    "weighted": D("1925.00"),
    "quota": D("5000"),
    "attainment": D("33.4"),
    "unconverted": 1,
}
PEER_Q1 = {
    "closed_won": D("200.00"),
    "commit": D("120.00"),
    "best_case": D("120.00"),
    "pipeline": D("120.00"),
    "weighted": D("12.00"),
    "quota": D("600"),
    "attainment": D("33.3"),
    "unconverted": 0,
}


def test_figures_per_owner_with_dated_rates_categories_and_quotas(book):
    result = run(book["admin"])
    by_name = {r.name: r for r in result.rows}
    assert list(by_name) == ["Member", "Outsider", "Peer"]
    assert figures(by_name["Member"]) == MEMBER_Q1
    assert figures(by_name["Peer"]) == PEER_Q1  # quarter quota = sum of the three month quotas
    assert by_name["Outsider"].figures["closed_won"] == D("10000.00")
    assert by_name["Outsider"].attainment == D("50.0")
    assert result.total.figures["closed_won"] == D("11870.00")
    assert result.total.figures["pipeline"] == D("3620.00")
    assert result.total.quota == D("25600")
    assert result.total.unconverted == 1 and result.unconverted_currencies == ["GBP"]
    assert by_name["Member"].counts["closed_won"] == 3 and by_name["Member"].counts["pipeline"] == 3


def test_month_period_uses_the_month_quota_only(book):
    result = run(book["admin"], "2026-01")
    by_name = {r.name: r for r in result.rows}
    member = by_name["Member"]
    assert member.figures["closed_won"] == D("1550.00")  # 1000 + 500 EUR × 1.10
    assert member.figures["commit"] == 0 and member.figures["best_case"] == D("1100.00")
    assert member.quota == D("1000") and member.attainment == D("155.0")
    assert by_name["Peer"].quota == D("100") and by_name["Peer"].figures["closed_won"] == 0
    assert "Outsider" not in by_name  # no deals in January and no month quota


def test_a_member_sees_only_their_team_totals_included(book):
    result = run(book["member"])
    assert [r.name for r in result.rows] == ["Member", "Peer"]
    assert result.total.figures["closed_won"] == D("1870.00")
    assert result.total.quota == D("5600")
    assert run(book["member"], scope=f"team:{book['outsider'].team_id}").rows == []
    mine = run(book["member"], scope="me")
    assert [r.name for r in mine.rows] == ["Member"] and figures(mine.total)["closed_won"] == D("1670.00")


def test_a_manager_sees_their_team_and_an_admin_any_team(book):
    assert [r.name for r in run(book["manager"]).rows] == ["Member", "Peer"]
    west = run(book["admin"], scope=f"team:{book['outsider'].team_id}")
    assert [r.name for r in west.rows] == ["Outsider"] and west.total.figures["closed_won"] == D("10000.00")


def test_api_returns_the_same_figures_as_strings(book, api_client_for):
    client = api_client_for(book["member"])
    body = client.get("/api/v1/forecast/?period=2026-Q1&scope=all").json()
    assert body["period"] == {"key": "2026-Q1", "kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"}
    assert body["base_currency"] == "USD"
    member = next(r for r in body["rows"] if r["owner"]["name"] == "Member")
    assert member["closed_won"] == "1670.00" and member["weighted"] == "1925.00"
    assert member["quota"] == "5000.00" and member["attainment"] == "33.4" and member["unconverted"] == 1
    assert body["total"]["closed_won"] == "1870.00"
    assert "Outsider" not in json.dumps(body)
    assert body["unconverted_currencies"] == ["GBP"]
    assert member["links"]["closed_won"] == (
        f"/deals/?owner={book['member'].pk}&status=won&closed__after=2026-01-01&closed__before=2026-03-31"
    )


def test_drill_down_links_list_exactly_the_deals_behind_a_figure(book):
    client = __import__("django.test", fromlist=["Client"]).Client()
    client.force_login(book["member"])
    result = run(book["member"])
    member = next(r for r in result.rows if r.name == "Member")
    links = result.links(member)
    page = client.get(links["pipeline"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Deal 2000" in html and "Deal 400" in html and "Deal 5000" not in html and "Deal 800" not in html
    won = client.get(links["closed_won"]).content.decode()
    assert "Deal 1000" in won and "Deal 9999" not in won and "Deal 700" not in won


@pytest.mark.parametrize(
    "query,param",
    [
        ("period=2026-13", "period"),
        ("period=2026-Q5", "period"),
        ("period=next", "period"),
        ("scope=team:abc", "scope"),
        ("scope=team:999999", "scope"),
        ("scope=everyone", "scope"),
        ("owner=1", "owner"),
    ],
)
def test_bad_parameters_are_answered_400_naming_them(users, api_client_for, client, query, param):
    response = api_client_for(users["member"]).get(f"/api/v1/forecast/?{query}")
    assert response.status_code == 400
    assert param in response.json()["fields"]
    if param != "owner":
        client.force_login(users["member"])
        page = client.get(f"/forecast/?{query}")
        assert page.status_code == 400 and param in page.content.decode()


def test_forecast_page_shows_table_chart_data_links_and_help(book, client):
    client.force_login(book["member"])
    response = client.get("/forecast/?period=2026-Q1&scope=all")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Forecast · Q1 2026" in html
    assert "1,670.00" in html and "1,870.00" in html and "Outsider" not in html
    assert "33.4%" in html
    assert 'id="forecast-data"' in html and "chart.umd.js" in html and "js/forecast.js" in html
    assert "?period=2026-Q4&amp;scope=all" in html and "?period=2026-Q2&amp;scope=all" in html
    assert "closed__after=2026-01-01" in html
    assert "except <em>omitted</em>" in html  # definitions in the help text
    assert "1 deal in GBP" in html
    assert "<script>" not in html  # strict CSP: data only through json_script
    chart = json.loads(html.split('id="forecast-data" type="application/json">')[1].split("</script>")[0])
    assert chart["labels"] == ["Member", "Peer"] and chart["series"]["closed_won"] == [1670.0, 200.0]


def test_forecast_page_empty_state(users, client):
    client.force_login(users["member"])
    html = client.get("/forecast/?period=2031-Q2").content.decode()
    assert "No deals in this period" in html and "chart.umd.js" not in html


def test_forecast_page_query_count_does_not_grow_with_deals(users, pipeline, client):
    client.force_login(users["manager"])
    ExchangeRate.objects.create(currency="EUR", rate=D("1.1"), valid_from=dt.date(2025, 1, 1))

    def add(n: int) -> None:
        for i in range(n):
            deal(
                users["member" if i % 2 else "peer"],
                pipeline,
                amount=str(100 + i),
                currency="EUR" if i % 3 else "USD",
                expected_close_date=f"2026-02-{1 + i % 27:02d}",
                forecast_category=("pipeline", "best_case", "commit")[i % 3],
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/forecast/?period=2026-Q1&scope=all").status_code == 200
        return len(ctx.captured_queries)

    add(5)
    few = count()
    add(40)
    many = count()
    assert few == many
    assert many <= 12


def test_the_forecast_opens_on_what_the_user_is_responsible_for(users):
    from rapport.forecasting.forecast import parse_scope

    assert parse_scope(None, users["member"]).key == "me"
    assert parse_scope("", users["admin"]).key == "all"


# --- figures kept by the write path (deals.totals, ForecastTotal) ---------------------------------------
def test_kept_figures_follow_writes_rate_changes_and_the_reconcile(book):
    from rapport.core import services
    from rapport.deals import totals
    from rapport.deals.models import Deal, ForecastTotal
    from rapport.deals.tasks import reconcile_stage_totals
    from rapport.forecasting import services as rates

    admin, member = book["admin"], book["member"]
    assert totals.differences() == {}
    # A EUR rate of 1.50 from 25 January (added through the rate service: the periods are rebuilt). The
    # best-case 1,000 EUR closing on 31 January now converts at 1.50: 1,500 instead of 1,100 (weighted
    # 75 %: 1,125 instead of 825); the won 500 EUR of 20 January keeps 1.10, the won 100 EUR of 10 February
    # and the peer's 100 EUR of 1 February keep 1.20 (the rate from 1 February).
    added = rates.add_exchange_rate(
        {"currency": "EUR", "rate": D("1.50"), "valid_from": dt.date(2026, 1, 25)}, actor=admin
    )
    assert totals.differences() == {}
    member_q1 = figures(next(r for r in run(admin).rows if r.name == "Member"))
    assert member_q1 == {
        **MEMBER_Q1,
        "best_case": D("3500.00"),  # 2,000 commit + 1,500
        "pipeline": D("3900.00"),  # + 400
        "weighted": D("2225.00"),  # 2,000 × 50 % + 1,125 + 400 × 25 %
    }
    assert figures(next(r for r in run(admin).rows if r.name == "Peer")) == PEER_Q1
    rates.delete_exchange_rate(added, actor=admin)
    assert figures(next(r for r in run(admin).rows if r.name == "Member")) == MEMBER_Q1

    # The best-case deal moves to April (next quarter), the commit one is reopened as omitted, and the
    # 100 EUR won in February is deleted: Q1 loses 1,100 of best case, 2,000 of commit and 120 of won.
    eur_open = Deal.objects.get(amount=D("1000"), currency="EUR")
    services.update_record(eur_open, {"expected_close_date": dt.date(2026, 4, 1)}, actor=member, source="api")
    commit = Deal.objects.get(amount=D("2000"))
    services.update_record(commit, {"forecast_category": "omitted"}, actor=member, source="api")
    won_feb = Deal.objects.get(amount=D("100"), currency="EUR", status="won")
    services.delete_record(won_feb, actor=member, source="api")
    assert totals.differences() == {}
    member_q1 = figures(next(r for r in run(admin).rows if r.name == "Member"))
    assert member_q1 == {
        **MEMBER_Q1,
        "closed_won": D("1550.00"),
        "commit": D("0.00"),
        "best_case": D("0.00"),
        "pipeline": D("400.00"),
        "weighted": D("100.00"),
        "attainment": D("31.0"),
    }
    q2 = figures(next(r for r in run(admin, "2026-Q2").rows if r.name == "Member"))
    assert q2["best_case"] == D("1200.00")  # 1,000 EUR at the rate from 1 February, 1.20
    assert q2["closed_won"] == D("700.00") and q2["pipeline"] == D("2000.00")  # + the 800 of 20 April
    services.restore_record(Deal.objects.get(pk=won_feb.pk), actor=member, source="ui")
    assert totals.differences() == {}
    assert figures(next(r for r in run(admin).rows if r.name == "Member"))["closed_won"] == D("1670.00")

    # Drift (a write behind the services' back) is found and rebuilt by the nightly reconcile.
    ForecastTotal.objects.filter(owner_id=member.pk).update(total=1)
    assert totals.differences() != {}
    assert reconcile_stage_totals.call() > 0
    assert totals.differences() == {}
    assert figures(next(r for r in run(admin).rows if r.name == "Member"))["closed_won"] == D("1670.00")
