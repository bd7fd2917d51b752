"""``/autocomplete/``, the one endpoint behind every link picker: only records the user may view, users by
name, a bounded query, a pinned number of queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rapport.core import services

from .conftest import make_user, write


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def results(response: Any) -> list[tuple[str, int, str]]:
    assert response.status_code == 200, response.content
    return [(r["type"], r["id"], r["label"]) for r in response.json()["results"]]


def test_records_of_another_team_are_absent(users, company, person):
    theirs = write("companies", {"name": "Acme West"}, actor=users["outsider"])
    their_person = write("people", {"first_name": "Ada", "last_name": "Westwood"}, actor=users["outsider"])
    member = client_for(users["member"])
    assert results(member.get("/autocomplete/?type=companies&q=acm")) == [("companies", company.pk, "Acme")]
    assert results(member.get("/autocomplete/?type=people&q=ada")) == [("people", person.pk, "Ada Lovelace")]
    # several types at once (an activity's links): still only the visible ones
    mixed = results(member.get("/autocomplete/?type=people,companies,deals&q=acme"))
    assert ("companies", company.pk, "Acme") in mixed and ("companies", theirs.pk, "Acme West") not in mixed
    # the other team sees theirs and not ours
    outsider = results(client_for(users["outsider"]).get("/autocomplete/?type=people,companies&q=ada"))
    assert outsider == [("people", their_person.pk, "Ada Westwood")]
    # a deleted record is not offered
    gone = write("companies", {"name": "Acme Gone"}, actor=users["member"])
    assert [r[2] for r in results(member.get("/autocomplete/?type=companies&q=gone"))] == ["Acme Gone"]
    services.delete_record(gone, actor=users["member"], source="ui")
    assert results(member.get("/autocomplete/?type=companies&q=gone")) == []


def test_a_type_the_role_cannot_view_answers_nothing(users, company, db):
    nobody = make_user("guest", "member", None)
    nobody.role.grants = {}
    nobody.role.save()
    nobody.refresh_from_db()
    assert results(client_for(nobody).get("/autocomplete/?type=companies&q=acme")) == []


def test_users_by_name(users):
    sam = make_user("sam", "member", None, last_name="Seller")
    make_user("sid", "member", None, last_name="Sellers", is_active=False)
    c = client_for(users["member"])
    assert results(c.get("/autocomplete/?type=users&q=sel")) == [("users", sam.pk, "Sam Seller")]
    assert results(c.get("/autocomplete/?type=users&q=sam sel")) == [("users", sam.pk, "Sam Seller")]
    everyone = results(c.get("/autocomplete/?type=users&q="))  # an empty box lists the first ten
    assert len(everyone) == 7 and (("users", sam.pk, "Sam Seller")) in everyone  # six from the fixture, Sam


def test_bad_input_is_a_400_naming_the_parameter(users):
    c = client_for(users["member"])
    long = c.get("/autocomplete/?type=companies&q=" + "a" * 101)
    assert long.status_code == 400 and long.json() == {"error": "q: type at most 100 characters.", "field": "q"}
    assert c.get("/autocomplete/?type=companies&q=" + "a" * 100).status_code == 200
    unknown = c.get("/autocomplete/?type=planets&q=x")
    assert unknown.status_code == 400 and unknown.json()["field"] == "type" and "'planets'" in unknown.json()["error"]
    assert c.get("/autocomplete/?q=x").json()["field"] == "type"
    assert c.post("/autocomplete/?type=companies&q=x").status_code == 405


def test_signed_out_is_sent_to_login(client, db):
    response = client.get("/autocomplete/?type=companies&q=acme")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "url", ["/autocomplete/?type=companies&q=acme", "/autocomplete/?type=people,companies,deals&q=a"]
)
def test_record_search_query_count_is_pinned(users, company, person, django_assert_num_queries, url):
    for n in range(30):
        write("companies", {"name": f"Acme {n}"}, actor=users["member"])
    c = client_for(users["member"])
    c.get(url)
    with django_assert_num_queries(4):  # session, user, role, the search (visibility in the same query)
        assert len(results(c.get(url))) == 10


def test_user_search_query_count_is_pinned(users, django_assert_num_queries):
    c = client_for(users["member"])
    c.get("/autocomplete/?type=users&q=pe")
    with django_assert_num_queries(3):  # session, user, the users
        assert results(c.get("/autocomplete/?type=users&q=pe")) == [("users", users["peer"].pk, "Peer")]


def test_products_carry_their_price_in_the_asked_currency_and_inactive_ones_are_not_offered(users):
    seat = write(
        "products",
        {"name": "Cloud seat", "tax_rate": "20", "prices": [{"currency": "EUR", "unit_price": "1220"}]},
        actor=users["admin"],
    )
    write("products", {"name": "Cloud legacy", "active": False}, actor=users["admin"])
    c = client_for(users["admin"])
    eur = c.get("/autocomplete/?type=products&q=cloud&currency=eur").json()["results"]
    assert [(r["id"], r["data"]) for r in eur] == [
        (seat.pk, {"name": "Cloud seat", "price": "1220.00", "tax": "20.00", "note": "€1,220.00"})
    ]
    jpy = c.get("/autocomplete/?type=products&q=cloud&currency=JPY").json()["results"]
    assert [(r["label"], r["data"]["price"], r["data"]["note"]) for r in jpy] == [("Cloud seat", "", "no JPY price")]


@pytest.mark.parametrize("q", ['"', "*", "a OR b", "-x", "%_", "NEAR(", "ü", "   ", "'; drop"])
def test_any_typed_text_answers_200(users, company, q):
    for type_key in ("companies", "people,companies,deals", "users"):
        response = client_for(users["member"]).get("/autocomplete/", {"type": type_key, "q": q})
        assert response.status_code == 200 and isinstance(response.json()["results"], list)
