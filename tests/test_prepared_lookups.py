"""Record lookups and child-row reads as prepared statements on PostgreSQL (core/children.py): planned once per
session, not on every request; a new session prepares them again; RAPPORT_DB_PREPARE turns it off; the rows
are the same either way."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from rapport.core import children
from rapport.deals.models import Deal

from .conftest import default_pipeline, write


def test_placeholders_are_numbered_for_prepare():
    sql = "SELECT a FROM t WHERE a = %s AND b LIKE 'x%%' AND c IN (%s, %s)"
    assert children._numbered(sql) == "SELECT a FROM t WHERE a = $1 AND b LIKE 'x%' AND c IN ($2, $3)"


def _deal_lookup(users, person):
    pipeline = default_pipeline()
    deal = write(
        "deals",
        {"title": "Prepared", "pipeline": pipeline.pk, "stage": pipeline.stages.order_by("position").first().pk,
         "amount": "10", "contacts": [{"person": person.pk}]},
        actor=users["member"],
    )  # fmt: skip
    return deal


def _read(client, deal):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/api/v1/deals/{deal.pk}/")
    assert response.status_code == 200
    return response.json(), [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_deal_read_runs_prepared_statements_on_postgresql(users, person, api_client_for):
    deal = _deal_lookup(users, person)
    client = api_client_for(users["member"])
    first, statements = _read(client, deal)
    assert first["title"] == "Prepared" and [c["person"]["name"] for c in first["contacts"]] == ["Ada Lovelace"]
    again, statements = _read(client, deal)
    assert again == first
    executed = [s for s in statements if s.startswith("EXECUTE rapport_q")]
    if connection.vendor != "postgresql":
        assert executed == []  # SQLite plans a statement in microseconds: plain SQL
        return
    # the deal (six tables joined), its contacts and its line items: three prepared statements, same count
    assert len(executed) == 3, statements
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'rapport_q%%'")
        prepared = {row[0] for row in cursor.fetchall()}
    assert {s.split("(")[0].removeprefix("EXECUTE ") for s in executed} <= prepared
    # a new session has none prepared: they are prepared again, the answer is the same
    connection.close()
    assert _read(client, deal)[0] == first
    with override_settings(RAPPORT_DB_PREPARE=False):
        plain, statements = _read(client, deal)
    assert plain == first and not any(s.startswith("EXECUTE") for s in statements)


@pytest.mark.django_db
def test_a_missing_record_is_none_prepared_or_not(users):
    assert children.record_by_id("deals-missing", Deal, lambda: Deal.objects.all(), 987654321) is None
    assert children.record_by_id("deals-missing", Deal, lambda: Deal.objects.all(), 987654321) is None
