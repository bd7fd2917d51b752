"""Custom field definitions and the calendar feed address over the API."""

from __future__ import annotations

from django.test import Client

from rapport.activities.models import CalendarFeed
from rapport.core.models import CustomField


def test_admin_defines_changes_and_deletes_a_custom_field(users, api_client_for):
    admin = api_client_for(users["admin"])
    created = admin.post(
        "/api/v1/custom-fields/",
        {
            "record_type": "people",
            "key": "tier",
            "label": "Tier",
            "field_type": "choice",
            "choices": ["gold", "silver"],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["key"] == "tier" and body["choices"] == ["gold", "silver"] and created["Location"] == body["url"]
    # the new field works at once: values validated, filter accepted, schema updated
    person = admin.post(
        "/api/v1/people/", {"first_name": "Ann", "custom": {"tier": "gold"}}, content_type="application/json"
    )
    assert person.status_code == 201 and person.json()["custom"] == {"tier": "gold"}
    assert [r["first_name"] for r in admin.get("/api/v1/people/", {"cf_tier": "gold"}).json()["results"]] == ["Ann"]
    schema = admin.get("/api/schema/").json()
    assert "tier" in schema["components"]["schemas"]["PersonCustom"]["properties"]

    changed = admin.patch(
        body["url"], {"label": "Account tier", "choices": ["gold", "silver", "bronze"]}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["label"] == "Account tier"
    retype = admin.patch(body["url"], {"field_type": "number"}, content_type="application/json")
    assert retype.status_code == 400 and "field_type" in retype.json()["fields"]
    listed = admin.get("/api/v1/custom-fields/", {"record_type": "people"}).json()["results"]
    assert [(f["key"], f["label"]) for f in listed] == [("tier", "Account tier")]
    assert admin.delete(body["url"]).status_code == 204
    assert not CustomField.objects.exists()


def test_custom_field_rules_answer_400_naming_the_field(users, api_client_for):
    admin = api_client_for(users["admin"])
    CustomField.objects.create(record_type="people", key="tier", label="Tier", field_type="text")
    cases = [
        ({"record_type": "people", "key": "tier", "label": "T", "field_type": "text"}, "key"),
        ({"record_type": "people", "key": "Bad Key", "label": "T", "field_type": "text"}, "key"),
        ({"record_type": "planets", "key": "x", "label": "T", "field_type": "text"}, "record_type"),
        ({"record_type": "people", "key": "c", "label": "C", "field_type": "choice"}, "choices"),
        ({"record_type": "people", "key": "r", "label": "R", "field_type": "reference"}, "reference_type"),
    ]
    for data, field in cases:
        answer = admin.post("/api/v1/custom-fields/", data, content_type="application/json")
        assert answer.status_code == 400 and field in answer.json()["fields"], (data, answer.content)
    assert CustomField.objects.count() == 1


def test_only_settings_managers_change_custom_fields(users, api_client_for):
    member = api_client_for(users["member"])
    data = {"record_type": "people", "key": "tier", "label": "Tier", "field_type": "text"}
    assert member.post("/api/v1/custom-fields/", data, content_type="application/json").status_code == 403
    field = CustomField.objects.create(record_type="people", key="tier", label="Tier", field_type="text")
    assert member.get("/api/v1/custom-fields/").json()["results"][0]["key"] == "tier"
    assert (
        member.patch(f"/api/v1/custom-fields/{field.pk}/", {"label": "X"}, content_type="application/json").status_code
        == 403
    )
    assert member.delete(f"/api/v1/custom-fields/{field.pk}/").status_code == 403
    assert CustomField.objects.get().label == "Tier"
    assert member.get("/api/v1/custom-fields/999/").status_code == 404


def test_calendar_feed_address_read_regenerate_revoke(users, api_client_for):
    client = api_client_for(users["member"])
    assert client.get("/api/v1/calendar-feed/").json() == {
        "active": False,
        "url": None,
        "created_at": None,
        "last_used_at": None,
    }
    made = client.post("/api/v1/calendar-feed/")
    assert made.status_code == 201
    url = made.json()["url"]
    assert url.startswith("http://testserver/calendar/feed/cal_") and url.endswith(".ics")
    feed_path = url.removeprefix("http://testserver")
    assert Client().get(feed_path).status_code == 200
    state = client.get("/api/v1/calendar-feed/").json()
    assert state["active"] is True and state["url"] is None  # shown once, stored hashed
    again = client.post("/api/v1/calendar-feed/").json()["url"]
    assert again != url and Client().get(feed_path).status_code == 404  # the old URL stops working
    assert client.delete("/api/v1/calendar-feed/").status_code == 204
    assert not CalendarFeed.objects.exists()
    assert Client().get(again.removeprefix("http://testserver")).status_code == 404


def test_read_only_token_cannot_regenerate_the_feed(users, api_client_for):
    client = api_client_for(users["member"], scope="read")
    assert client.post("/api/v1/calendar-feed/").status_code == 403
    assert client.get("/api/v1/calendar-feed/").status_code == 200
