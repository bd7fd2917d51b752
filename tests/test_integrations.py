"""Incoming webhooks: per-integration endpoints whose deliveries are signed per Standard Webhooks (signed here
by the official ``standardwebhooks`` package), time-stamped (5 minutes), refused when replayed or forged,
idempotent by delivery id, mapped onto records through the write services as the integration's service user;
the settings API and pages (secret shown once, rotation with a grace period, the delivery log)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time
from standardwebhooks import Webhook

from rapport.accounts.models import User
from rapport.contacts.models import Company
from rapport.core.models import AuditEntry, Event
from rapport.integrations import services
from rapport.integrations.models import InboundDelivery, Integration

from .conftest import write


@pytest.fixture
def integration(users) -> tuple[Integration, str]:
    return services.create_integration({"name": "ERP sync", "kind": "generic"}, actor=users["admin"])


def post(
    integration: Integration,
    secret: str,
    payload: Any,
    *,
    msg_id: str = "msg_1",
    at: dt.datetime | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    body = json.dumps(payload)
    moment = at or timezone.now()
    signed = {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(moment.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, moment, body),
    }
    if headers is not None:
        signed = headers
    return Client().post(integration.inbound_path, body, content_type="application/json", **signed)


COMPANY = {
    "event": "erp.customer",
    "type": "companies",
    "match": {"domain": "globex.example"},
    "data": {"name": "Globex", "domain": "globex.example", "industry": "Manufacturing"},
}


def test_secret_is_not_stored_and_signs_standard_webhooks(integration, settings):
    row, secret = integration
    assert secret.startswith("whsec_") and secret not in json.dumps(list(Integration.objects.values()), default=str)
    assert row.secret_hint == secret[-4:]
    assert services.secret_for(row.secret_salt) == secret
    # The key is the server's: another RAPPORT_SECRET_KEY gives another secret from the same row.
    settings.SECRET_KEY = "another key entirely, at least fifty characters long for django's check"
    assert services.secret_for(row.secret_salt) != secret


def test_signed_delivery_creates_then_updates_through_the_write_path(integration, users):
    row, secret = integration
    answer = post(row, secret, COMPANY)
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    company = Company.objects.get(domain="globex.example")
    assert body["status"] == "processed" and body["event_type"] == "erp.customer"
    assert body["records"] == [{"type": "companies", "id": company.pk, "action": "created"}]
    created = Event.objects.get(type_key="companies", record_id=company.pk, kind="created")
    assert (created.actor_id, created.source) == (row.service_user_id, "api")
    assert company.owner_id == row.service_user_id  # written as the integration's own user

    # Another delivery matching by domain updates the same company; a third sending the same values changes nothing.
    answer = post(row, secret, {**COMPANY, "data": {"industry": "Robotics"}}, msg_id="msg_2")
    assert answer.json()["records"] == [{"type": "companies", "id": company.pk, "action": "updated"}]
    company.refresh_from_db()
    assert (company.industry, company.version) == ("Robotics", 2)
    answer = post(row, secret, {**COMPANY, "data": {"industry": "Robotics"}}, msg_id="msg_3")
    assert answer.json()["records"][0]["action"] == "unchanged"
    assert InboundDelivery.objects.filter(integration=row, status="processed").count() == 3


def test_same_delivery_id_is_processed_once(integration):
    row, secret = integration
    first = post(row, secret, COMPANY, msg_id="msg_dup")
    again = post(row, secret, COMPANY, msg_id="msg_dup")  # the sender retries after a lost answer
    assert first.json()["status"] == "processed"
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["records"] == first.json()["records"]
    assert Company.objects.filter(domain="globex.example").count() == 1
    assert Event.objects.filter(type_key="companies").count() == 1
    assert InboundDelivery.objects.get(delivery_id="msg_dup").attempts == 1


def test_forged_missing_and_stale_signatures_are_refused(integration):
    row, secret = integration
    other_secret = services.secret_for("not this integration's salt")
    forged = post(row, other_secret, COMPANY)
    assert forged.status_code == 401 and list(forged.json()["fields"]) == ["webhook-signature"]
    # A body changed after signing.
    now = timezone.now()
    body = json.dumps(COMPANY)
    headers = {
        "HTTP_WEBHOOK_ID": "msg_x",
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign("msg_x", now, body),
    }
    tampered = Client().post(
        row.inbound_path, body.replace("Globex", "Evil"), content_type="application/json", **headers
    )
    assert tampered.status_code == 401
    missing = post(row, secret, COMPANY, headers={"HTTP_WEBHOOK_ID": "msg_y"})
    assert missing.status_code == 401
    assert set(missing.json()["fields"]) == {"webhook-timestamp", "webhook-signature"}
    # A genuine delivery replayed six minutes later (or with a clock six minutes ahead) is refused.
    old = post(row, secret, COMPANY, msg_id="msg_old", at=now - dt.timedelta(minutes=6))
    assert old.status_code == 401 and list(old.json()["fields"]) == ["webhook-timestamp"]
    ahead = post(row, secret, COMPANY, msg_id="msg_new", at=now + dt.timedelta(minutes=6))
    assert ahead.status_code == 401
    within = post(row, secret, COMPANY, msg_id="msg_ok", at=now - dt.timedelta(minutes=4, seconds=50))
    assert within.status_code == 200
    # Nothing refused was stored or written.
    assert list(InboundDelivery.objects.values_list("delivery_id", flat=True)) == ["msg_ok"]
    assert Company.objects.count() == 1
    # An unknown slug is a 404 in the API's error shape.
    assert Client().post("/api/v1/integrations/nope/inbound/", "{}", content_type="application/json").status_code == 404


def test_refused_payload_names_the_field_is_logged_and_may_be_sent_again(integration):
    row, secret = integration
    bad = {"type": "companies", "data": {"name": "", "size_band": "huge"}}
    answer = post(row, secret, bad, msg_id="msg_bad")
    assert answer.status_code == 400
    assert set(answer.json()["fields"]) == {"data.name", "data.size_band"}
    logged = InboundDelivery.objects.get(delivery_id="msg_bad")
    assert (logged.status, logged.http_status, set(logged.fields)) == ("failed", 400, {"data.name", "data.size_band"})
    assert Company.objects.count() == 0
    # The sender fixes the payload and sends the same delivery id again: it is processed now.
    fixed = post(row, secret, {"type": "companies", "data": {"name": "Initech"}}, msg_id="msg_bad")
    assert fixed.status_code == 200 and fixed.json()["status"] == "processed"
    logged.refresh_from_db()
    assert (logged.status, logged.attempts, logged.fields) == ("processed", 2, {})

    for payload, field in [
        ({"type": "widgets", "data": {}}, "type"),
        ({"type": "companies", "match": {"colour": "red"}, "data": {}}, "match.colour"),
        ({"type": "companies", "action": "explode"}, "action"),
        ({"type": "companies", "data": {"name": "X"}, "extra": 1}, "extra"),
        ({"records": []}, "records"),
        (
            {"records": [{"type": "companies", "data": {"name": "A"}}, {"type": "companies", "data": {"name": ""}}]},
            "records[1].data.name",
        ),
    ]:
        answer = post(row, secret, payload, msg_id=f"msg_{field}")
        assert answer.status_code == 400, payload
        assert field in answer.json()["fields"], (payload, answer.json())
    # All or none: the first entry of the refused batch was not written.
    assert not Company.objects.filter(name="A").exists()
    not_json = Client().post(
        row.inbound_path,
        "{nope",
        content_type="application/json",
        HTTP_WEBHOOK_ID="m",
        HTTP_WEBHOOK_TIMESTAMP=str(int(timezone.now().timestamp())),
        HTTP_WEBHOOK_SIGNATURE=Webhook(secret).sign("m", timezone.now(), "{nope"),
    )
    assert not_json.status_code == 400 and list(not_json.json()["fields"]) == ["body"]


def test_visibility_of_the_service_user_applies(users):
    # A service user with the member role (team East) cannot see another team's company: matching it by id is
    # answered as if it did not exist, and links to it are refused like any other invisible record.
    from rapport.accounts.models import Role

    row, secret = services.create_integration(
        {"name": "Scoped", "role": Role.objects.get(key="member")}, actor=users["admin"]
    )
    row.service_user.team = users["member"].team
    row.service_user.save()
    west = write("companies", {"name": "Westco"}, actor=users["outsider"])
    answer = post(
        row, secret, {"type": "companies", "action": "update", "match": {"id": west.pk}, "data": {"name": "Taken"}}
    )
    assert answer.status_code == 404 and list(answer.json()["fields"]) == ["match"]
    answer = post(row, secret, {"type": "people", "data": {"first_name": "Ann", "company": west.pk}}, msg_id="msg_2")
    assert answer.status_code == 400 and answer.json()["fields"] == {
        "data.company": [f"There is no company #{west.pk}."]
    }


def test_rotation_keeps_the_old_secret_for_a_day(integration, users):
    row, old = integration
    new = services.rotate_secret(row, actor=users["admin"])
    assert new != old
    assert post(row, new, COMPANY, msg_id="a").status_code == 200
    assert post(row, old, {**COMPANY, "data": {"industry": "X"}}, msg_id="b").status_code == 200
    with freeze_time(timezone.now() + dt.timedelta(hours=25)):
        assert post(row, old, COMPANY, msg_id="c").status_code == 401
        assert post(row, new, COMPANY, msg_id="d").status_code == 200


def test_switched_off_integration_refuses(integration, users):
    row, secret = integration
    services.update_integration(row, {"active": False}, actor=users["admin"])
    answer = post(row, secret, COMPANY)
    assert answer.status_code == 403 and "switched off" in answer.json()["message"]
    assert not InboundDelivery.objects.exists()


def test_settings_api_shows_the_secret_once_and_is_for_administrators(users, api_client_for):
    admin = api_client_for(users["admin"])
    created = admin.post(
        "/api/v1/integrations/", {"name": "Billing", "kind": "invoiceninja"}, content_type="application/json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["inbound_url"] == "/api/v1/integrations/billing/inbound/"
    assert body["secret_hint"] == "…" + body["secret"][-4:]
    read = admin.get(f"/api/v1/integrations/{body['id']}/").json()
    assert "secret" not in read
    assert admin.get("/api/v1/integrations/").json()["results"][0]["slug"] == "billing"
    again = admin.post("/api/v1/integrations/", {"name": "Other", "slug": "billing"}, content_type="application/json")
    assert again.status_code == 400 and list(again.json()["fields"]) == ["slug"]
    fixed = admin.patch(f"/api/v1/integrations/{body['id']}/", {"kind": "generic"}, content_type="application/json")
    assert fixed.status_code == 400 and list(fixed.json()["fields"]) == ["kind"]
    renamed = admin.patch(f"/api/v1/integrations/{body['id']}/", {"name": "Invoicing"}, content_type="application/json")
    assert renamed.json()["name"] == "Invoicing"
    rotated = admin.post(f"/api/v1/integrations/{body['id']}/rotate-secret/")
    assert rotated.status_code == 200 and rotated.json()["secret"] != body["secret"]
    assert admin.get(f"/api/v1/integrations/{body['id']}/deliveries/?status=failed").json()["results"] == []
    assert admin.get(f"/api/v1/integrations/{body['id']}/deliveries/?colour=1").status_code == 400
    assert api_client_for(users["member"]).get("/api/v1/integrations/").status_code == 403
    kinds = list(AuditEntry.objects.filter(kind="integration").order_by("id").values_list("action", flat=True))
    assert kinds == ["created", "changed", "changed"]
    assert "whsec_" not in json.dumps(list(AuditEntry.objects.values("changes")))
    assert admin.delete(f"/api/v1/integrations/{body['id']}/").status_code == 204
    service_user = Integration.objects.filter(pk=body["id"]).first()
    assert service_user is None
    # the deleted one's service user stays (deactivated): the same slug again gets the next free username
    remade = admin.post(
        "/api/v1/integrations/", {"name": "Billing", "slug": "billing"}, content_type="application/json"
    )
    assert remade.status_code == 201, remade.json()
    usernames = sorted(
        User.objects.filter(username__startswith="integration-billing").values_list("username", "is_active")
    )
    assert usernames == [("integration-billing", False), ("integration-billing-2", True)]


def test_settings_pages_show_the_secret_once(users):
    client = Client()
    client.force_login(users["admin"])
    answer = client.post("/settings/integrations/new/", {"name": "PBX", "kind": "telephony", "active": "on"})
    row = Integration.objects.get(name="PBX")
    assert answer.status_code == 302 and answer["Location"] == f"/settings/integrations/{row.pk}/"
    page = client.get(answer["Location"]).content.decode()
    secret = services.secret_for(row.secret_salt)
    assert secret in page and "shown this once" in page
    assert secret not in client.get(answer["Location"]).content.decode()
    post(row, secret, {"direction": "inbound", "number": "garbage"}, msg_id="call-1")
    page = client.get(f"/settings/integrations/{row.pk}/?state=failed").content.decode()
    assert "call-1" in page and "Failed (400)" in page and "number" in page
    assert "PBX" in client.get("/settings/integrations/").content.decode()
    member = Client()
    member.force_login(users["member"])
    assert member.get("/settings/integrations/").status_code == 403
