"""Hostile input gets a 4xx naming the parameter or field and writes nothing — never a 5xx.

Each case here was a 500 once (most of them on PostgreSQL only, which refuses NUL in text: CI runs this
file on both databases). The class-wide checks live in ``core.inputs``; the property-based sweep over
every registered type is in ``test_hostile_properties.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rapport.contacts.models import Person
from rapport.core import customfields, inputs
from rapport.core.models import CustomField, Event, SavedView

from .conftest import write

NUL = "%00"


def counts() -> tuple[int, int, int]:
    return Person.objects.count(), Event.objects.count(), SavedView.objects.count()


@pytest.fixture
def api(users, api_client_for) -> Client:
    client = api_client_for(users["admin"])
    client.raise_request_exception = False
    return client


@pytest.fixture
def browser(users) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(users["admin"])
    return client


@pytest.fixture
def fields(db) -> dict[str, CustomField]:
    return {
        t: CustomField.objects.create(record_type="people", key=f"f_{t}", label=t.title(), field_type=t)
        for t in ("text", "number", "date", "datetime", "money")
    }


def error_fields(response: Any) -> dict[str, list[str]]:
    return json.loads(response.content)["fields"]


# --- query strings ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url,param",
    [
        (f"/api/v1/people/?lifecycle_stage=lead{NUL}", "lifecycle_stage"),
        (f"/api/v1/people/?tag=vip{NUL}", "tag"),
        (f"/api/v1/people/?cursor={NUL}", "cursor"),
        (f"/api/v1/people/?ordering=first_name{NUL}", "ordering"),
        (f"/api/v1/people/?cf_f_text=a{NUL}b", "cf_f_text"),
        (f"/api/v1/people/?cf_f_text__contains={NUL}", "cf_f_text__contains"),
        (f"/api/v1/search/?q=ad{NUL}a", "q"),
        (f"/api/v1/people/export/?tag={NUL}", "tag"),
        (f"/api/v1/deals/?source={NUL}", "source"),
        (f"/api/v1/people/?a{NUL}=1", "a\x00"),
    ],
)
def test_nul_in_api_query_values_is_a_400_naming_the_parameter(url, param, api, fields, person):
    response = api.get(url)
    assert response.status_code == 400
    body = json.loads(response.content)
    assert body["error"] == "bad_parameter"
    assert body["fields"] == {param: ["Null characters are not allowed."]}


@pytest.mark.parametrize(
    "url",
    [f"/people/?tag={NUL}", f"/search/?q=a{NUL}", f"/people/export/?format=csv&tag={NUL}", f"/calendar/?date={NUL}"],
)
def test_nul_in_page_query_values_is_a_400_page(url, browser, person):
    response = browser.get(url)
    assert response.status_code == 400
    assert "Null characters are not allowed" in response.content.decode()


def test_a_hand_made_cursor_with_nul_text_or_huge_ids_is_refused(api, person):
    import base64

    def make(payload: str) -> str:
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    for cursor in (make('{"v": "a\\u0000", "id": 1}'), make('{"v": "a", "id": 18446744073709551616}')):
        response = api.get(f"/api/v1/people/?ordering=first_name&cursor={cursor}")
        assert response.status_code == 400 and "cursor" in error_fields(response)


def test_saved_view_with_nul_in_its_name_or_params_writes_nothing(browser, person):
    before = counts()
    response = browser.post("/people/views/", {"name": "Mine\x00", "params": "tag=vip"})
    assert response.status_code == 400 and "name: Null characters" in response.content.decode()
    response = browser.post("/people/views/", {"name": "Mine", "params": "tag=vip%00"}, follow=True)
    assert response.status_code == 200 and "Null characters are not allowed" in response.content.decode()
    assert counts() == before


# --- dates ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query,param,words",
    [
        ("created__after=2026-02-30", "created__after", "2026-02-30 is not a day of the calendar"),
        ("created__before=9999-12-31", "created__before", "use a year from 1800 to 2999"),
        ("created__after=0001-01-01", "created__after", "use a year from 1800 to 2999"),
        ("cf_f_date=2026-02-30", "cf_f_date", "not a day of the calendar"),
        ("cf_f_date__gte=9999-12-31", "cf_f_date__gte", "use a year"),
        ("cf_f_datetime__lte=9999-12-31T23:00:00-05:00", "cf_f_datetime__lte", "use a year"),
    ],
)
def test_impossible_or_far_dates_in_filters_are_a_400(query, param, words, api, fields, person):
    response = api.get(f"/api/v1/people/?{query}")
    assert response.status_code == 400
    assert words in error_fields(response)[param][0]


def test_deal_close_date_filter_bounds(api):
    response = api.get("/api/v1/deals/?expected_close_date__before=9999-12-31")
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01", "2026-02-30", "2026-13-01"])
def test_calendar_page_refuses_dates_it_cannot_show(date, browser):
    response = browser.get(f"/calendar/?date={date}")
    assert response.status_code == 400
    assert "date:" in response.content.decode()


def test_calendar_page_shows_the_last_month_in_range(browser):
    assert browser.get("/calendar/?date=2999-12-31").status_code == 200
    assert browser.get("/calendar/?date=1800-01-01&view=week").status_code == 200


@pytest.mark.parametrize("when", ["0001-01-01T00:30", "9999-12-31T23:30", "2026-02-30T09:00"])
def test_reschedule_to_a_year_out_of_range_is_a_400_and_writes_nothing(when, users, browser):
    import datetime as dt

    from django.utils import timezone

    task = write(
        "activities",
        {"kind": "task", "subject": "Call back", "due_at": timezone.now() + dt.timedelta(hours=2)},
        actor=users["admin"],
    )
    events = Event.objects.count()
    response = browser.post(
        f"/my-day/{task.pk}/reschedule/", {"when": when, "version": task.version}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert "When: enter a date and time in 1800–2999" in response.content.decode()
    task.refresh_from_db()
    assert task.version == 1 and Event.objects.count() == events


# --- write bodies -----------------------------------------------------------------------------
BAD_BODIES = [
    ('{"first_name": "A", "custom": {"f_text": "a\\u0000b"}}', "custom.f_text", "Null characters"),
    ('{"first_name": "A", "custom": {"f_text": "a\\ud800b"}}', "custom.f_text", "Surrogate characters"),
    ('{"first_name": "A\\udfff"}', "first_name", "Surrogate characters"),
    ('{"first_name": "A", "tags": ["x\\u0000"]}', "tags[0]", "Null characters"),
    ('{"first_name": "A", "custom": {"f\\u0000": 1}}', "custom", "Null characters"),
    ('{"first_name": "A", "custom": {"f_date": "2026-02-30"}}', "custom.f_date", "not a day of the calendar"),
    ('{"first_name": "A", "custom": {"f_date": "9999-12-31"}}', "custom.f_date", "use a year"),
    ('{"first_name": "A", "custom": {"f_datetime": "9999-12-31T23:00-05:00"}}', "custom.f_datetime", "use a year"),
    ('{"first_name": "A", "custom": {"f_number": 18446744073709551616}}', "custom.f_number", "between"),
    ('{"first_name": "A", "custom": {"f_number": -1e15}}', "custom.f_number", "between"),
    ('{"first_name": "A", "custom": {"f_number": 0.1234567}}', "custom.f_number", "6 decimal places"),
    ('{"first_name": "A", "custom": {"f_money": {"amount": "1e15", "currency": "EUR"}}}', "custom.f_money", "amount"),
]


@pytest.mark.parametrize("body,field,words", BAD_BODIES)
def test_bad_values_in_write_bodies_are_a_400_naming_the_field_and_write_nothing(
    body, field, words, api, fields, person
):
    before = counts()
    response = api.post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    found = error_fields(response)
    assert field in found and words in found[field][0], found
    response = api.patch(f"/api/v1/people/{person.pk}/", body, content_type="application/json")
    assert response.status_code == 400 and field in error_fields(response)
    assert counts() == before
    person.refresh_from_db()
    assert person.version == 1 and person.first_name == "Ada"


def test_numbers_at_the_bounds_are_stored_and_read_back(api, fields):
    body = {"first_name": "A", "custom": {"f_number": "999999999999999", "f_date": "2999-12-31"}}
    created = api.post("/api/v1/people/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    read = api.get(f"/api/v1/people/{created.json()['id']}/")
    assert read.status_code == 200
    assert read.json()["custom"] == {"f_number": 999999999999999, "f_date": "2999-12-31"}
    assert api.get("/api/v1/people/?cf_f_number__gte=-999999999999999").status_code == 200
    small = api.post(
        "/api/v1/people/", {"first_name": "B", "custom": {"f_number": "-0.123456"}}, content_type="application/json"
    )
    assert small.status_code == 201 and small.json()["custom"] == {"f_number": -0.123456}


@pytest.mark.parametrize("depth", [33, 5000])
def test_deeply_nested_json_is_a_400_and_writes_nothing(depth, api, person):
    before = counts()
    body = '{"first_name": "A", "custom": ' + "[" * depth + "]" * depth + "}"
    response = api.post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in json.loads(response.content)["message"]
    assert counts() == before


def test_nesting_within_the_bound_reaches_the_validator(api, fields):
    body = '{"first_name": "A", "custom": {"f_text": ' + "[" * 30 + "]" * 30 + "}}"
    response = api.post("/api/v1/people/", body, content_type="application/json")
    assert response.status_code == 400 and error_fields(response) == {"custom.f_text": ["Enter text."]}


def test_nul_in_a_form_body_is_a_400_page_and_writes_nothing(browser, person):
    before = counts()
    response = browser.post(f"/people/{person.pk}/edit/", {"first_name": "Ada\x00", "version": person.version})
    assert response.status_code == 400 and "first_name: Null characters" in response.content.decode()
    assert counts() == before


# --- the helpers themselves ------------------------------------------------------------------
def test_bad_text_finds_nul_and_lone_surrogates_only():
    assert inputs.bad_text("Zoë 日本 🎉 tab\there\nline") is None
    assert inputs.bad_text("a\x00") == "Null characters are not allowed."
    assert inputs.bad_text("\udc80") == "Surrogate characters are not allowed: U+DC80."


def test_parse_day_bounds():
    assert inputs.parse_day("1800-01-01").isoformat() == "1800-01-01"
    assert inputs.parse_day("2999-12-31").isoformat() == "2999-12-31"
    for bad in ("1799-12-31", "3000-01-01", "2026-02-29", "２０２６-01-01", "20260101", ""):
        with pytest.raises(ValueError):
            inputs.parse_day(bad)
    assert inputs.parse_day("2028-02-29").isoformat() == "2028-02-29"


def test_custom_number_rules(db):
    field = CustomField(record_type="people", key="n", label="N", field_type="number")
    assert customfields.clean_value(field, "12") == 12
    assert customfields.clean_value(field, "1.500000") == 1.5
    for bad in ("1e15", "-1e15", 2**64, "0.0000001", "NaN", True):
        with pytest.raises(customfields.FieldError):
            customfields.clean_value(field, bad)


# --- lengths and single lines -----------------------------------------------------------------
def test_activity_body_is_capped_and_a_long_one_is_previewed_on_the_timeline(users, api, browser, person):
    from rapport.activities.models import Activity
    from rapport.activities.serializers import BODY_MAX

    link = [{"type": "people", "id": person.pk}]
    before = Activity.objects.count()
    too_long = api.post(
        "/api/v1/activities/",
        {"kind": "note", "subject": "Huge", "body": "x" * (BODY_MAX + 1), "links": link},
        content_type="application/json",
    )
    assert too_long.status_code == 400
    assert error_fields(too_long) == {"body": [f"Ensure this field has no more than {BODY_MAX} characters."]}
    assert Activity.objects.count() == before
    body = "First paragraph.\n\n" + "word " * 3900  # 19,518 characters, within the cap
    assert len(body) <= BODY_MAX
    note = api.post(
        "/api/v1/activities/",
        {"kind": "note", "subject": "Long", "body": body, "links": link},
        content_type="application/json",
    )
    assert note.status_code == 201, note.content
    timeline = browser.get(f"/people/{person.pk}/timeline/").content.decode()
    assert "First paragraph." in timeline and "Read all of it" in timeline
    assert timeline.count("word") < 400  # the preview, not the 3,900 words
    page = browser.get(f"/activities/{note.json()['id']}/").content.decode()
    assert page.count("word") >= 3900


@pytest.mark.parametrize("subject", ["Kick-off\r\nATTENDEE:mailto:x@example.com", "Kick-off\nmore", "a\rb", "a\u2028b"])
def test_single_line_fields_refuse_line_breaks(subject, api):
    response = api.post(
        "/api/v1/activities/",
        {"kind": "meeting", "subject": subject, "start_at": "2026-12-01T10:00:00Z", "duration_minutes": 30},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_fields(response) == {"subject": ["Use a single line (no line breaks)."]}


def test_meeting_invite_stays_a_valid_calendar(api, browser):
    from icalendar import Calendar

    created = api.post(
        "/api/v1/activities/",
        {"kind": "meeting", "subject": "  Kick-off: plan; review, go  ", "start_at": "2026-12-01T10:00:00Z"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    ics = browser.get(f"/activities/{created.json()['id']}/invite.ics").content
    (event,) = Calendar.from_ical(ics).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Kick-off: plan; review, go"


@pytest.mark.parametrize("field,limit", [("terms", 5000), ("customer_name", 200), ("customer_address", 1000)])
def test_quote_texts_are_bounded(field, limit):
    from rapport.quotes.api.views import QuoteLinesSerializer

    assert not QuoteLinesSerializer(data={field: "x" * (limit + 1)}, partial=True).is_valid()
    assert QuoteLinesSerializer(data={field: "x" * limit}, partial=True).is_valid()


def test_record_dates_are_bounded_on_every_type(api):
    far = api.post(
        "/api/v1/deals/", {"title": "Far", "expected_close_date": "9999-12-31"}, content_type="application/json"
    )
    assert far.status_code == 400 and "use a year" in error_fields(far)["expected_close_date"][0]
    due = api.post(
        "/api/v1/activities/",
        {"kind": "task", "subject": "Far", "due_at": "0001-01-01T00:00:00+00:00"},
        content_type="application/json",
    )
    assert due.status_code == 400 and "use a year" in error_fields(due)["due_at"][0]


def test_every_text_in_every_request_body_declares_its_maximum_length():
    """Class check over the published schema: a write field added without a bound fails here."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    unbounded = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            bounded = (
                "maxLength" in node or "enum" in node or node.get("format") in ("date", "date-time", "time", "decimal")
            )
            if node.get("type") == "string" and not bounded and not node.get("readOnly"):
                unbounded.append(path)
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    bodies = {k: v for k, v in schema["components"]["schemas"].items() if k.endswith("Request")}
    assert {"PersonWriteRequest", "ActivityWriteRequest", "DealWriteRequest"} <= set(bodies)
    for name, component in bodies.items():
        walk(component, name)
    assert unbounded == []
    body = schema["components"]["schemas"]["ActivityWriteRequest"]["properties"]["body"]
    assert body["maxLength"] == 20_000


