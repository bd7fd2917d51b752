"""Settings → Email suppressions and /api/v1/email-suppressions/: the addresses no email goes to, seen and
changed by settings managers only, every change in the audit trail; and the audit trail of mailboxes and of
Settings → Mail privacy (settings writes that left no trace before)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rapport.compose import suppression
from rapport.compose.models import Suppression
from rapport.core.models import AuditEntry
from rapport.mail import services as mail_services
from rapport.mail.models import Mailbox

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def trail(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.action, e.object_label, e.changes) for e in AuditEntry.objects.filter(kind=kind).order_by("id")]


def test_settings_managers_see_add_search_and_remove_suppressed_addresses(users: dict[str, Any]) -> None:
    admin = client_for(users["admin"])
    suppression.suppress("left@example.com", reason="unsubscribed")  # by the person, through the link
    added = admin.post("/settings/email-suppressions/", {"address": " Bounce@Example.COM ", "detail": "asked by phone"})
    assert added.status_code == 302
    page = admin.get("/settings/email-suppressions/").content.decode()
    assert "bounce@example.com" in page and "Added by hand" in page and "asked by phone" in page
    assert "left@example.com" in page and "Unsubscribed" in page and "Automatic" in page
    found = admin.get("/settings/email-suppressions/?q=BOUNCE").content.decode()
    assert "bounce@example.com" in found and "left@example.com" not in found
    again = admin.post("/settings/email-suppressions/", {"address": "bounce@example.com"}, follow=True)
    assert "was on the list already" in again.content.decode()
    bad = admin.post("/settings/email-suppressions/", {"address": "not an address"})
    assert bad.status_code == 200 and Suppression.objects.count() == 2
    assert admin.get("/settings/email-suppressions/?q=a%00b").status_code == 400
    entry = Suppression.objects.get(address="bounce@example.com")
    assert admin.post(f"/settings/email-suppressions/{entry.pk}/remove/").status_code == 302
    assert list(Suppression.objects.values_list("address", flat=True)) == ["left@example.com"]
    assert trail("email_suppression") == [
        ("created", "bounce@example.com",
         {"address": [None, "bounce@example.com"], "detail": [None, "asked by phone"], "reason": [None, "manual"]}),
        ("deleted", "bounce@example.com",
         {"address": ["bounce@example.com", None], "detail": ["asked by phone", None], "reason": ["manual", None]}),
    ]  # fmt: skip
    member = client_for(users["member"])
    assert member.get("/settings/email-suppressions/").status_code == 403
    assert member.post(f"/settings/email-suppressions/{Suppression.objects.get().pk}/remove/").status_code == 403
    assert Suppression.objects.count() == 1


def test_the_suppression_api(users: dict[str, Any], api_client_for: Any) -> None:
    admin = api_client_for(users["admin"])
    suppression.suppress("left@example.com", reason="unsubscribed")

    def post(data: dict[str, Any]) -> Any:
        return admin.post("/api/v1/email-suppressions/", json.dumps(data), content_type="application/json")

    created = post({"address": "Bounce@Example.com"})
    assert created.status_code == 201 and created.json()["address"] == "bounce@example.com"
    assert created["Location"] == created.json()["url"] and created.json()["created_by"] == users["admin"].pk
    assert post({"address": "bounce@example.com"}).status_code == 200  # already there: the same entry
    refused = post({"address": "nobody"})
    assert refused.status_code == 400 and "address" in refused.json()["fields"]
    listed = admin.get("/api/v1/email-suppressions/").json()["results"]
    assert [(e["address"], e["reason"], e["created_by"]) for e in listed] == [
        ("bounce@example.com", "manual", users["admin"].pk),
        ("left@example.com", "unsubscribed", None),
    ]
    assert [e["address"] for e in admin.get("/api/v1/email-suppressions/?q=left").json()["results"]] == [
        "left@example.com"
    ]
    member = api_client_for(users["member"])
    assert member.get("/api/v1/email-suppressions/").status_code == 403
    pk = created.json()["id"]
    assert member.delete(f"/api/v1/email-suppressions/{pk}/").status_code == 403
    assert admin.delete(f"/api/v1/email-suppressions/{pk}/").status_code == 204
    assert admin.delete(f"/api/v1/email-suppressions/{pk}/").status_code == 404
    assert [a for a, _, _ in trail("email_suppression")] == ["created", "deleted"]


def test_mailbox_and_mail_privacy_changes_are_in_the_audit_trail(users: dict[str, Any]) -> None:
    admin = users["admin"]
    data = {"name": "Sales", "address": "sales@rapport.test", "imap_host": "imap.example.com", "imap_port": 993,
            "imap_security": "ssl", "username": "sales@rapport.test", "secret": "hunter2-secret", "shared": True}
    box = mail_services.save_mailbox(None, data, actor=admin)  # fmt: skip
    mail_services.save_mailbox(box, {"imap_port": 1993, "secret": "new-secret-2"}, actor=admin)
    mail_services.save_mailbox(box, {"imap_port": 1993}, actor=admin)  # nothing changed: no entry
    mail_services.delete_mailbox(Mailbox.objects.get(pk=box.pk), actor=admin)
    entries = trail("mailbox")
    assert [(action, label) for action, label, _ in entries] == [
        ("created", "Sales <sales@rapport.test>"), ("changed", "Sales <sales@rapport.test>"),
        ("deleted", "Sales <sales@rapport.test>"),
    ]  # fmt: skip
    assert entries[0][2]["imap_host"] == [None, "imap.example.com"] and entries[0][2]["shared"] == [None, True]
    assert entries[1][2] == {"imap_port": [993, 1993], "secret": [None, "changed"]}
    assert "hunter2-secret" not in json.dumps([e[2] for e in entries]) and "new-secret" not in json.dumps(entries)
    ignored = mail_services.add_ignored_address("gmail.com", actor=admin)
    mail_services.add_ignored_address("gmail.com", actor=admin)  # there already: no second entry
    mail_services.remove_ignored_address(ignored, actor=admin)
    assert trail("mail_ignored") == [
        ("created", "gmail.com", {"pattern": [None, "gmail.com"]}),
        ("deleted", "gmail.com", {"pattern": ["gmail.com", None]}),
    ]
