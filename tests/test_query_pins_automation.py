"""Query counts pinned (STYLE §16) for the automation API (rule list and detail, a rule's run log), the invoice
pages (list, detail, the company's Invoices section) and the telephony caller lookup: each is measured with few
rows and with more, and must not grow with the rows (an N+1 fails here)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rapport.accounts.models import User
from rapport.automation import engine

from .conftest import write
from .test_automation import rule, settle
from .test_invoices import _invoice, _pay


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


def count(client: Client, url: str, **params: Any) -> int:
    """Statements of a request after a first one (what a process caches once — custom-field definitions, the
    content types — is not the page's cost)."""
    client.get(url, params)
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url, params)
    assert answer.status_code == 200, (url, answer.content[:500])
    if SHOW:
        print(url, *[q["sql"][:150] for q in queries.captured_queries], sep="\n  ")
    return len(queries)


SHOW = False


def test_automation_api_list_detail_and_log(users: dict[str, User], api_client_for: Any) -> None:
    client = api_client_for(users["admin"])
    first = rule(users["admin"], name="one", actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    few = [
        count(client, "/api/v1/automation/rules/"),
        count(client, f"/api/v1/automation/rules/{first.pk}/"),
        count(client, f"/api/v1/automation/rules/{first.pk}/runs/"),
    ]
    for i in range(6):
        rule(users["admin"], name=f"r{i}", actions=[{"type": "add_tags", "params": {"tags": [f"t{i}"]}}])
    for i in range(6):
        write("people", {"first_name": f"P{i}"}, actor=users["member"])
    settle()
    many = [
        count(client, "/api/v1/automation/rules/"),
        count(client, f"/api/v1/automation/rules/{first.pk}/"),
        count(client, f"/api/v1/automation/rules/{first.pk}/runs/"),
    ]
    # Token (with its user), the rate counter; then the list: the keyset page's ids, the rules with their creators;
    # a rule: one read; its log: the rule, the page's ids, the runs.
    assert few == many == [4, 3, 5]


def test_invoice_pages(users: dict[str, User], company: Any) -> None:
    client = Client()
    client.force_login(users["member"])
    invoice = _invoice(company, users["admin"], number="INV-1")
    _pay(invoice, "100.00", users["admin"])
    few = [
        count(client, "/invoices/"),
        count(client, f"/invoices/{invoice.pk}/"),
        count(client, "/invoices/section/", company=company.pk),
    ]
    for i in range(2, 8):
        other = _invoice(company, users["admin"], number=f"INV-{i}")
        _pay(other, "10.00", users["admin"])
        _pay(invoice, "1.00", users["admin"])
    many = [
        count(client, "/invoices/"),
        count(client, f"/invoices/{invoice.pk}/"),
        count(client, "/invoices/section/", company=company.pk),
    ]
    # Session, user, role; the list: custom fields, the projection, the owners' names, the teams and the saved
    # views of the filter bar; the detail: the invoice, custom fields, merges, the history with its actors, the
    # company link (the company, then a user), the payments card; the section: the company's visibility, the
    # invoices, the outstanding totals.
    assert few == many == [8, 11, 6]


def test_telephony_lookup(users: dict[str, User], company: Any, api_client_for: Any) -> None:
    client = api_client_for(users["peer"])

    def person(i: int) -> Any:
        return write(
            "people",
            {"first_name": f"Ada{i}", "last_name": "L", "company": company.pk,
             "phones": [{"number": "+44 20 7946 0018", "kind": "work"}]},
            actor=users["member"],
        )  # fmt: skip

    person(0)
    write("deals", {"title": "D0", "company": company.pk, "amount": "10", "currency": "GBP"}, actor=users["member"])
    few = count(client, "/api/v1/telephony/lookup/", number="+442079460018")
    for i in range(1, 6):
        person(i)
        write(
            "deals", {"title": f"D{i}", "company": company.pk, "amount": "10", "currency": "GBP"}, actor=users["member"]
        )
    many = count(client, "/api/v1/telephony/lookup/", number="+442079460018")
    # Token (with its user), the rate counter; the people with the number, their companies, their open deals.
    assert few == many == 5
