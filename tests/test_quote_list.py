"""The Quotes list (/quotes/): a quote is listed exactly when its deal is visible; filters by status,
deal, deal owner, creator, currency, creation dates and validity; sorted; keyset pages; a bad filter
is a 400 naming the field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from rapport.quotes import services as quotes

from .conftest import write
from .test_quotes import LINES, ensure_pipeline


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def numbers(response: Any) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return re.findall(r'class="row-link" href="/quotes/\d+/">([^<]+)</a>', response.content.decode())


def deal_of(actor: Any, title: str, currency: str = "EUR") -> Any:
    ensure_pipeline()
    return write("deals", {"title": title, "currency": currency, "line_items": LINES}, actor=actor)


@pytest.fixture
def world(users):
    """East: Acme (member's, EUR) with two quotes, Initech (peer's, USD) with one; West: Globex (outsider's)."""
    acme = deal_of(users["member"], "Acme seats")
    initech = deal_of(users["peer"], "Initech renewal", "USD")
    globex = deal_of(users["outsider"], "Globex rollout")
    today = timezone.localdate()
    # Created first (so listed last, newest first), numbered and valid as if made on 2025-01-01.
    old = quotes.create_quote_from_deal(acme, actor=users["member"], today=dt.date(2025, 1, 1))  # Q-2025-0001
    q1 = quotes.create_quote_from_deal(acme, actor=users["member"], valid_days=5)  # Q-<year>-0001
    q2 = quotes.create_quote_from_deal(acme, actor=users["member"], valid_days=20)  # 0002
    q2 = quotes.send_quote(q2, actor=users["member"])
    q3 = quotes.create_quote_from_deal(initech, actor=users["peer"], valid_days=60)  # 0003
    q4 = quotes.create_quote_from_deal(globex, actor=users["outsider"])  # 0004
    return {"acme": acme, "initech": initech, "globex": globex, "q": [q1, q2, q3, q4], "old": old, "year": today.year}


def test_the_list_shows_what_each_role_may_see(users, world):
    y = world["year"]
    east = [f"Q-{y}-0003", f"Q-{y}-0002", f"Q-{y}-0001", "Q-2025-0001"]  # newest first
    assert numbers(client_for(users["member"]).get("/quotes/")) == east
    assert numbers(client_for(users["read-only"]).get("/quotes/")) == east
    assert numbers(client_for(users["manager"]).get("/quotes/")) == east
    assert numbers(client_for(users["outsider"]).get("/quotes/")) == [f"Q-{y}-0004"]
    assert numbers(client_for(users["admin"]).get("/quotes/")) == [f"Q-{y}-0004", *east]


def test_a_binned_deal_takes_its_quotes_out_of_the_list(users, world):
    from rapport.core import services

    services.delete_record(world["initech"], actor=users["peer"], source="ui")
    y = world["year"]
    assert numbers(client_for(users["member"]).get("/quotes/")) == [f"Q-{y}-0002", f"Q-{y}-0001", "Q-2025-0001"]


def test_rows_show_deal_status_total_and_validity(users, world):
    text = client_for(users["member"]).get("/quotes/", {"status": "sent"}).content.decode()
    # Q-…-0002: Acme seats, sent, 1,187.49 EUR (see LINES), valid for 20 more days.
    assert f'href="/deals/{world["acme"].pk}/">Acme seats</a>' in text
    assert '<span class="badge quote-status quote-sent">Sent</span>' in text
    assert "1,187.49 EUR" in text
    assert "20 days left" in text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "sent"}, ["0002"]),
        ({"status": "draft"}, ["0003", "0001", "2025"]),
        ({"owner": "peer"}, ["0003"]),
        ({"created_by": "member"}, ["0002", "0001", "2025"]),
        ({"currency": "usd"}, ["0003"]),
        ({"q": "initech"}, ["0003"]),
        ({"q": "2025-00"}, ["2025"]),
        ({"expiring": "7"}, ["0001"]),  # valid 5 more days
        ({"expiring": "30"}, ["0002", "0001"]),  # 20 and 5 days; 0003 has 60
        ({"expiring": "past"}, ["2025"]),  # valid until 2025-01-31, still a draft
        ({"sort": "number"}, ["2025", "0001", "0002", "0003"]),
        ({"sort": "created"}, ["2025", "0001", "0002", "0003"]),
    ],
)
def test_filters_and_sorting(params, expected, users, world):
    y = world["year"]
    resolved = {k: str(users[v].pk) if k in ("owner", "created_by") else v for k, v in params.items()}
    want = ["Q-2025-0001" if e == "2025" else f"Q-{y}-{e}" for e in expected]
    assert numbers(client_for(users["member"]).get("/quotes/", resolved)) == want


