# ruff: noqa: F811  (the fixtures of test_board, imported, are redefined as test parameters)
"""The board's column figures kept by the write path (deals/totals.py): they agree with a scan of the
deals after every kind of write, give the board the same totals for every role, and cost the same
queries however many open deals there are."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rapport.accounts import services as accounts
from rapport.core import services
from rapport.deals import board, pipelines
from rapport.deals import totals as kept
from rapport.deals.models import Deal, StageTotal
from rapport.deals.services import mark_won, move_deal
from rapport.deals.tasks import reconcile_stage_totals
from rapport.forecasting import services as rates_services

from .test_board import deal, deals, pipeline, rates, stage  # noqa: F401 (fixtures)


def board_totals(user, pipeline, *, use_kept: bool):
    q = board.deal_filter({}, user)
    qs = board.visible_deals(user, pipeline, q)
    stages = board.board_stages(pipeline)
    scope = board.scope_q(user, "deals", "view") if use_kept else None
    by_id = board.column_totals(qs, stages, kept=scope)
    return {s.name: (t.count, t.total, t.weighted, t.without_rate) for s in stages for t in [by_id[s.pk]]}


def test_kept_totals_are_the_scanned_ones_for_every_role(users, pipeline, deals):
    for name, user in users.items():
        assert board_totals(user, pipeline, use_kept=True) == board_totals(user, pipeline, use_kept=False), name
    # As worked out in test_board: 1000 USD + 1000 EUR × 1.10 + 500 EUR × 1.20 = 2700, 10 % weighted;
    # GBP (no rate) and EUR closing before the first rate are flagged; JPY at its 10th daily rate 0.0074.
    t = board_totals(users["member"], pipeline, use_kept=True)
    assert t["Qualification"] == (6, Decimal("2700.00"), Decimal("270.00"), 2)
    assert t["Negotiation"] == (1, Decimal("74.00"), Decimal("55.50"), 0)
    assert t["Proposal"] == (1, Decimal("2000.00"), Decimal("1000.00"), 0)
    # The outsider's 99,999 USD is theirs alone (team West).
    assert board_totals(users["outsider"], pipeline, use_kept=True)["Qualification"] == (
        1,
        Decimal("99999.00"),
        Decimal("9999.90"),
        0,
    )


def test_the_rows_follow_every_kind_of_write(users, pipeline, deals, teams):
    admin, member = users["admin"], users["member"]
    assert kept.differences() == {}
    eur_early = Deal.objects.get(pk=deals["eur_early"].pk)
    # amount, currency and close date into another rate period, in one write
    services.update_record(
        eur_early,
        {"amount": Decimal("1500.00"), "currency": "EUR", "expected_close_date": dt.date(2026, 8, 1)},
        actor=member,
        source="api",
    )
    row = StageTotal.objects.get(
        stage=stage(pipeline, "Qualification"), owner_id=member.pk, currency="EUR", period=dt.date(2026, 6, 1)
    )
    # 500 EUR (eur_late) + 1500 EUR, both after the June rate: 2 deals, 200,000 cents, × 10 %
    assert (row.n, row.priced, row.total, row.weighted) == (2, 2, 200000, 2000000)
    assert kept.differences() == {}
    # a move, won (leaves the open figures), a new owner in another team, bin and back
    move_deal(Deal.objects.get(pk=deals["usd"].pk), stage(pipeline, "Proposal"), actor=member, source="ui")
    mark_won(Deal.objects.get(pk=deals["proposal"].pk), actor=member, source="ui")
    services.update_record(
        Deal.objects.get(pk=deals["gbp"].pk), {"owner": users["outsider"]}, actor=admin, source="api"
    )
    services.delete_record(Deal.objects.get(pk=deals["jpy"].pk), actor=member, source="api")
    assert kept.differences() == {}
    services.restore_record(Deal.objects.get(pk=deals["jpy"].pk), actor=member, source="api")
    assert kept.differences() == {}
    # bulk paths: a stage's new probability, a user's new team, a bulk load
    q = stage(pipeline, "Qualification")
    pipelines.update_stage(q, name=q.name, probability=40, rotting_days=q.rotting_days, actor=admin)
    accounts.update_user(users["peer"], actor=admin, team=teams["west"])
    services.create_records_in_bulk(
        [
            Deal(title=f"Bulk {i}", pipeline=pipeline, stage=q, amount=Decimal("10.00"), currency="EUR")
            for i in range(3)
        ],
        actor=member,
        source="import",
    )
    assert kept.differences() == {}
    # a new rate splits a period: the rate service rebuilds the rows
    rates_services.add_exchange_rate(
        {"currency": "EUR", "rate": Decimal("1.30"), "valid_from": dt.date(2026, 7, 15)}, actor=admin
    )
    assert kept.differences() == {}
    for name, user in users.items():
        assert board_totals(user, pipeline, use_kept=True) == board_totals(user, pipeline, use_kept=False), name


def test_the_reconcile_rebuilds_drifted_rows(users, pipeline, deals):
    StageTotal.objects.filter(owner_id=users["member"].pk).update(n=99)
    assert kept.differences() != {}
    assert reconcile_stage_totals.call() > 0  # the nightly job finds and rebuilds them
    assert kept.differences() == {}
    assert reconcile_stage_totals.call() == 0


def test_board_totals_read_the_same_queries_whatever_the_number_of_deals(
    users, pipeline, rates, django_assert_num_queries
):
    member = users["member"]
    stages = board.board_stages(pipeline)
    qs = board.visible_deals(member, pipeline, board.deal_filter({}, member))
    scope = board.scope_q(member, "deals", "view")
    for n in (3, 60):
        while Deal.objects.count() < n:
            deal(member, pipeline, "Qualification", 100, "EUR", f"2026-0{1 + Deal.objects.count() % 9}-01")
        # the rates, the kept rows of the open columns, the closed columns' recent deals
        with django_assert_num_queries(3):
            totals = board.column_totals(qs, stages, kept=scope)
        assert totals[stage(pipeline, "Qualification").pk].count == n


def test_a_title_change_writes_no_row(users, pipeline, deals, django_assert_num_queries):
    d = Deal.objects.get(pk=deals["usd"].pk)
    rows = list(StageTotal.objects.values_list("id", "n", "total"))
    services.update_record(d, {"title": "Renamed"}, actor=users["member"], source="api")
    assert list(StageTotal.objects.values_list("id", "n", "total")) == rows
