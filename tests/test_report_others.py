"""The report builder's "Others" (and a date's "Earlier") drill down to exactly the records they add up, for
every kind of grouping: a date folds its earliest periods (the list: ``<date>__before`` the first period
shown), a custom field and a text or choice with a "Not set" group shown fold with ``__not`` and
``__isnull=false``. Each list is read through the API by the viewer, whose count must be the figure.

The book is test_report_engine's (its docstring lists the deals); the bound is lowered to 2 or 3 groups so
that a few deals fold. Runs on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.core import customfields
from rapport.reports import engine

from . import test_report_engine as base
from .conftest import write
from .test_report_engine import _listed, by_month, report, table

book = base.book  # the fixture


def counts_match(client: Any, result: engine.Result) -> None:
    """Every row's list holds as many records as the row counts (the titles are checked by hand apart)."""
    for row in result.rows:
        assert row.url is not None, row
        assert len(_listed(client, row.url)) == row.count, row


def set_custom(book: dict[str, Any], values: dict[str, dict[str, Any]]) -> None:
    for key, custom in values.items():
        deal = book[key]
        deal.refresh_from_db()
        write("deals", {"custom": {**deal.custom, **custom}}, actor=book["admin"], instance=deal)


# --- dates: the most recent periods, "Earlier" before them --------------------------------------------------
def test_a_date_keeps_its_latest_periods_and_lists_the_earlier_ones(book, api_client_for, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    admin, member = book["admin"], book["member"]
    # created: Jan d1 d2, Feb d3 d4, Mar d5 d6, Apr d7 d8 (two each: the largest would have kept Jan and Feb)
    result = report(admin, group_by=by_month("created_at"))
    assert table(result) == [("Earlier", 4), ("Mar 2026", 2), ("Apr 2026", 2)] and result.others
    earlier = result.rows[0]
    assert earlier.keys == (engine.OTHERS,) and earlier.url == "/deals/?created__before=2026-02-28"
    admin_client = api_client_for(admin)
    assert _listed(admin_client, earlier.url) == ["Deal 100", "Deal 1000", "Deal 2000", "Deal 500"]  # d1–d4
    counts_match(admin_client, result)
    # the member sees the east team (not the outsider's d7): Mar 2, Apr 1 (d8), Earlier the same four
    mine = report(member, group_by=by_month("created_at"))
    assert table(mine) == [("Earlier", 4), ("Mar 2026", 2), ("Apr 2026", 1)]
    member_client = api_client_for(member)
    assert _listed(member_client, mine.rows[0].url) == ["Deal 100", "Deal 1000", "Deal 2000", "Deal 500"]
    counts_match(member_client, mine)
    # by week: Mon 5 Jan 2 (d1, d2), 26 Jan 1 (d3), 9 Feb 1 (d4), 2 Mar 2 (d5, d6), 30 Mar 2 (d7, d8)
    weeks = report(admin, group_by=by_month("created_at", "week"))
    assert table(weeks) == [("Earlier", 4), ("Week of Mar 2, 2026", 2), ("Week of Mar 30, 2026", 2)]
    assert weeks.rows[0].url == "/deals/?created__before=2026-03-01"
    counts_match(admin_client, weeks)


def test_no_date_stays_apart_from_earlier(book, api_client_for, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    admin, member = book["admin"], book["member"]
    # expected close: Jan d5, Feb d6 d7, Mar d4, none d1 d2 d3 d8; three places: Earlier, Mar, No date
    result = report(admin, group_by=by_month("expected_close_date"))
    assert table(result) == [("Earlier", 3), ("Mar 2026", 1), ("No date", 4)]
    assert result.rows[0].url == "/deals/?close_date__before=2026-02-28"
    client = api_client_for(admin)
    assert _listed(client, result.rows[0].url) == ["Deal 1000", "Deal 300", "Deal 400"]  # d5, d6, d7
    counts_match(client, result)
    # the member: Earlier d5 and d6 (d7 is the west team's)
    mine = report(member, group_by=by_month("expected_close_date"))
    assert table(mine) == [("Earlier", 2), ("Mar 2026", 1), ("No date", 4)]
    assert _listed(api_client_for(member), mine.rows[0].url) == ["Deal 1000", "Deal 300"]
    counts_match(api_client_for(member), mine)
    # under the report's own date filter (to 31 Mar: the dated deals only), the earlier of the two days wins
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    narrowed = report(admin, group_by=by_month("expected_close_date"), filters="close_date__before=2026-03-31")
    assert table(narrowed) == [("Earlier", 3), ("Mar 2026", 1)]
    assert narrowed.rows[0].url == "/deals/?close_date__before=2026-02-28"
    counts_match(client, narrowed)
    monkeypatch.setattr(engine, "MAX_GROUPS", 1)  # no place for a period: "Earlier" is every dated deal
    everything = report(admin, group_by=by_month("expected_close_date"))
    assert table(everything) == [("Earlier", 4), ("No date", 4)]
    assert everything.rows[0].url == "/deals/?close_date__isnull=false"
    counts_match(client, everything)


def test_earlier_under_a_second_grouping_and_a_custom_date(book, api_client_for, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    admin, member = book["admin"], book["member"]
    client = api_client_for(admin)
    # owners (three: kept) × months (Mar and Apr kept over all owners)
    result = report(admin, group_by=["owner", {"field": "created_at", "granularity": "month"}])
    assert table(result) == [
        ("Member", "Earlier", 4),
        ("Member", "Apr 2026", 1),
        ("Peer", "Mar 2026", 2),
        ("Outsider", "Apr 2026", 1),
    ]
    assert result.rows[0].url == f"/deals/?created__before=2026-02-28&owner={member.pk}"
    counts_match(client, result)
    customfields.create_field("deals", "signed", {"label": "Signed", "field_type": "date"}, actor=admin)
    customfields.forget()
    set_custom(book, {"d1": {"signed": "2026-01-20"}, "d2": {"signed": "2026-01-31"},
                      "d3": {"signed": "2026-02-01"}, "d4": {"signed": "2026-03-05"}})  # fmt: skip
    signed = report(admin, group_by=[{"field": "cf_signed", "granularity": "month"}])
    assert table(signed) == [("Earlier", 3), ("Mar 2026", 1), ("No date", 4)]
    assert signed.rows[0].url == "/deals/?cf_signed__lte=2026-02-28"
    assert _listed(client, signed.rows[0].url) == ["Deal 100", "Deal 1000", "Deal 500"]  # d1, d2, d3
    counts_match(client, signed)
    mine = report(member, group_by=[{"field": "cf_signed", "granularity": "month"}])
    assert table(mine) == [("Earlier", 3), ("Mar 2026", 1), ("No date", 3)]  # d5, d6, d8 undated
    counts_match(api_client_for(member), mine)


# --- custom fields: __not, and __isnull=false beside a shown "Not set" ---------------------------------------
def test_others_of_a_custom_field_lists_the_values_not_shown(book, api_client_for, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    admin, member = book["admin"], book["member"]
    client = api_client_for(admin)
    # region: EU 3 (d1 d2 d5), US 2 (d3 d4), not set 3 (d6 d7 d8); EU kept (the tie with "Not set" by name)
    region = report(admin, group_by=["cf_region"])
    assert table(region) == [("EU", 3), ("Others", 5)]
    assert region.rows[1].url == "/deals/?cf_region__not=EU"  # the deals without a region are among them
    assert _listed(client, region.rows[1].url) == ["Deal 100", "Deal 2000", "Deal 300", "Deal 400", "No amount"]
    mine = report(member, group_by=["cf_region"])
    assert table(mine) == [("EU", 3), ("Others", 4)]  # not d7
    assert _listed(api_client_for(member), mine.rows[1].url) == ["Deal 100", "Deal 2000", "Deal 300", "No amount"]

    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    customfields.create_field(
        "deals", "tier", {"label": "Tier", "field_type": "choice", "choices": ["A", "B", "C"]}, actor=admin
    )
    customfields.create_field("deals", "champion", {"label": "Champion", "field_type": "user"}, actor=admin)
    customfields.create_field("deals", "strategic", {"label": "Strategic", "field_type": "boolean"}, actor=admin)
    customfields.forget()
    peer, outsider = book["peer"], book["outsider"]
    set_custom(book, {
        "d1": {"tier": "A", "champion": member.pk, "strategic": True},
        "d2": {"tier": "A", "champion": member.pk, "strategic": False},
        "d3": {"tier": "B", "champion": peer.pk, "strategic": True},
        "d4": {"tier": "C", "champion": outsider.pk},
    })  # fmt: skip
    # tier: not set 4 (d5–d8) and A 2 kept; Others B + C = d3, d4, which are neither A nor without a tier
    tier = report(admin, group_by=["cf_tier"])
    assert table(tier) == [("A", 2), ("Not set", 4), ("Others", 2)]
    assert tier.rows[2].url == "/deals/?cf_tier__isnull=false&cf_tier__not=A"
    assert _listed(client, tier.rows[2].url) == ["Deal 100", "Deal 2000"]
    counts_match(client, tier)
    # the member: not set 3 (d5 d6 d8), A 2, Others d3 d4
    mine = report(member, group_by=["cf_tier"])
    assert table(mine) == [("A", 2), ("Not set", 3), ("Others", 2)]
    counts_match(api_client_for(member), mine)
    # champion (a user): the member 2 kept beside "No champion" 4; Others the peer's d3 and the outsider's d4
    champion = report(admin, group_by=["cf_champion"])
    assert table(champion) == [("Member", 2), ("No champion", 4), ("Others", 2)]
    assert champion.rows[2].url == f"/deals/?cf_champion__isnull=false&cf_champion__not={member.pk}"
    assert _listed(client, champion.rows[2].url) == ["Deal 100", "Deal 2000"]
    counts_match(api_client_for(member), report(member, group_by=["cf_champion"]))
    # yes/no: not set 5 kept, yes 2, no 1; with room for one value only "Not set" stays: Others = any set
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    strategic = report(admin, group_by=["cf_strategic"])
    assert table(strategic) == [("Not set", 5), ("Others", 3)]
    assert strategic.rows[1].url == "/deals/?cf_strategic__isnull=false"
    assert _listed(client, strategic.rows[1].url) == ["Deal 100", "Deal 1000", "Deal 500"]
    # the member's own deals: yes 2 (d1 d3) kept, Others = no (d2) and not set (d4 d8)
    own = report(admin, group_by=["cf_strategic"], filters=f"owner={member.pk}")
    assert table(own) == [("Yes", 2), ("Others", 3)]
    assert own.rows[1].url == f"/deals/?cf_strategic__not=true&owner={member.pk}"
    assert _listed(client, own.rows[1].url) == ["Deal 2000", "Deal 500", "No amount"]


# --- a text or choice with "Not set" shown --------------------------------------------------------------------
def test_others_beside_an_empty_text_group_leaves_the_empty_out(book, api_client_for, monkeypatch):
    admin, member = book["admin"], book["member"]
    for key, source in (("d1", "web"), ("d2", "web"), ("d3", "referral"), ("d4", "event")):
        deal = book[key]
        deal.refresh_from_db()
        write("deals", {"source": source}, actor=admin, instance=deal)
    client = api_client_for(admin)
    full = report(admin, group_by=["source"])
    # the empty source is "Not set" (last), selected by source__isnull=true: d5–d8
    assert table(full) == [("web", 2), ("event", 1), ("referral", 1), ("Not set", 4)]
    assert full.rows[-1].url == "/deals/?source__isnull=true"
    assert _listed(client, full.rows[-1].url) == ["Deal 1000", "Deal 300", "Deal 400", "No amount"]
    monkeypatch.setattr(engine, "MAX_GROUPS", 3)
    result = report(admin, group_by=["source"])
    assert table(result) == [("web", 2), ("Not set", 4), ("Others", 2)]
    assert result.rows[-1].url == "/deals/?source__isnull=false&source__not=web"
    assert _listed(client, result.rows[-1].url) == ["Deal 100", "Deal 2000"]  # d3, d4
    counts_match(client, result)
    mine = report(member, group_by=["source"])
    assert table(mine) == [("web", 2), ("Not set", 3), ("Others", 2)]  # d5, d6, d8 without a source
    counts_match(api_client_for(member), mine)


def test_the_list_page_shows_and_counts_the_new_filters(book, client, monkeypatch):
    monkeypatch.setattr(engine, "MAX_GROUPS", 2)
    admin = book["admin"]
    client.force_login(admin)
    url = report(admin, group_by=["cf_region"]).rows[1].url
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url).content.decode()
    assert "5 deals" in page and "Region (not)" in page
    with CaptureQueriesContext(connection) as plain:
        client.get("/deals/?cf_region=EU")
    assert len(ctx.captured_queries) == len(plain.captured_queries)  # the exclusion costs no query
    page = client.get("/deals/?source__isnull=true").content.decode()
    assert "8 deals" in page and "Source (empty)" in page


def test_not_and_isnull_of_custom_fields_and_texts_by_hand(book, api_client_for):
    client = api_client_for(book["admin"])
    assert _listed(client, "/deals/?cf_region__not=EU,US") == ["Deal 300", "Deal 400", "No amount"]
    assert len(_listed(client, "/deals/?cf_region__isnull=false&cf_region__not=US")) == 3  # d1, d2, d5
    assert len(_listed(client, "/deals/?cf_seats__not=10,5")) == 6  # d4 20, d7 3 and four without seats
    assert len(_listed(client, "/deals/?source__isnull=true")) == 8
    assert _listed(client, "/deals/?source__isnull=false") == []
    assert len(_listed(client, "/deals/?status__isnull=false")) == 8


@pytest.mark.parametrize(
    "query, param",
    [
        ("cf_region__not=Mars", "cf_region__not"),
        ("cf_seats__not=many", "cf_seats__not"),
        ("cf_region__not=%00", "cf_region__not"),
        ("cf_nope__not=1", "cf_nope__not"),
        ("source__isnull=maybe", "source__isnull"),
        ("status__isnull=true,false", "status__isnull"),
        ("owner__isnull=true", "owner__isnull"),
    ],
)
def test_hostile_custom_not_and_text_isnull_get_a_400_naming_them(book, api_client_for, query, param):
    answer = api_client_for(book["admin"]).get(f"/api/v1/deals/?{query}")
    assert answer.status_code == 400 and list(answer.json()["fields"]) == [param], answer.content[:300]
