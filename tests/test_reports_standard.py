"""Standard reports against figures worked out by hand on a small book of deals, people and activities
made at frozen times through the write services; visibility per role; drill-down links that list
exactly the counted records; the pages and the API (schema-checked), their query counts; bad filters.

The book (base currency USD; EUR at 1.10 from 1 Jan 2026 and 1.20 from 1 Feb 2026; no GBP rate), in the
default pipeline (Qualification 0, Needs analysis 1, Proposal 2, Negotiation 3, Won 4, Lost 5), Q1 2026:

  east team (member, peer; the member's team):
  D1 member  1000 USD  web       created 01-05 10:00 in Qualification → Proposal 01-15 → Won 02-04
                                 line items: 2 × Widget at 300 + 1 × Setup (no product) at 400 = 1000
  D2 member   500 EUR  web       created 01-10 → Needs analysis 01-12 → Lost (Price) 01-20
  D3 member  2000 EUR  referral  created 02-01 → Won 03-02; line: 4 × Widget at 500
  D4 member   300 GBP  (none)    created 02-10, open (an overdue task is linked to it)
  D5 peer     800 USD  web       created 03-01, open
  west team (outsider, westlead, a manager):
  D6 outsider 5000 USD  web      created 01-07 → Won 01-30
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.accounts.models import LoginRecord
from rapport.core.demo import clock
from rapport.deals.models import LostReason, Pipeline
from rapport.forecasting.models import ExchangeRate
from rapport.reports import standard

from .conftest import make_user, write

D = Decimal
Q1 = "period=custom&start=2026-01-01&end=2026-03-31"


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def book(users: dict[str, Any], teams: dict[str, Any]) -> dict[str, Any]:
    ExchangeRate.objects.create(currency="EUR", rate=D("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=D("1.20"), valid_from=dt.date(2026, 2, 1))
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    stage = {s.name: s.pk for s in pipeline.stages.all()}
    member, peer, outsider, admin = users["member"], users["peer"], users["outsider"], users["admin"]
    westlead = make_user("westlead", "manager", teams["west"])
    price = LostReason.objects.get(name="Price")
    widget = write("products", {"name": "Widget", "prices": [{"currency": "USD", "unit_price": "300.00"}]}, actor=admin)

    def move(deal: Any, when: dt.datetime, name: str, **extra: Any) -> Any:
        with clock(when):
            return write("deals", {"stage": stage[name], **extra}, actor=deal.owner, instance=deal)

    def new(owner: Any, when: dt.datetime, **data: Any) -> Any:
        with clock(when):
            return write("deals", {"stage": stage["Qualification"], **data}, actor=owner)

    with clock(at(1, 2)):
        acme = write("companies", {"name": "Acme", "domain": "acme.com"}, actor=member)
    with clock(at(1, 3)):
        write(
            "people",
            {
                "first_name": "P1",
                "emails": ["p1@acme.com"],
                "phones": ["+14155550100"],
                "company": acme.pk,
                "source": "web",
            },
            actor=member,
        )
    with clock(at(1, 4)):
        write("people", {"first_name": "P2", "emails": ["p2@x.com"], "source": "web"}, actor=member)
    with clock(at(2, 2)):
        write("people", {"first_name": "P3", "source": "referral"}, actor=member)
    with clock(at(2, 3)):
        write("people", {"first_name": "P4"}, actor=member)
    d1 = new(
        member,
        at(1, 5),
        title="D1",
        currency="USD",
        source="web",
        line_items=[
            {"product": widget.pk, "name": "Widget", "quantity": "2", "unit_price": "300.00"},
            {"name": "Setup", "quantity": "1", "unit_price": "400.00"},
        ],
    )
    move(d1, at(1, 15), "Proposal")
    move(d1, at(2, 4), "Won")
    d2 = new(member, at(1, 10), title="D2", amount="500.00", currency="EUR", source="web")
    move(d2, at(1, 12), "Needs analysis")
    move(d2, at(1, 20), "Lost", lost_reason=price.pk)
    d3 = new(
        member,
        at(2, 1),
        title="D3",
        currency="EUR",
        source="referral",
        line_items=[
            {"product": widget.pk, "name": "Widget", "quantity": "4", "unit_price": "500.00"},
        ],
    )
    move(d3, at(3, 2), "Won")
    d4 = new(member, at(2, 10), title="D4", amount="300.00", currency="GBP")
    d5 = new(peer, at(3, 1), title="D5", amount="800.00", currency="USD", source="web")
    d6 = new(outsider, at(1, 7), title="D6", amount="5000.00", currency="USD", source="web")
    move(d6, at(1, 30), "Won")

    def activity(owner: Any, when: dt.datetime, **data: Any) -> Any:
        with clock(when):
            return write("activities", {"subject": data.pop("subject", "a"), **data}, actor=owner)

    activity(member, at(1, 6), kind="call", done=True)
    activity(member, at(2, 10), kind="meeting", start_at="2026-02-10T09:00:00Z", done=True)
    activity(member, at(3, 5), kind="task", done=True)
    activity(member, at(1, 7), kind="note", body="noted")
    activity(member, at(1, 8), kind="task", due_at="2026-01-20T12:00:00Z", links=[{"type": "deals", "id": d4.pk}])
    activity(peer, at(1, 8), kind="call", done=True)
    activity(peer, at(1, 9), kind="call", done=True)
    activity(outsider, at(1, 9), kind="call", done=True)
    for when in (at(1, 5), at(1, 6), at(2, 10)):
        LoginRecord.objects.create(user=member, at=when)
    LoginRecord.objects.create(user=peer, at=at(4, 1))  # after Q1
    LoginRecord.objects.create(user=outsider, at=at(1, 9))
    return {
        "users": {**users, "westlead": westlead},
        "deals": [d1, d2, d3, d4, d5, d6],
        "stage": stage,
        "widget": widget,
        "price": price,
    }


def run(key: str, user: Any, query: str = Q1) -> dict[str, Any]:
    from django.http import QueryDict

    filters = standard.parse_filters(QueryDict(query), user)
    return standard.get(key).compute(user, filters).as_json()  # type: ignore[union-attr]


def rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["label"]: r["values"] for r in result["rows"]}


# --- the figures -----------------------------------------------------------------------------------
def test_win_loss_by_hand(book):
    member, admin = book["users"]["member"], book["users"]["admin"]
    r = run("win-loss", member)
    # won D1 (1000 USD, 02-04) and D3 (2000 EUR at 1.20 on 03-02 = 2400); lost D2 (500 EUR at 1.10 = 550)
    assert r["summary"] == {
        "won": 2,
        "lost": 1,
        "win_rate": "66.7",  # 2 / 3
        "won_amount": "3400.00",  # 1000 + 2400
        "average_won": "1700.00",  # 3400 / 2
        "cycle_won": "29.5",  # D1 01-05 → 02-04 = 30 days, D3 02-01 → 03-02 = 29 days
        "cycle_lost": "10.0",  # D2 01-10 → 01-20
    }
    assert rows(r) == {"Price": {"lost": 1, "share": "100.0", "amount": "550.00"}}
    a = run("win-loss", admin)  # + D6: 5000 USD won 01-30, created 01-07 (23 days)
    assert a["summary"]["won"] == 3 and a["summary"]["win_rate"] == "75.0"  # 3 / 4
    assert a["summary"]["won_amount"] == "8400.00" and a["summary"]["average_won"] == "2800.00"
    assert a["summary"]["cycle_won"] == "27.3"  # (30 + 29 + 23) / 3 = 27.33
    w = run("win-loss", book["users"]["westlead"])  # the west team: D6 only
    assert w["summary"]["won"] == 1 and w["summary"]["won_amount"] == "5000.00" and w["summary"]["lost"] == 0


def test_funnel_by_hand(book):
    r = run("funnel", book["users"]["member"])
    # entered in Q1: Qualification D1–D5; Needs analysis D2; Proposal D1; Won D1, D3; Lost D2.
    # advanced = later reached a further stage that is not lost: from Qualification D1 (Proposal),
    # D2 (Needs analysis), D3 (Won); from Needs analysis none (D2 went to Lost); from Proposal D1 (Won).
    # days in stage (deals leaving it in Q1): Qualification D1 10, D2 2, D3 29 → 41/3 = 13.67;
    # Needs analysis D2 8; Proposal D1 20 (01-15 → 02-04).
    assert rows(r) == {
        "Qualification": {
            "entered": 5,
            "advanced": 3,
            "conversion": "60.0",
            "won": 2,
            "lost": 1,
            "days_in_stage": "13.7",
        },
        "Needs analysis": {
            "entered": 1,
            "advanced": 0,
            "conversion": "0.0",
            "won": 0,
            "lost": 1,
            "days_in_stage": "8.0",
        },
        "Proposal": {"entered": 1, "advanced": 1, "conversion": "100.0", "won": 1, "lost": 0, "days_in_stage": "20.0"},
        "Negotiation": {"entered": 0, "advanced": 0, "conversion": None, "won": 0, "lost": 0, "days_in_stage": None},
        "Won": {"entered": 2, "advanced": None, "conversion": None, "won": 2, "lost": 0, "days_in_stage": None},
        "Lost": {"entered": 1, "advanced": None, "conversion": None, "won": 0, "lost": 1, "days_in_stage": None},
    }
    assert r["summary"] == {"entered_first": 5, "reached_won": 2, "overall": "40.0"}  # 2 / 5
    # February only: Qualification D3, D4 entered; Won D1 (02-04); D1 left Proposal (20 days)
    feb = rows(run("funnel", book["users"]["member"], "period=custom&start=2026-02-01&end=2026-02-28"))
    assert feb["Qualification"]["entered"] == 2 and feb["Qualification"]["advanced"] == 1  # D3 → Won
    assert feb["Won"]["entered"] == 1 and feb["Proposal"]["days_in_stage"] == "20.0"


def test_pipeline_per_month_by_hand(book):
    r = run("pipeline", book["users"]["member"], Q1 + "&group=month")
    # created: Jan D1 1000 + D2 500 EUR × 1.10 = 550; Feb D3 2000 EUR × 1.20 = 2400 and D4 (GBP, no rate:
    # counted, amount left out); Mar D5 800. Won: Feb D1 1000, Mar D3 2400. Lost: Jan D2 550.
    assert rows(r) == {
        "Jan 2026": {
            "created": 2,
            "created_amount": "1550.00",
            "won": 0,
            "won_amount": "0.00",
            "lost": 1,
            "lost_amount": "550.00",
        },
        "Feb 2026": {
            "created": 2,
            "created_amount": "2400.00",
            "won": 1,
            "won_amount": "1000.00",
            "lost": 0,
            "lost_amount": "0.00",
        },
        "Mar 2026": {
            "created": 1,
            "created_amount": "800.00",
            "won": 1,
            "won_amount": "2400.00",
            "lost": 0,
            "lost_amount": "0.00",
        },
    }
    assert r["unconverted"] == 1
    q = rows(run("pipeline", book["users"]["member"], Q1 + "&group=quarter"))
    assert q == {
        "Q1 2026": {
            "created": 5,
            "created_amount": "4750.00",
            "won": 2,
            "won_amount": "3400.00",
            "lost": 1,
            "lost_amount": "550.00",
        }
    }


def test_revenue_per_product_by_hand(book):
    r = run("products", book["users"]["member"])
    # Widget: D1 2 × 300 = 600 USD; D3 4 × 500 = 2000 EUR × 1.20 = 2400 → 3000, quantity 6, 2 deals.
    assert rows(r) == {
        "Widget": {"revenue": "3000.00", "quantity": "6.0", "deals": 2},
        "Lines without a product": {"revenue": "400.00", "quantity": "1.0", "deals": 1},
    }
    assert r["summary"] == {"revenue": "3400.00"}


def test_velocity_by_hand(book):
    r = run("velocity", book["users"]["member"], Q1)
    # open at the end of Q1 (03-31): D4, D5 = 2; win rate 2/3; average won 1700; cycle (30 + 29) / 2 = 29.5
    # velocity = 2 × 2/3 × 1700 / 29.5 = 76.836…
    assert r["summary"] == {
        "open": 2,
        "win_rate": "66.7",
        "average_won": "1700.00",
        "cycle": "29.5",
        "velocity": "76.84",
    }
    assert rows(r) == {
        # Jan: open at 01-31 D1 only; closed D2 lost → win rate 0, no won deal: no size, cycle nor velocity
        "Jan 2026": {"open": 1, "win_rate": "0.0", "average_won": None, "cycle": None, "velocity": None},
        # Feb: open at 02-28 D3, D4; won D1 1000 in 30 days → 2 × 1 × 1000 / 30 = 66.67
        "Feb 2026": {"open": 2, "win_rate": "100.0", "average_won": "1000.00", "cycle": "30.0", "velocity": "66.67"},
        # Mar: open at 03-31 D4, D5; won D3 2400 in 29 days → 2 × 2400 / 29 = 165.517
        "Mar 2026": {"open": 2, "win_rate": "100.0", "average_won": "2400.00", "cycle": "29.0", "velocity": "165.52"},
    }


def test_lead_sources_by_hand(book):
    r = run("sources", book["users"]["member"])
    # people in Q1: web P1 P2, referral P3, none P4; deals in Q1: web D1 D2 D5, referral D3, none D4;
    # won of those: D1 (web, 1000), D3 (referral, 2400)
    assert rows(r) == {
        "referral": {
            "leads": 1,
            "deals": 1,
            "won": 1,
            "revenue": "2400.00",
            "lead_to_deal": "100.0",
            "win_rate": "100.0",
        },
        "web": {"leads": 2, "deals": 3, "won": 1, "revenue": "1000.00", "lead_to_deal": "150.0", "win_rate": "33.3"},
        "No source": {"leads": 1, "deals": 1, "won": 0, "revenue": "0.00", "lead_to_deal": "100.0", "win_rate": "0.0"},
    }
    assert r["summary"] == {"leads": 4, "deals": 5, "revenue": "3400.00"}


def test_activity_per_rep_by_hand(book):
    r = run("activity", book["users"]["member"])
    # member: call 01-06, meeting 02-10, task 03-05, note 01-07, a task due 01-20 not done (overdue now);
    # peer: two calls. The outsider's call is another team's.
    assert rows(r) == {
        "Member": {"calls": 1, "meetings": 1, "emails": 0, "tasks": 1, "notes": 1, "overdue": 1},
        "Peer": {"calls": 2, "meetings": 0, "emails": 0, "tasks": 0, "notes": 0, "overdue": 0},
    }
    assert rows(run("activity", book["users"]["admin"]))["Outsider"]["calls"] == 1


def test_adoption_by_hand(book):
    r = run("adoption", book["users"]["manager"])  # the east team's people
    member = rows(r)["Member"]
    # sign-ins 01-05, 01-06 (week 0 of the period), 02-10 (week 5): 3 in 2 weeks; 13 weeks in Q1 → 0.2
    # created in Q1: company 1, people 4, deals D1–D4 4, activities 5 = 14; updated: D1 ×2, D2 ×2, D3 ×1 = 5
    assert member == {
        "logins": 3,
        "active_weeks": 2,
        "per_week": "0.2",
        "created": 14,
        "updated": 5,
        "by_ui": 0,
        "by_api": 0,
        "by_import": 0,
    }
    assert rows(r)["Peer"]["logins"] == 0  # signed in after Q1
    assert "Outsider" not in rows(r)
    # people of the east team: admin, manager, member, peer, read_only; one signed in
    assert r["summary"] == {"users": 5, "active": 1, "share_active": "20.0", "logins": 3}


def test_data_quality_by_hand(book):
    r = run("data-quality", book["users"]["manager"])
    # people: P1 (email, phone, company), P2 (email), P3, P4 — 4, every one with an owner and a stage
    got = rows(r)
    assert got["People · Email"] == {"filled": 2, "missing": 2, "share": "50.0"}
    assert got["People · Phone"] == {"filled": 1, "missing": 3, "share": "25.0"}
    assert got["People · Owner"] == {"filled": 4, "missing": 0, "share": "100.0"}
    assert got["People · Company"] == {"filled": 1, "missing": 3, "share": "25.0"}
    assert got["Companies · Domain"] == {"filled": 1, "missing": 0, "share": "100.0"}
    assert got["Companies · Industry"] == {"filled": 0, "missing": 1, "share": "0.0"}
    # open deals D4 (a task to do is linked) and D5 (nothing planned); all last changed in Q1 (> 30 days)
    assert r["summary"] == {
        "people_total": 4,
        "people_stale": 4,
        "companies_total": 1,
        "companies_stale": 1,
        "deals_open": 2,
        "deals_without_next": 1,
        "deals_stale": 2,
    }


def test_forecast_accuracy_rebuilds_each_deal_as_it_stood(users):
    """Committed at the first moment of each month, rebuilt from history, against what was won in it."""
    ExchangeRate.objects.create(currency="EUR", rate=D("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=D("1.20"), valid_from=dt.date(2026, 2, 1))
    member = users["member"]
    stage = {s.name: s.pk for s in Pipeline.objects.get(name="Sales pipeline").stages.all()}

    def new(when: dt.datetime, **data: Any) -> Any:
        with clock(when):
            return write("deals", {"stage": stage["Qualification"], **data}, actor=member)

    def change(deal: Any, when: dt.datetime, **data: Any) -> Any:
        with clock(when):
            return write("deals", data, actor=member, instance=deal)

    dec = dt.datetime(2025, 12, 10, 10, tzinfo=dt.UTC)
    f1 = new(
        dec, title="F1", amount="1000.00", currency="USD", forecast_category="commit", expected_close_date="2026-01-20"
    )
    f2 = new(
        dec, title="F2", amount="500.00", currency="EUR", forecast_category="commit", expected_close_date="2026-01-15"
    )
    f3 = new(
        dec,
        title="F3",
        amount="2000.00",
        currency="USD",
        forecast_category="best_case",
        expected_close_date="2026-01-31",
    )
    f4 = new(
        dec, title="F4", amount="300.00", currency="USD", forecast_category="commit", expected_close_date="2026-03-15"
    )
    new(
        at(1, 15),
        title="F5",
        amount="100.00",
        currency="USD",
        forecast_category="commit",
        expected_close_date="2026-01-30",
    )  # created after 1 January: never committed at a month's start
    change(f2, at(1, 5), forecast_category="best_case", amount="800.00")  # after 1 Jan: committed then at 500 EUR
    change(f3, at(1, 10), forecast_category="commit")  # best case on 1 Jan: not committed
    change(f1, at(1, 25), stage=stage["Won"])
    change(f3, at(1, 30), stage=stage["Won"])
    change(f4, at(1, 20), expected_close_date="2026-02-20")  # on 1 Feb: commit, closing in February
    change(f4, at(2, 21), stage=stage["Won"])
    r = run("forecast-accuracy", member, "period=custom&start=2026-01-01&end=2026-02-28")
    assert rows(r) == {
        # Jan: committed F1 1000 + F2 500 EUR at 1.10 (its expected close 01-15) = 550; F1 won; won F1 + F3
        "Jan 2026": {
            "committed": 2,
            "committed_amount": "1550.00",
            "committed_won": 1,
            "committed_won_amount": "1000.00",
            "won": 2,
            "won_amount": "3000.00",
            "accuracy": "193.5",
        },  # 3000 / 1550
        # Feb: committed F4 300 (expected 02-20 since 01-20), won 02-21
        "Feb 2026": {
            "committed": 1,
            "committed_amount": "300.00",
            "committed_won": 1,
            "committed_won_amount": "300.00",
            "won": 1,
            "won_amount": "300.00",
            "accuracy": "100.0",
        },
    }
    assert r["summary"] == {
        "committed_amount": "1850.00",
        "won_amount": "3300.00",
        "accuracy": "178.4",
        "committed_won": 2,
        "committed": 3,
    }  # 3300 / 1850 = 178.38


def test_data_quality_over_time_from_daily_snapshots(users, api_client_for):
    from rapport.reports.models import QualitySnapshot
    from rapport.reports.standard_team import take_snapshot

    member, outsider = users["member"], users["outsider"]
    write("people", {"first_name": "P1", "emails": ["p1@x.com"]}, actor=member)
    take_snapshot(dt.date(2026, 1, 10))  # east 1 of 1 with an email; replaced in January by the 31st
    p2 = write("people", {"first_name": "P2"}, actor=member)
    write("people", {"first_name": "Q1", "emails": ["q1@y.com"]}, actor=outsider)
    take_snapshot(dt.date(2026, 1, 31))
    assert take_snapshot(dt.date(2026, 1, 31)) == 10  # again: 5 people fields × 2 teams, no company yet
    assert QualitySnapshot.objects.filter(day=dt.date(2026, 1, 31)).count() == 10
    write("people", {"emails": ["p2@x.com"]}, actor=member, instance=p2)
    take_snapshot(dt.date(2026, 2, 28))
    query = "period=custom&start=2026-01-01&end=2026-02-28"
    east = {k: v["people_email"] for k, v in rows(run("data-quality-trend", users["manager"], query)).items()}
    assert east == {"Jan 2026": "50.0", "Feb 2026": "100.0"}  # P1 of P1, P2; then both
    everyone = {k: v["people_email"] for k, v in rows(run("data-quality-trend", users["admin"], query)).items()}
    assert everyone == {"Jan 2026": "66.7", "Feb 2026": "100.0"}  # P1, Q1 of three; then all three
    r = run("data-quality-trend", users["manager"], query)
    assert r["summary"] == {"people_email": "100.0", "people_phone": "0.0", "companies_domain": None}
    assert rows(r)["Jan 2026"]["companies_domain"] is None  # no company in any snapshot
    assert api_client_for(member).get(f"/api/v1/reports/data-quality-trend/?{query}").status_code == 403
    assert api_client_for(users["manager"]).get(f"/api/v1/reports/data-quality-trend/?{query}").status_code == 200


# --- drill-down: each link lists exactly the counted records -----------------------------------------------
def _listed(client: Any, url: str) -> set[str]:
    parts = urlsplit(url)
    answer = client.get(f"/api/v1{parts.path}?{parts.query}&page_size=100")
    assert answer.status_code == 200, (url, answer.content[:300])
    return {
        r.get("title") or r.get("subject") or r.get("first_name") or r.get("name") for r in answer.json()["results"]
    }


def test_drill_down_links_list_the_counted_records(book, api_client_for):
    member = book["users"]["member"]
    client = api_client_for(member)
    r = run("win-loss", member)
    assert _listed(client, r["summary_links"]["won"]) == {"D1", "D3"}
    assert _listed(client, r["summary_links"]["lost"]) == {"D2"}
    assert _listed(client, r["rows"][0]["links"]["lost"]) == {"D2"}  # Price
    trend = {row["label"]: row["links"] for row in run("pipeline", member)["rows"]}
    assert _listed(client, trend["Jan 2026"]["created"]) == {"D1", "D2"}
    assert _listed(client, trend["Feb 2026"]["created"]) == {"D3", "D4"}
    assert _listed(client, trend["Mar 2026"]["won"]) == {"D3"}
    src = {row["label"]: row["links"] for row in run("sources", member)["rows"]}
    assert _listed(client, src["web"]["deals"]) == {"D1", "D2", "D5"}
    assert _listed(client, src["web"]["won"]) == {"D1"}
    assert _listed(client, src["web"]["leads"]) == {"P1", "P2"}
    act = {row["label"]: row["links"] for row in run("activity", member)["rows"]}
    assert (
        len(_listed(client, act["Peer"]["calls"])) == 1
        and client.get("/api/v1" + urlsplit(act["Peer"]["calls"]).path + "?" + urlsplit(act["Peer"]["calls"]).query)
        .json()["results"]
        .__len__()
        == 2
    )
    assert len(client.get("/api/v1/activities/?" + urlsplit(act["Member"]["overdue"]).query).json()["results"]) == 1
    manager = api_client_for(book["users"]["manager"])
    dq = run("data-quality", book["users"]["manager"])
    links = {row["label"]: row["links"] for row in dq["rows"]}
    assert _listed(manager, links["People · Email"]["missing"]) == {"P3", "P4"}
    assert _listed(manager, links["People · Company"]["missing"]) == {"P2", "P3", "P4"}
    assert _listed(manager, dq["summary_links"]["deals_stale"]) == {"D4", "D5"}


# --- pages and API ---------------------------------------------------------------------------------------
KEYS = [
    "funnel",
    "win-loss",
    "pipeline",
    "products",
    "velocity",
    "forecast-accuracy",
    "sources",
    "activity",
    "adoption",
    "data-quality",
    "data-quality-trend",
]


@pytest.mark.parametrize("key", KEYS)
def test_api_answers_every_report_typed(book, api_client_for, key):
    answer = api_client_for(book["users"]["admin"]).get(f"/api/v1/reports/{key}/?{Q1}")
    assert answer.status_code == 200
    assert answer.json()["report"] == key


def test_api_agrees_with_the_computation_and_counts_by_role(book, api_client_for):
    for role, won in (("member", 2), ("admin", 3), ("westlead", 1), ("outsider", 1)):
        body = api_client_for(book["users"][role]).get(f"/api/v1/reports/win-loss/?{Q1}").json()
        assert body["summary"]["won"] == won, role


def test_adoption_and_data_quality_are_for_team_leads(book, api_client_for, client):
    member = book["users"]["member"]
    client.force_login(member)
    for key in ("adoption", "data-quality"):
        assert api_client_for(member).get(f"/api/v1/reports/{key}/").status_code == 403
        assert client.get(f"/reports/{key}/").status_code == 403
    index = client.get("/reports/").content.decode()
    assert "/reports/win-loss/" in index and "/reports/adoption/" not in index


@pytest.mark.parametrize(
    "query, field",
    [
        ("period=yesterday", "period"),
        ("period=custom&start=2026-01-01", "end"),
        ("period=custom&start=1799-12-31&end=2026-01-01", "start"),
        ("period=custom&start=2026-01-01&end=3000-01-01", "end"),
        ("period=custom&start=2026-02-01&end=2026-01-01", "end"),
        ("period=custom&start=2020-01-01&end=2026-01-01", "start"),  # more than 36 months
        ("pipeline=abc", "pipeline"),
        ("pipeline=99999999", "pipeline"),
        ("owner=-1", "owner"),
        ("team=1e9", "team"),
        ("team=99999", "team"),
        ("group=week", "group"),
        ("colour=red", "colour"),
        ("start=2026-13-01", "start"),
    ],
)
def test_bad_filters_get_a_400_naming_the_field(book, api_client_for, client, query, field):
    answer = api_client_for(book["users"]["member"]).get(f"/api/v1/reports/pipeline/?{query}")
    assert answer.status_code == 400
    assert field in answer.content.decode()
    client.force_login(book["users"]["member"])
    assert client.get(f"/reports/pipeline/?{query}").status_code == 400


def test_pages_show_figures_formatted_with_links_and_chart_data(book, client):
    client.force_login(book["users"]["member"])
    page = client.get(f"/reports/win-loss/?{Q1}").content.decode()
    assert "$3,400.00" in page and "66.7%" in page and "29.5" in page
    assert 'href="/deals/?status=won&amp;closed__after=2026-01-01&amp;closed__before=2026-03-31"' in page
    assert 'id="report-data"' in page and "chart.umd.js" in page
    empty = client.get("/reports/win-loss/?period=custom&start=2020-01-01&end=2020-01-31").content.decode()
    assert "Nothing to show" in empty and "chart.umd.js" not in empty
    nav = client.get("/reports/").content.decode()
    assert 'href="/reports/"' in nav


# Pinned statements per page and endpoint (session, user, role, token and rate-limit reads included).
QUERIES = {  # (page, endpoint)
    "funnel": (11, 7),
    "win-loss": (9, 5),
    "pipeline": (9, 5),
    "products": (9, 5),
    "velocity": (9, 5),
    "sources": (9, 5),
    "forecast-accuracy": (11, 7),  # one query per month (3) and one for the won deals
    "activity": (9, 5),  # and the emails sent (mail.queries.sender)
    "adoption": (9, 5),
    "data-quality": (11, 7),
    "data-quality-trend": (7, 3),
}


@pytest.mark.parametrize("key", KEYS)
def test_query_counts_are_pinned(book, client, api_client_for, key):
    client.force_login(book["users"]["admin"])
    client.get(f"/reports/{key}/?{Q1}")  # warm
    connection.queries_log.clear()  # the book filled the capped log: its indices would drift
    with CaptureQueriesContext(connection) as page:
        assert client.get(f"/reports/{key}/?{Q1}").status_code == 200
    on_page = [q["sql"][:90] for q in page.captured_queries]
    api = api_client_for(book["users"]["admin"])
    api.get(f"/api/v1/reports/{key}/?{Q1}")  # warm (the schema check builds the document once)
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as endpoint:
        assert api.get(f"/api/v1/reports/{key}/?{Q1}").status_code == 200
    assert (len(on_page), len(endpoint)) == QUERIES[key], on_page


# --- the sign-in log ---------------------------------------------------------------------------------------
def test_a_successful_sign_in_is_logged_and_old_rows_are_pruned(users, client, settings):
    from django.utils import timezone

    from rapport.jobs.tasks import prune_logins

    member = users["member"]
    assert client.post("/login/", {"username": "member", "password": "wrong"}).status_code == 200
    assert not LoginRecord.objects.exists()
    assert client.post("/login/", {"username": "member", "password": "correct horse battery"}).status_code == 302
    assert list(LoginRecord.objects.values_list("user_id", flat=True)) == [member.pk]
    LoginRecord.objects.create(user=member, at=timezone.now() - dt.timedelta(days=731))
    assert prune_logins() == 1  # the default keeps 730 days
    settings.RAPPORT_LOGIN_KEEP_DAYS = 0
    LoginRecord.objects.create(user=member, at=timezone.now() - dt.timedelta(days=5000))
    assert prune_logins() == 0 and LoginRecord.objects.count() == 2
