"""The pre-aggregated deal summaries (reports.summaries): kept current by the event outbox through
creates, updates, stage moves, deletes, restores and currency changes, equal to the live query and
to the figures worked out by hand; each viewer sees only their scope; the dashboard reads them in one
query per number widget. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from rapport.accounts.models import Role
from rapport.core import services
from rapport.core.models import Event
from rapport.deals.models import Deal, Pipeline
from rapport.deals.services import move_deal
from rapport.forecasting.models import ExchangeRate
from rapport.jobs.events import dispatch_pending
from rapport.reports import dashboards, engine, summaries
from rapport.reports.models import DealSummary, SummaryState
from rapport.reports.services import default_dashboard

from .conftest import make_user, write

D = Decimal


def deal(owner: Any, created: str, **data: Any) -> Deal:
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    stage = data.pop("stage", None)
    if stage:
        data["stage"] = pipeline.stages.get(name=stage).pk
    data.setdefault("title", f"Deal {data.get('amount')}")
    with freeze_time(created):
        return write("deals", data, actor=owner)


def settle() -> None:
    """What the worker does after each commit: hand the events to the consumers."""
    dispatch_pending()


@pytest.fixture
def book(users: dict[str, Any]) -> dict[str, Any]:
    """Summaries built on an empty book, then deals written through the services (the outbox keeps
    the summaries current). Base USD; EUR 1.10 from 1 Jan 2026, 1.20 from 1 Feb; no GBP rate.

    d1 member    1000 USD won 15 Jan        created 2026-01-05
    d2 member     500 EUR won 20 Jan (550)  created 2026-01-10
    d3 peer       100 EUR won 10 Feb (120)  created 2026-02-01
    d4 member    2000 USD open exp 1 Mar, probability 50   created 2026-02-15
    d5 peer      1000 EUR open exp 31 Jan (1100), prob. 10  created 2026-03-02
    d6 peer       300 GBP open exp 15 Feb (no rate)         created 2026-03-03
    d7 outsider   400 USD open exp 20 Feb, probability 25   created 2026-04-01   (team West)
    """
    cache.clear()
    ExchangeRate.objects.create(currency="EUR", rate=D("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=D("1.20"), valid_from=dt.date(2026, 2, 1))
    summaries.rebuild()
    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    out = {
        "d1": deal(member, "2026-01-05 10:00Z", amount="1000", status="won", closed_on="2026-01-15"),
        "d2": deal(member, "2026-01-10 10:00Z", amount="500", currency="EUR", status="won", closed_on="2026-01-20"),
        "d3": deal(peer, "2026-02-01 03:00Z", amount="100", currency="EUR", status="won", closed_on="2026-02-10"),
        "d4": deal(member, "2026-02-15 12:00Z", amount="2000", probability=50, expected_close_date="2026-03-01"),
        "d5": deal(peer, "2026-03-02 12:00Z", amount="1000", currency="EUR", probability=10,
                   expected_close_date="2026-01-31"),
        "d6": deal(peer, "2026-03-03 12:00Z", amount="300", currency="GBP", expected_close_date="2026-02-15"),
        "d7": deal(outsider, "2026-04-01 12:00Z", amount="400", probability=25, expected_close_date="2026-02-20"),
    }  # fmt: skip
    settle()
    return {**users, **out}


def run(user: Any, extra: dict[str, str] | None = None, **data: Any) -> engine.Result:
    data.setdefault("type", "deals")
    return engine.run(engine.parse_config(data, user), user, extra_filters=extra)


def live(user: Any, extra: dict[str, str] | None = None, **data: Any) -> engine.Result:
    """The same report from the deals themselves (the summaries set aside)."""
    SummaryState.objects.update(rates_key="set aside")
    try:
        return run(user, extra, **data)
    finally:
        SummaryState.objects.update(rates_key=summaries.rates_key(summaries.Rates()))


def figures(result: engine.Result) -> list[tuple[Any, ...]]:
    return [(*r.keys, r.value, r.count) for r in result.rows] + [("total", result.total.value, result.total.count)]


def reads_summaries(user: Any, **data: Any) -> bool:
    with CaptureQueriesContext(connection) as ctx:
        run(user, **data)
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    return "reports_dealsummary" in sql and "sales_deal" not in sql


OPEN_VALUE = {"filters": "status=open", "measure": {"op": "sum", "field": "amount"}, "chart": "number"}
WON_BY_MONTH = {
    "filters": "status=won",
    "group_by": [{"field": "closed_on", "granularity": "month"}],
    "measure": {"op": "sum", "field": "amount"},
}
CONFIGS: list[dict[str, Any]] = [
    {"chart": "number"},
    {"group_by": ["owner"]},
    {"group_by": ["team", "status"]},
    {"group_by": ["stage"], "filters": "status=open"},
    {"group_by": [{"field": "created_at", "granularity": "month"}], "measure": {"op": "sum", "field": "amount"}},
    {"group_by": [{"field": "created_at", "granularity": "week"}]},
    {"group_by": [{"field": "expected_close_date", "granularity": "quarter"}, {"field": "currency"}]},
    {"group_by": [{"field": "closed_on", "granularity": "year"}], "measure": {"op": "avg", "field": "amount"}},
    {"filters": "status=open&currency=EUR,USD", "measure": {"op": "sum", "field": "amount", "weight": "probability"}},
    {"filters": "closed__after=2026-01-16&closed__before=2026-02-28", "measure": {"op": "sum", "field": "amount"}},
    {"filters": "owner=me&created__after=2026-01-06", "group_by": ["pipeline"]},
    OPEN_VALUE,
    WON_BY_MONTH,
]


def test_summaries_answer_by_hand(book):
    admin = book["admin"]
    assert reads_summaries(admin, **OPEN_VALUE)
    value = run(admin, **OPEN_VALUE)
    # 2000 + 1000 EUR × 1.10 (31 Jan) + 400; the GBP deal has no rate: counted, left out of the sum
    assert (value.total.value, value.total.count, value.unconverted, value.unconverted_currencies) == (
        D("3500.00"), 4, 1, ["GBP"]
    )  # fmt: skip
    won = run(admin, **WON_BY_MONTH)
    assert [(r.keys[0], r.value, r.count) for r in won.rows] == [
        (dt.date(2026, 1, 1), D("1550.00"), 2),  # 1000 + 500 EUR × 1.10
        (dt.date(2026, 2, 1), D("120.00"), 1),  # 100 EUR × 1.20
    ]
    weighted = run(admin, filters="status=open", measure={"op": "sum", "field": "amount", "weight": "probability"})
    # 2000 × 50 % + 1000 EUR × 1.10 × 10 % + 400 × 25 % (GBP left out)
    assert weighted.total.value == D("1210.00")
    per_owner = run(admin, group_by=["owner"])
    assert [(r.labels[0], r.value) for r in per_owner.rows] == [("Member", 3), ("Peer", 3), ("Outsider", 1)]


@pytest.mark.parametrize("config", CONFIGS)
def test_summaries_equal_the_live_query(book, config):
    for who in ("admin", "member", "outsider"):
        user = book[who]
        assert reads_summaries(user, **config), config
        assert figures(run(user, **config)) == figures(live(user, **config)), (who, config)


@pytest.mark.parametrize("bound", [2, 3])
def test_summaries_fold_into_others_and_earlier_like_the_live_query(book, monkeypatch, bound):
    monkeypatch.setattr(engine, "MAX_GROUPS", bound)
    for config in CONFIGS:
        for who in ("admin", "member", "outsider"):
            user = book[who]
            assert reads_summaries(user, **config), config
            now, then = run(user, **config), live(user, **config)
            assert figures(now) == figures(then), (who, config)
            assert [r.url for r in now.rows] == [r.url for r in then.rows], (who, config)


def test_summaries_keep_the_latest_periods_and_earlier_lists_its_deals(book, monkeypatch, api_client_for):
    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    admin = book["admin"]
    by_month = {
        "group_by": [{"field": "created_at", "granularity": "month"}],
        "measure": {"op": "sum", "field": "amount"},
    }
    assert reads_summaries(admin, **by_month)
    result = run(admin, **by_month)
    # created: Jan d1 1000 + d2 550, Feb d3 120 + d4 2000 → Earlier; Mar d5 1100 (+ d6 GBP), Apr d7 400
    assert [(*r.labels, r.value, r.count) for r in result.rows] == [
        ("Earlier", D("3670.00"), 4),
        ("Mar 2026", D("1100.00"), 2),
        ("Apr 2026", D("400.00"), 1),
    ]
    assert result.others and result.rows[0].url == "/deals/?created__before=2026-02-28"
    listed = api_client_for(admin).get("/api/v1/deals/?created__before=2026-02-28&page_size=200").json()["results"]
    assert sorted(d["id"] for d in listed) == sorted(book[k].pk for k in ("d1", "d2", "d3", "d4"))


def test_visibility_per_role(book):
    member, outsider = book["member"], book["outsider"]
    solo_role = Role.objects.create(key="solo", name="Solo", grants={"*": {"view": "own", "add": "own"}})
    solo = make_user("solo", "member", None)
    solo.role = solo_role
    solo.save()
    write("deals", {"title": "Solo's", "amount": "70"}, actor=solo)
    settle()
    # member (team East): d1–d6 = 1000 + 550 + 120 + 2000 + 1100 (+ GBP left out)
    assert run(member, measure={"op": "sum", "field": "amount"}).total.value == D("4770.00")
    # outsider (team West): d7 only
    assert figures(run(outsider, group_by=["owner"])) == [(outsider.pk, 1, 1), ("total", 1, 1)]
    # own scope: their one deal, nobody else's
    result = run(solo, measure={"op": "sum", "field": "amount"})
    assert (result.total.value, result.total.count) == (D("70.00"), 1)
    assert reads_summaries(solo, measure={"op": "sum", "field": "amount"})


def test_kept_current_through_updates_moves_deletes_restores_and_currency_changes(book):
    admin, member = book["admin"], book["member"]
    d4, d5, d7 = book["d4"], book["d5"], book["d7"]
    # amount and currency of d7: 400 USD → 500 EUR, expected 20 Feb (1.20): 600
    write("deals", {"amount": "500", "currency": "EUR"}, actor=admin, instance=d7)
    # d4 moves to Won: closes today (frozen 10 Mar 2026), open value loses 2000
    with freeze_time("2026-03-10 09:00Z"):
        move_deal(Deal.objects.get(pk=d4.pk), d4.pipeline.stages.get(kind="won"), actor=member, source="ui")
    # d5 deleted, then restored; d6 deleted
    services.delete_record(Deal.objects.get(pk=d5.pk), actor=admin, source="ui")
    settle()
    assert run(admin, **OPEN_VALUE).total.value == D("600.00")  # d7 only (d6: GBP, no rate)
    services.restore_record(Deal.objects.get(pk=d5.pk), actor=admin, source="ui")
    services.delete_record(Deal.objects.get(pk=book["d6"].pk), actor=admin, source="ui")
    settle()
    value = run(admin, **OPEN_VALUE)
    assert (value.total.value, value.total.count, value.unconverted) == (D("1700.00"), 2, 0)  # 1100 + 600
    won = run(admin, **WON_BY_MONTH)
    assert [(r.keys[0], r.value) for r in won.rows] == [
        (dt.date(2026, 1, 1), D("1550.00")),
        (dt.date(2026, 2, 1), D("120.00")),
        (dt.date(2026, 3, 1), D("2000.00")),
    ]
    for config in CONFIGS:
        assert figures(run(admin, **config)) == figures(live(admin, **config)), config
    # the same events again (at least once): nothing changes
    before = list(DealSummary.objects.order_by("key").values_list("key", "n", "amount_cents", "weighted_centi"))
    for deal_id in Deal.objects.values_list("pk", flat=True):
        summaries.sync_deals([deal_id])
    assert list(DealSummary.objects.order_by("key").values_list("key", "n", "amount_cents", "weighted_centi")) == before
    # a rebuild from scratch gives the very same buckets
    summaries.rebuild()
    assert list(DealSummary.objects.order_by("key").values_list("key", "n", "amount_cents", "weighted_centi")) == before


def test_reconcile_repairs_a_missed_write_and_rebuilds_on_new_rate_stretches(book):
    admin, d1 = book["admin"], book["d1"]
    # a write whose events never reach the consumer (as if the worker died after the commit)
    write("deals", {"amount": "1234"}, actor=admin, instance=d1)
    Event.objects.filter(dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    assert run(admin, **WON_BY_MONTH).rows[0].value == D("1550.00")
    summaries.reconcile()
    assert run(admin, **WON_BY_MONTH).rows[0].value == D("1784.00")  # 1234 + 550
    # a new rate stretch: the summaries are set aside (live answers) until the rebuild
    ExchangeRate.objects.create(currency="EUR", rate=D("2.00"), valid_from=dt.date(2026, 1, 18))
    assert not reads_summaries(admin, **WON_BY_MONTH)
    assert run(admin, **WON_BY_MONTH).rows[0].value == D("2234.00")  # 1234 + 500 × 2.00 (20 Jan)
    summaries.reconcile()
    assert reads_summaries(admin, **WON_BY_MONTH)
    assert run(admin, **WON_BY_MONTH).rows[0].value == D("2234.00")


def test_other_time_zones_and_unsupported_reports_read_the_deals(book):
    admin = book["admin"]
    admin.time_zone = "America/New_York"
    admin.save()
    by_created = {"group_by": [{"field": "created_at", "granularity": "month"}]}
    assert not reads_summaries(admin, **by_created)  # creation days are the organisation's
    assert reads_summaries(admin, **WON_BY_MONTH)  # a closing day is a date: no zone
    assert not reads_summaries(admin, measure={"op": "max", "field": "amount"})
    assert not reads_summaries(admin, filters="source=web")


def test_dashboard_one_query_per_number_widget_and_warm_cache(book):
    admin = book["admin"]
    board = default_dashboard()
    filters = dashboards.Filters(period="this_quarter")
    today = dt.date(2026, 3, 10)
    with CaptureQueriesContext(connection) as ctx:
        panels = dashboards.compute(board, admin, filters, today=today)
    summary_queries = [q for q in ctx.captured_queries if "reports_dealsummary" in q["sql"]]
    # the conversion per stage reads the stage changes (which the summaries do not hold), nothing else of deals
    deal_queries = [
        q for q in ctx.captured_queries if "sales_deal" in q["sql"] and "sales_stagechange" not in q["sql"]
    ]
    assert len(summary_queries) == 4 and not deal_queries  # 4 number widgets (both periods each)
    funnel = next(p for p in panels if p.widget.standard == "funnel")
    assert funnel.standard is not None and funnel.standard.filters.start == dt.date(2026, 1, 1)
    panels = [p for p in panels if p.widget.report_id]
    by_name = {p.widget.report.name: p for p in panels}
    # Q1 2026 by expected close: d4 (1 Mar) 2000, d5 (31 Jan) 1100, d6 GBP, d7 (20 Feb) 400
    assert by_name["Pipeline value"].result.total.value == D("3500.00")
    assert by_name["Open deals"].result.total.value == 4
    assert by_name["Won this period"].result.total.value == D("1670.00")  # 1000 + 550 + 120
    assert by_name["Won this period"].previous.total.value == D("0.00")
    live_panels = dashboards.compute(board, admin, filters, today=today)  # now from the cache
    with CaptureQueriesContext(connection) as ctx:
        again = dashboards.compute(board, admin, filters, today=today)
    assert not [q for q in ctx.captured_queries if "reports_dealsummary" in q["sql"] or "stagechange" in q["sql"]]
    assert [figures(p.result) for p in again if p.result] == [figures(p.result) for p in live_panels if p.result]
    # a change bumps the data version: the next request counts it
    write("deals", {"amount": "3000"}, actor=admin, instance=book["d4"])
    settle()
    fresh = {p.widget.title: p for p in dashboards.compute(board, admin, filters, today=today)}
    assert fresh["Pipeline value"].result.total.value == D("4500.00")