def test_deal_and_date_filters(users, world):
    y = world["year"]
    client = client_for(users["member"])
    acme = world["acme"].pk
    assert numbers(client.get("/quotes/", {"deal": acme})) == [f"Q-{y}-0002", f"Q-{y}-0001", "Q-2025-0001"]
    today = timezone.localdate()
    assert len(numbers(client.get("/quotes/", {"created_after": today.isoformat()}))) == 4
    assert numbers(client.get("/quotes/", {"created_before": (today - dt.timedelta(days=1)).isoformat()})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "won"}, "status"),
        ({"currency": "EURO"}, "currency"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "2026-05-02", "created_before": "2026-05-01"}, "created_before"),
        ({"expiring": "90"}, "expiring"),
        ({"owner": "maria"}, "owner"),
        ({"sort": "customer"}, "sort"),
        ({"cursor": "garbage"}, "cursor"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(params, field, users, world):
    response = client_for(users["member"]).get("/quotes/", params)
    assert response.status_code == 400
    assert f"<p>{field}: " in response.content.decode()


def test_another_teams_deal_is_answered_like_a_missing_one(users, world):
    client = client_for(users["member"])
    hidden = client.get("/quotes/", {"deal": world["globex"].pk})
    missing = client.get("/quotes/", {"deal": world["globex"].pk + 1000})
    assert hidden.status_code == missing.status_code == 400
    assert "deal: there is no such deal." in hidden.content.decode()
    assert "Globex" not in hidden.content.decode()


def test_keyset_pages(users, world, monkeypatch):
    from rapport.quotes.views import quote_list

    monkeypatch.setattr(quote_list, "PAGE_SIZE", 3)
    y = world["year"]
    client = client_for(users["member"])
    first = client.get("/quotes/")
    assert numbers(first) == [f"Q-{y}-0003", f"Q-{y}-0002", f"Q-{y}-0001"]
    next_url = re.search(r'href="(/quotes/\?[^"]+)" rel="next"', first.content.decode()).group(1)
    second = client.get(next_url.replace("&amp;", "&"))
    assert numbers(second) == ["Q-2025-0001"]
    assert 'rel="next"' not in second.content.decode()
    previous = re.search(r'href="(/quotes/\?[^"]+)" rel="prev"', second.content.decode()).group(1)
    assert numbers(client.get(previous.replace("&amp;", "&"))) == [f"Q-{y}-0003", f"Q-{y}-0002", f"Q-{y}-0001"]


def test_the_main_navigation_links_the_list_for_whoever_sees_deals(users, world):
    assert 'href="/quotes/">Quotes</a>' in client_for(users["read-only"]).get("/").content.decode()


def test_quote_list_query_count(users, world, django_assert_num_queries):
    client = client_for(users["member"])
    client.get("/quotes/")
    # session, user, role, the deal filter's deal, the page's ids, its quotes with their deals and
    # people, the user list of the filters: the same for 3 rows or 50.
    with django_assert_num_queries(7):
        response = client.get("/quotes/", {"status": "draft", "sort": "number", "deal": world["acme"].pk})
    assert response.status_code == 200
