"""Global search finds quotes by their number, however it is typed, for exactly those who may see the
deal; the entries follow the deal (owner or team change, recycle bin, restore) in the same write."""

from __future__ import annotations

import pytest
from django.test import Client

from rapport.core import search, services
from rapport.core.models import SearchEntry
from rapport.quotes import services as quotes

from .conftest import write
from .test_quotes import LINES, ensure_pipeline


def found(api: Client, q: str) -> set[tuple[str, int]]:
    response = api.get("/api/v1/search/", {"q": q})
    assert response.status_code == 200, response.content
    return {(h["type"], h["id"]) for h in response.json()["results"]}


@pytest.fixture
def quote(users):
    ensure_pipeline()
    deal = write("deals", {"title": "Acme seats", "currency": "EUR", "line_items": LINES}, actor=users["member"])
    for _ in range(11):  # Q-<year>-0001 … 0011 first, so the one under test is the twelfth
        quotes.create_quote_from_deal(deal, actor=users["member"])
    return quotes.create_quote_from_deal(deal, actor=users["member"])


@pytest.mark.parametrize("typed", ["{n}", "{lower}", "{digits}", "{compact}", "{n_spaced}", "0012"])
def test_the_number_however_typed_finds_the_quote(typed, users, quote, api_client_for):
    number = quote.number  # Q-2026-0012
    year = number.split("-")[1]
    text = typed.format(
        n=number,
        lower=number.lower(),
        digits=f"{year}0012",
        compact=number.replace("-", ""),
        n_spaced=number.replace("-", " "),
    )
    assert ("quotes", quote.pk) in found(api_client_for(users["member"]), text)


def test_only_whoever_sees_the_deal_finds_the_quote(users, quote, api_client_for):
    for role in ("member", "peer", "manager", "read-only", "admin"):
        assert ("quotes", quote.pk) in found(api_client_for(users[role]), quote.number), role
    assert found(api_client_for(users["outsider"]), quote.number) == set()


def test_the_search_page_links_the_quote(users, quote):
    client = Client()
    client.force_login(users["member"])
    for live in ("", "1"):
        text = client.get("/search/", {"q": quote.number, "live": live}).content.decode()
        assert f'href="/quotes/{quote.pk}/"' in text and quote.number in text
        assert "Quote" in text


def test_the_entry_follows_the_deal(users, teams, quote, api_client_for):
    deal = quote.deal
    outsider = api_client_for(users["outsider"])
    # The deal is given to the West team's member: its quotes go with it, in the same write.
    write("deals", {"owner": users["outsider"].pk}, actor=users["admin"], instance=deal)
    entry = SearchEntry.objects.get(type_key="quotes", record_id=quote.pk)
    assert (entry.owner_id, entry.team_id) == (users["outsider"].pk, teams["west"].pk)
    assert ("quotes", quote.pk) in found(outsider, quote.number)
    assert found(api_client_for(users["member"]), quote.number) == set()
    # To the recycle bin and back.
    deal.refresh_from_db()
    services.delete_record(deal, actor=users["admin"], source="ui")
    assert not SearchEntry.objects.filter(type_key="quotes", record_id=quote.pk).exists()
    assert found(outsider, quote.number) == set()
    services.restore_record(deal, actor=users["admin"], source="ui")
    assert ("quotes", quote.pk) in found(outsider, quote.number)


def test_a_team_move_of_the_owner_moves_the_quotes_entries(users, teams, quote, api_client_for):
    member = users["member"]
    member.team = teams["west"]
    member.save()
    services.sync_owner_team(member)
    assert SearchEntry.objects.get(type_key="quotes", record_id=quote.pk).team_id == teams["west"].pk
    assert ("quotes", quote.pk) in found(api_client_for(users["outsider"]), quote.number)
    assert found(api_client_for(users["peer"]), quote.number) == set()


def test_a_rebuild_keeps_the_quotes(users, quote, api_client_for):
    SearchEntry.objects.filter(type_key="quotes").delete()
    search.rebuild("deals")
    assert ("quotes", quote.pk) in found(api_client_for(users["member"]), quote.number)


def test_the_type_filter_knows_quotes(users, quote, api_client_for):
    api = api_client_for(users["member"])
    response = api.get("/api/v1/search/", {"q": quote.number, "type": "quotes"})
    assert [(h["type"], h["id"], h["url"]) for h in response.json()["results"]] == [
        ("quotes", quote.pk, f"/api/v1/quotes/{quote.pk}/")
    ]
    assert api.get("/api/v1/search/", {"q": "x", "type": "tickets"}).status_code == 400


def test_the_customer_name_is_the_hits_detail(users, quote, api_client_for):
    quotes.update_quote_details(quote, {"customer_name": "Acme Holding"}, actor=users["member"], expected_version=None)
    hits = api_client_for(users["member"]).get("/api/v1/search/", {"q": quote.number}).json()["results"]
    assert [h["detail"] for h in hits if h["type"] == "quotes"] == ["Acme Holding"]


def test_any_write_path_keeps_every_quote_entry_fresh(users, quote):
    # What the write paths above keep, the stored entries show: one per quote of a live deal, with its deal's
    # owner and team (also checked after every test by the history invariant).
    entries = {e.record_id: (e.owner_id, e.team_id, e.title) for e in SearchEntry.objects.filter(type_key="quotes")}
    assert len(entries) == 12
    assert entries[quote.pk] == (users["member"].pk, users["member"].team_id, quote.number)
