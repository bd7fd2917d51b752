"""Global search: names, partial emails, phones, domains, custom text; ranked; permission-filtered."""

from __future__ import annotations

import pytest

from rapport.core import search, services
from rapport.core.models import CustomField

from .conftest import write


@pytest.fixture
def people(users, company):
    member = users["member"]
    return {
        "ada": write(
            "people",
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "emails": ["ada.l@analytical.org"],
                "phones": ["+44 20 7946 0958"],
                "job_title": "Mathematician",
                "company": company.pk,
            },
            actor=member,
        ),
        "adam": write(
            "people", {"first_name": "Adam", "last_name": "Smith", "emails": ["adam@wealth.co.uk"]}, actor=member
        ),
        "jose": write(
            "people", {"first_name": "José", "last_name": "Núñez", "emails": ["jn@example.es"]}, actor=member
        ),
        "hidden": write(
            "people",
            {"first_name": "Ada", "last_name": "Hidden", "emails": ["ada@west.example"]},
            actor=users["outsider"],
        ),
    }


def ids(user, query, **kw):
    return [(h.type_key, h.record_id) for h in search.search(user, query, **kw)]


def test_finds_by_name_prefix_partial_email_phone_and_domain(people, users, company):
    admin = users["admin"]
    assert ("people", people["ada"].pk) in ids(admin, "lovel")
    assert ("people", people["ada"].pk) in ids(admin, "l@analyt")
    assert ids(admin, "7946 0958")[0] == ("people", people["ada"].pk)
    assert ids(admin, "+44 20 7946")[0] == ("people", people["ada"].pk)
    assert ("companies", company.pk) in ids(admin, "acme.com")
    assert ("people", people["jose"].pk) in ids(admin, "nunez")  # diacritics folded


def test_title_matches_rank_above_body_matches(people, users):
    write(
        "people",
        {"first_name": "Grace", "last_name": "Hopper", "job_title": "Lovelace biographer"},
        actor=users["member"],
    )
    hits = ids(users["admin"], "lovelace")
    assert hits[0] == ("people", people["ada"].pk)
    assert len(hits) == 2


def test_results_respect_visibility(people, users):
    assert ("people", people["hidden"].pk) in ids(users["admin"], "ada")
    member_hits = ids(users["member"], "ada")
    assert ("people", people["hidden"].pk) not in member_hits
    assert ("people", people["ada"].pk) in member_hits
    outsider_hits = ids(users["outsider"], "ada")
    assert outsider_hits == [("people", people["hidden"].pk)]
    assert ids(users["outsider"], "ada.l@analytical") == []


def test_index_follows_every_write(people, users):
    ada = people["ada"]
    write("people", {"last_name": "Byron"}, actor=users["member"], instance=ada)
    assert ("people", ada.pk) not in ids(users["admin"], "lovelace")
    assert ("people", ada.pk) in ids(users["admin"], "byron")
    services.delete_record(ada, actor=users["admin"], source="ui")
    assert ("people", ada.pk) not in ids(users["admin"], "byron")
    services.restore_record(ada, actor=users["admin"], source="ui")
    assert ("people", ada.pk) in ids(users["admin"], "byron")


def test_owner_change_moves_the_record_out_of_a_teams_search(people, users):
    ada = people["ada"]
    write("people", {"owner": users["admin"].pk}, actor=users["admin"], instance=ada)
    users["admin"].team = None
    users["admin"].save()
    write("people", {"owner": users["outsider"].pk}, actor=users["admin"], instance=ada)
    assert ("people", ada.pk) not in ids(users["member"], "lovelace")
    assert ("people", ada.pk) in ids(users["outsider"], "lovelace")


def test_searchable_custom_text_fields_are_indexed(people, users):
    CustomField.objects.create(record_type="people", key="nickname", label="Nickname", field_type="text")
    write("people", {"custom": {"nickname": "Enchantress"}}, actor=users["member"], instance=people["adam"])
    assert ("people", people["adam"].pk) in ids(users["admin"], "enchant")


@pytest.mark.parametrize(
    "query", ['"', "ada*", "NEAR(ada", "-", "a OR b", "'; DROP TABLE x; --", "%_%", "   ", "é" * 300]
)
def test_odd_queries_never_fail(people, users, query):
    search.search(users["admin"], query)


def test_type_filter(people, users, company):
    assert ids(users["admin"], "acme", types=["companies"]) == [("companies", company.pk)]