def test_every_record_text_field_is_bounded_in_its_write_serializer():
    from django.db import models

    from rapport.core import registry

    for rtype in registry.all_types():
        serializer = rtype.get_serializer_class()()
        for name, field in serializer.fields.items():
            model_field = next((f for f in rtype.model._meta.get_fields() if f.name == name), None)
            if isinstance(model_field, (models.CharField, models.TextField)) and not hasattr(field, "choices"):
                assert getattr(field, "max_length", None), f"{rtype.key}.{name} has no max_length"


# --- ids in query strings ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "url,param",
    [
        ("/api/v1/people/?company=18446744073709551616", "company"),
        ("/api/v1/people/?owner=99999999999999999999", "owner"),
        ("/api/v1/activities/?person=18446744073709551616", "person"),
        ("/api/v1/deals/?stage=²", "stage"),
        ("/api/v1/quotes/?deal=18446744073709551616", "deal"),
        ("/api/v1/quotes/?cursor=²", "cursor"),
        ("/api/v1/quotas/?user=18446744073709551616", "user"),
    ],
)
def test_ids_past_64_bits_or_not_ascii_digits_are_a_400(url, param, api):
    response = api.get(url)
    assert response.status_code == 400, response.content
    assert param in error_fields(response)


def test_pages_ignore_ids_they_cannot_use(browser, person):
    assert browser.get(f"/people/{person.pk}/timeline/?before=18446744073709551616").status_code < 500
    assert browser.get("/deals/new/?person=18446744073709551616").status_code == 200
    assert browser.get("/board/?pipeline=²").status_code < 500


def test_is_id():
    assert inputs.is_id("1") and inputs.is_id("999999999999999999")
    for bad in ("", "0x1", "-1", "²", "1e3", "9223372036854775808", " 1"):
        assert not inputs.is_id(bad)


def test_every_page_size_in_the_schema_declares_its_bound(api):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    sizes = [
        (path, p["schema"])
        for path, ops in schema["paths"].items()
        for op in ops.values()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p["name"] in ("page_size", "limit")
    ]
    assert len(sizes) >= 10
    assert [path for path, s in sizes if s.get("maximum") is None or s.get("minimum") != 1] == []
    assert api.get("/api/v1/people/?page_size=201").status_code == 400
    assert api.get("/api/v1/search/?q=ada&limit=abc").status_code == 400


def test_ids_are_not_read_with_str_isdigit():
    """``str.isdigit`` accepts "²" and 30-digit numbers; ids from requests go through ``inputs.is_id``."""
    from pathlib import Path

    import rapport

    allowed = {"api/errors.py", "web/forms.py"}  # dict keys and row indexes, not ids
    root = Path(rapport.__file__).parent
    found = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if ".isdigit()" in path.read_text() and str(path.relative_to(root)) not in allowed
    ]
    assert found == []
