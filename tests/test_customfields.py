"""Custom fields of every type: one validator, stored as JSON, filterable, indexed."""

from __future__ import annotations

import pytest
from django.db import connection

from rapport.core import customfields
from rapport.core.models import CustomField

from .conftest import write

CASES = [
    # type, extra definition, good input, stored value, bad input, words in the error
    ("text", {}, "  hello ", "  hello ", "x" * 256, "255"),
    ("long_text", {}, "many\nlines", "many\nlines", "x" * 10_001, "10000"),
    ("number", {}, "12.50", 12.5, "twelve", "number"),
    (
        "money",
        {},
        {"amount": "1250", "currency": "eur"},
        {"amount": "1250.00", "currency": "EUR"},
        {"amount": "1250", "currency": "euro"},
        "currency",
    ),
    ("date", {}, "2026-02-01", "2026-02-01", "01/02/2026", "YYYY-MM-DD"),
    ("datetime", {}, "2026-02-01T10:00:00+01:00", "2026-02-01T09:00:00+00:00", "tomorrow", "time"),
    ("boolean", {}, "yes", True, "maybe", "yes or no"),
    ("choice", {"choices": ["gold", "silver"]}, "gold", "gold", "bronze", "bronze"),
    ("multi_choice", {"choices": ["a", "b", "c"]}, ["c", "a"], ["a", "c"], ["a", "z"], "'z'"),
    ("email", {}, "Ann@Example.COM", "ann@example.com", "ann@", "email"),
    ("phone", {}, "+44 20 7946 0958", "+442079460958", "12", "phone"),
    ("url", {}, "example.com/x", "https://example.com/x", "javascript:alert(1)", "web address"),
]


@pytest.mark.parametrize("ftype,extra,good,stored,bad,words", CASES, ids=[c[0] for c in CASES])
def test_each_type_cleans_and_rejects(ftype, extra, good, stored, bad, words, db):
    field = CustomField.objects.create(record_type="people", key="f", label="F", field_type=ftype, **extra)
    assert customfields.clean_value(field, good) == stored
    with pytest.raises(customfields.FieldError) as exc:
        customfields.clean_value(field, bad)
    assert words.lower() in str(exc.value).lower()


def test_user_and_reference_fields_check_existence(users, company):
    user_field = CustomField.objects.create(record_type="people", key="am", label="AM", field_type="user")
    ref_field = CustomField.objects.create(
        record_type="people", key="partner", label="Partner", field_type="reference", reference_type="companies"
    )
    assert customfields.clean_value(user_field, str(users["admin"].pk)) == users["admin"].pk
    assert customfields.clean_value(ref_field, company.pk, actor=users["admin"]) == company.pk
    with pytest.raises(customfields.FieldError):
        customfields.clean_value(user_field, 99999)
    with pytest.raises(customfields.FieldError):
        customfields.clean_value(ref_field, 99999, actor=users["admin"])


def test_required_field_is_enforced_on_create_and_kept_on_update(users):
    CustomField.objects.create(record_type="companies", key="tier", label="Tier", field_type="text", required=True)
    with pytest.raises(customfields.CustomFieldErrors):
        customfields.validate("companies", {}, actor=users["admin"])
    record = write("companies", {"name": "Initech", "custom": {"tier": "A"}}, actor=users["admin"])
    updated = write("companies", {"notes": "x"}, actor=users["admin"], instance=record)
    assert updated.custom == {"tier": "A"}


def _index_names(table: str) -> set[str]:
    with connection.cursor() as cur:
        if connection.vendor == "sqlite":
            cur.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=%s", [table])
        else:
            cur.execute("SELECT indexname FROM pg_indexes WHERE tablename=%s", [table])
        return {r[0] for r in cur.fetchall()}


def test_expression_index_follows_the_definition(db):
    field = CustomField.objects.create(record_type="people", key="region", label="Region", field_type="text")
    assert "cf_contacts_person_region" in _index_names("contacts_person")
    field.delete()
    assert "cf_contacts_person_region" not in _index_names("contacts_person")


def test_sqlite_filter_uses_the_expression_index(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite query plan")
    from django.http import QueryDict

    from rapport.contacts.models import Person
    from rapport.core import registry
    from rapport.core.listing import build_filter

    CustomField.objects.create(record_type="people", key="region", label="Region", field_type="text")
    qs = Person.objects.live().filter(build_filter(registry.get("people"), QueryDict("cf_region=north"), None))
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(str(row) for row in cur.fetchall())
    assert "cf_contacts_person_region" in plan
