"""core.children: a record's child rows read with SQL compiled once per type (issue 7 §6) must be
what ``prefetch_related`` reads, for every registered type."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from rapport.contacts.models import Person
from rapport.core import registry, services
from rapport.core.children import _template, prefetch_children, record_by_id, rows_for
from rapport.core.models import CustomField
from rapport.deals.models import Deal

from .conftest import default_pipeline, statement_sql, write

pytestmark = pytest.mark.django_db


def test_every_types_child_paths_use_the_compiled_template():
    """A type whose prefetch path the mechanism cannot take would silently go back to compiling on
    every request: every registered path must get a template."""
    paths = [(rtype.model, path) for rtype in registry.all_types() for path in rtype.prefetch_related]
    assert ("contacts.Person", "emails") in [(m._meta.label, p) for m, p in paths]
    for model, path in paths:
        assert _template(model, path, "default") is not None, (model, path)


def _rows(record: models.Model, name: str) -> list[tuple]:
    return [
        tuple((f.attname, getattr(row, f.attname)) for f in row._meta.concrete_fields)
        for row in getattr(record, name).all()
    ]


def test_a_persons_emails_and_phones_are_those_prefetch_related_reads(users):
    person = write(
        "people",
        {
            "first_name": "Ada",
            "emails": [{"email": "ada@example.org", "primary": True}, "ada.l@example.com", "ada@example.net"],
            "phones": ["+12125550123", "+442079460000"],
        },
        actor=users["member"],
    )
    other = write("people", {"first_name": "Grace", "emails": ["g@example.org"]}, actor=users["member"])
    model = type(person)
    expected = model.objects.prefetch_related("emails", "phones").get(pk=person.pk)
    record = model.objects.get(pk=person.pk)
    with CaptureQueriesContext(connection) as ctx:
        prefetch_children(record, ("emails", "phones"))
    assert len(ctx.captured_queries) == 2
    with CaptureQueriesContext(connection) as ctx:
        assert _rows(record, "emails") == _rows(expected, "emails")
        assert [e.email for e in record.emails.all()] == ["ada@example.org", "ada.l@example.com", "ada@example.net"]
        assert _rows(record, "phones") == _rows(expected, "phones") and len(_rows(record, "phones")) == 2
        assert all(e.person is record for e in record.emails.all())  # the back link without a query
    assert ctx.captured_queries == []
    # Another record of the same type gets its own rows from the same compiled query.
    second = model.objects.get(pk=other.pk)
    prefetch_children(second, ("emails", "phones"))
    assert [e.email for e in second.emails.all()] == ["g@example.org"] and list(second.phones.all()) == []


def test_a_deals_contacts_come_with_their_people_joined(users, company):
    default_pipeline()
    people = [write("people", {"first_name": f"P{i}"}, actor=users["member"]) for i in range(2)]
    stage = default_pipeline().stages.order_by("position").first()
    deal = write(
        "deals",
        {"title": "Globex", "stage": stage.pk, "amount": "10", "currency": "EUR", "company": company.pk,
         "contacts": [{"person": people[1].pk, "role": "champion"}, {"person": people[0].pk}],
         # no product: the nullable link's outer join
         "line_items": [{"name": "Seats", "quantity": "2", "unit_price": "5"},
                        {"name": "Setup", "quantity": "1", "unit_price": "3"}]},
        actor=users["member"],
    )  # fmt: skip
    paths = registry.get("deals").prefetch_related
    expected = Deal.objects.prefetch_related(*paths).get(pk=deal.pk)
    record = Deal.objects.get(pk=deal.pk)
    with CaptureQueriesContext(connection) as ctx:
        prefetch_children(record, paths)
    assert len(ctx.captured_queries) == len(paths)  # the nested link is joined, not a query of its own
    with CaptureQueriesContext(connection) as ctx:
        assert [(c.person.first_name, c.role) for c in record.deal_contacts.all()] == [
            ("P1", "champion"),
            ("P0", "other"),
        ]
        assert _rows(record, "deal_contacts") == _rows(expected, "deal_contacts")
        assert _rows(record, "line_items") == _rows(expected, "line_items") and len(_rows(record, "line_items")) == 2
        assert [(li.name, li.product) for li in record.line_items.all()] == [("Seats", None), ("Setup", None)]
    assert ctx.captured_queries == []


def _person_detail() -> Any:
    from rapport.api.representation import detail_queryset

    return detail_queryset("people", prefetch=False).filter(deleted_at__isnull=True)


def test_one_record_is_read_with_its_links_joined_by_a_query_compiled_once(users, company, person):
    other = write("people", {"first_name": "Grace"}, actor=users["outsider"])
    found = record_by_id("test-people-detail", Person, _person_detail, person.pk)
    expected = _person_detail().get(pk=person.pk)
    assert [(f.attname, getattr(found, f.attname)) for f in Person._meta.concrete_fields] == [
        (f.attname, getattr(expected, f.attname)) for f in Person._meta.concrete_fields
    ]
    with CaptureQueriesContext(connection) as ctx:
        again = record_by_id("test-people-detail", Person, _person_detail, other.pk)
        assert again.first_name == "Grace" and again.company is None and again.owner == users["outsider"]
        assert found.company.name == "Acme" and found.owner.username == "member"  # joined: read with the row
    assert len(ctx.captured_queries) == 1
    # Any user's lookup is the same query: the visibility rule is the caller's, on the row read.
    sql = ctx.captured_queries[0]["sql"]
    if sql.startswith("EXECUTE "):  # PostgreSQL: the prepared statement, run with the id
        assert sql.endswith(f"({other.pk})"), sql
        where = statement_sql(sql).split(" WHERE ")[1]
        assert where == '("contacts_person"."deleted_at" IS NULL AND "contacts_person"."id" = $1) LIMIT 1', where
    else:
        where = sql.split(" WHERE ")[1]
        assert where == f'("contacts_person"."deleted_at" IS NULL AND "contacts_person"."id" = {other.pk}) LIMIT 1'


def test_a_record_id_no_row_can_have_finds_nothing_without_an_error(users, person):
    with CaptureQueriesContext(connection) as ctx:
        assert record_by_id("test-people-detail", Person, _person_detail, 2**63) is None
        assert record_by_id("test-people-detail", Person, _person_detail, -(2**63) - 1) is None
    assert ctx.captured_queries == []  # the driver would refuse the number
    assert record_by_id("test-people-detail", Person, _person_detail, person.pk + 1000) is None
    services.delete_record(person, actor=users["member"], source="api")
    assert record_by_id("test-people-detail", Person, _person_detail, person.pk) is None  # the bin is not live


def test_rows_for_a_text_parameter_are_those_of_the_orm_query(users):
    for i, key in enumerate(("region", "tier")):
        CustomField.objects.create(record_type="people", key=key, label=key.title(), field_type="text", position=i)
    CustomField.objects.create(record_type="deals", key="region", label="Region", field_type="text")

    def build(type_key: str) -> Any:
        return CustomField.objects.filter(record_type=type_key)

    assert rows_for("test-defs", CustomField, build, "people") == list(build("people"))
    assert [d.key for d in rows_for("test-defs", CustomField, build, "people")] == ["region", "tier"]
    assert [d.key for d in rows_for("test-defs", CustomField, build, "deals")] == ["region"]
    assert rows_for("test-defs", CustomField, build, "activities") == []
