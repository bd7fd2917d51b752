"""Telephony: the caller lookup (any number format → E.164 → people, companies, open deals, as the token's user
may see them), call logging from a signed telephony integration or an API token (a done call activity on the
matching person and company; an unknown number logged on nothing, or a new lead when asked), click-to-call
links (tel:, or the installation's dialer URL template) wherever phones show."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook

from rapport.activities.models import Activity, ActivityLink
from rapport.contacts.models import Person
from rapport.integrations import services

from .conftest import write


@pytest.fixture
def ada(users, company):
    return write(
        "people",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": company.pk,
            "phones": [{"number": "+44 20 7946 0018", "kind": "work"}],
        },
        actor=users["member"],
    )


@pytest.fixture
def deal(users, company, ada):
    return write(
        "deals",
        {"title": "Acme 20 seats", "company": company.pk, "amount": "2000", "currency": "GBP"},
        actor=users["member"],
    )


@pytest.mark.parametrize("number", ["+44 20 7946 0018", "+442079460018", "0044 20 7946 0018", "(+44) 20-7946-0018"])
def test_lookup_reads_any_format(users, ada, deal, company, api_client_for, number):
    answer = api_client_for(users["peer"]).get("/api/v1/telephony/lookup/", {"number": number})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["number"], body["display"]) == ("+442079460018", "+44 20 7946 0018")
    assert body["people"] == [
        {
            "id": ada.pk,
            "name": "Ada Lovelace",
            "url": f"/people/{ada.pk}/",
            "company": {"id": company.pk, "name": "Acme"},
        }
    ]
    assert [c["id"] for c in body["companies"]] == [company.pk]
    assert [(d["id"], d["amount"], d["currency"]) for d in body["deals"]] == [(deal.pk, "2000.00", "GBP")]


def test_lookup_respects_visibility_and_refuses_garbage(users, ada, deal, api_client_for):
    outsider = api_client_for(users["outsider"]).get("/api/v1/telephony/lookup/", {"number": "+442079460018"})
    assert outsider.json() == {
        "number": "+442079460018",
        "display": "+44 20 7946 0018",
        "people": [],
        "companies": [],
        "deals": [],
    }
    bad = api_client_for(users["peer"]).get("/api/v1/telephony/lookup/", {"number": "not a number"})
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["number"]
    assert api_client_for(users["peer"]).get("/api/v1/telephony/lookup/", {"phone": "1"}).status_code == 400
    assert Client().get("/api/v1/telephony/lookup/", {"number": "+442079460018"}).status_code == 401


def _signed(integration, secret, call, msg_id="call-1"):
    body = json.dumps(call)
    now = timezone.now()
    return Client().post(
        integration.inbound_path,
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID=msg_id,
        HTTP_WEBHOOK_TIMESTAMP=str(int(now.timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(secret).sign(msg_id, now, body),
    )


CALL = {
    "call_id": "pbx-991",
    "direction": "inbound",
    "number": "020 7946 0018",  # national format: read in the installation's region (GB in tests)
    "started_at": "2026-11-30T09:15:00Z",
    "duration_seconds": 125,
    "outcome": "answered",
    "recording_url": "https://pbx.example/rec/991.mp3",
    "agent": "peer",
}


def test_signed_call_is_logged_on_the_person_and_company(users, ada, company, settings):
    settings.PHONE_DEFAULT_REGION = "GB"
    row, secret = services.create_integration({"name": "PBX", "kind": "telephony"}, actor=users["admin"])
    answer = _signed(row, secret, CALL)
    assert answer.status_code == 200, answer.json()
    call = Activity.objects.get(kind="call")
    assert answer.json()["records"] == [{"type": "activities", "id": call.pk, "action": "logged"}]
    assert (call.subject, call.duration_minutes, call.outcome, call.done) == (
        "Call from Ada Lovelace",
        3,
        "connected",
        True,
    )
    assert (call.assignee_id, call.owner_id) == (users["peer"].pk, users["peer"].pk)
    assert call.start_at.isoformat() == "2026-11-30T09:15:00+00:00"
    assert "Incoming call from +44 20 7946 0018, 2 min 5 s." in call.body
    assert "[Recording](https://pbx.example/rec/991.mp3)" in call.body and "pbx-991" in call.body
    links = set(ActivityLink.objects.filter(activity=call).values_list("type_key", "record_id"))
    assert links == {("people", ada.pk), ("companies", company.pk)}
    # The PBX retries the same call: logged once.
    assert _signed(row, secret, CALL).json()["status"] == "duplicate"
    assert Activity.objects.filter(kind="call").count() == 1


def test_unknown_number_is_a_lead_only_when_the_admin_wants(users, settings):
    settings.PHONE_DEFAULT_REGION = "GB"
    row, secret = services.create_integration({"name": "PBX", "kind": "telephony"}, actor=users["admin"])
    stranger = {**CALL, "number": "+33 1 23 45 67 89", "agent": ""}
    answer = _signed(row, secret, stranger, "c1")
    assert answer.json()["message"] == "Call logged on no record."
    assert Person.objects.count() == 0
    services.update_integration(row, {"create_unknown_callers": True}, actor=users["admin"])
    answer = _signed(row, secret, stranger, "c2")
    lead = Person.objects.get()
    assert (
        lead.first_name,
        lead.last_name,
        lead.lifecycle_stage,
        lead.lead_status,
        lead.source,
        lead.primary_phone,
    ) == ("Caller", "+33 1 23 45 67 89", "lead", "new", "phone", "+33123456789")
    assert answer.json()["message"] == "Call logged on a new lead."
    call = Activity.objects.filter(kind="call").latest("id")
    assert set(ActivityLink.objects.filter(activity=call).values_list("type_key", "record_id")) == {("people", lead.pk)}
    bad = _signed(row, secret, {**CALL, "direction": "sideways", "recording_url": "ftp://x", "outcome": "meh"}, "c3")
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"direction", "recording_url", "outcome"}


def test_call_logged_with_an_api_token(users, ada, api_client_for):
    client = api_client_for(users["member"])
    body = {**CALL, "number": "+44 20 7946 0018", "direction": "outbound", "outcome": "voicemail", "agent": ""}
    answer = client.post("/api/v1/telephony/calls/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert answer.status_code == 201, answer.json()
    result = answer.json()
    call = Activity.objects.get(pk=result["activity"])
    assert (result["person"], call.subject, call.outcome, call.owner_id) == (
        ada.pk,
        "Call to Ada Lovelace",
        "left_voicemail",
        users["member"].pk,
    )
    again = client.post("/api/v1/telephony/calls/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert Activity.objects.filter(kind="call").count() == 1
    # Someone who may not see Ada logs the same number: it lands on no record (they would not see it).
    other = api_client_for(users["outsider"]).post("/api/v1/telephony/calls/", body, content_type="application/json")
    assert other.json()["person"] is None
    assert (
        api_client_for(users["member"])
        .post("/api/v1/telephony/calls/?create_unknown=maybe", body, content_type="application/json")
        .status_code
        == 400
    )


def test_click_to_call_on_pages_lists_and_custom_fields(users, ada, company, settings):
    from rapport.core.models import CustomField

    write("companies", {"phone": "+44 20 7946 0000"}, actor=users["member"], instance=company)
    CustomField.objects.create(record_type="people", key="mobile2", label="Second mobile", field_type="phone")
    write("people", {"custom": {"mobile2": "+44 7911 123456"}}, actor=users["member"], instance=ada)
    client = Client()
    client.force_login(users["member"])
    person_page = client.get(f"/people/{ada.pk}/").content.decode()
    assert 'href="tel:+442079460018"' in person_page and 'href="tel:+447911123456"' in person_page
    assert 'href="tel:+442079460000"' in client.get(f"/companies/{company.pk}/").content.decode()
    assert 'href="tel:+442079460018"' in client.get("/people/").content.decode()
    assert 'href="tel:+442079460000"' in client.get("/companies/", {"columns": "name,phone"}).content.decode()

    settings.RAPPORT_DIALER_URL = "https://pbx.example.com/call?to={number}&from=crm"
    page = client.get(f"/people/{ada.pk}/").content.decode()
    assert 'href="https://pbx.example.com/call?to=%2B442079460018&amp;from=crm"' in page
    settings.RAPPORT_DIALER_URL = "sip:{digits}@pbx.example.com"
    assert 'href="sip:442079460018@pbx.example.com"' in client.get("/people/").content.decode()
