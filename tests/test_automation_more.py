"""Workflow rules, continued: time-based triggers (a date reached with an offset, a record idle), the webhook
action to a real receiver, and the API (typed answers checked against the schema by the suite, permissions,
errors naming the field, the dry run and the run log)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from rapport.accounts.models import User
from rapport.automation import engine
from rapport.automation.models import Rule, RuleRun
from rapport.automation.tasks import run_time_rules
from rapport.core import customfields
from rapport.core.models import AuditEntry, Event

from .conftest import write
from .test_automation import rule, runs, settle
from .test_webhooks import Receiver, receiver, subscribe  # noqa: F401 - the fixture

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


# --- time-based triggers ---------------------------------------------------------------------------------------------


def test_date_reached_with_an_offset_runs_once_per_date(users: dict[str, User]) -> None:
    with freeze_time(T0):
        r = rule(
            users["admin"],
            type_key="deals",
            trigger="date_reached",
            trigger_config={"field": "expected_close_date", "offset_days": -3},
            actions=[{"type": "add_tags", "params": {"tags": ["closing-soon"]}}],
        )
        soon = write("deals", {"title": "Soon", "expected_close_date": "2026-12-04"}, actor=users["member"])
        later = write("deals", {"title": "Later", "expected_close_date": "2026-12-10"}, actor=users["member"])
        past = write("deals", {"title": "Past", "expected_close_date": "2026-11-01"}, actor=users["member"])
        settle()
    with freeze_time(T0 + timedelta(days=1)):  # Dec 1: Dec 4 is 3 days away
        assert run_time_rules() == 1
        settle()
    with freeze_time(T0 + timedelta(days=1, hours=2)):
        assert run_time_rules() == 0  # nothing new reached
    with freeze_time(T0 + timedelta(days=7)):  # Dec 7: Dec 10 is 3 days away
        assert run_time_rules() == 1
        settle()
    for deal in (soon, later, past):
        deal.refresh_from_db()
    assert (soon.tags, later.tags, past.tags) == (["closing-soon"], ["closing-soon"], [])
    assert [(run.record_id, run.key) for run in runs(r)] == [
        (soon.pk, f"date:{soon.pk}:2026-12-04"),
        (later.pk, f"date:{later.pk}:2026-12-10"),
    ]


def test_date_reached_on_a_custom_date_field_with_conditions(users: dict[str, User]) -> None:
    customfields.create_field("people", "renewal", {"label": "Renewal", "field_type": "date"}, actor=users["admin"])
    with freeze_time(T0):
        r = rule(
            users["admin"],
            trigger="date_reached",
            trigger_config={"field": "cf_renewal", "offset_days": 0},
            conditions="lifecycle_stage=customer",
            actions=[{"type": "add_tags", "params": {"tags": ["renewal-due"]}}],
        )
        due = write("people", {"first_name": "A", "lifecycle_stage": "customer", "custom": {"renewal": "2026-12-02"}},
                    actor=users["member"])  # fmt: skip
        lead = write("people", {"first_name": "B", "custom": {"renewal": "2026-12-02"}}, actor=users["member"])
    with freeze_time(T0 + timedelta(days=2)):
        assert run_time_rules() == 1
        settle()
    assert [run.record_id for run in runs(r)] == [due.pk]
    lead.refresh_from_db()
    assert lead.tags == []


def test_idle_for_some_days(users: dict[str, User]) -> None:
    with freeze_time(T0):
        r = rule(
            users["admin"],
            trigger="idle",
            trigger_config={"days": 14},
            actions=[{"type": "notify", "params": {"recipients": ["owner"], "title": "{record} went quiet"}}],
        )
        quiet = write("people", {"first_name": "Quiet"}, actor=users["member"])
    with freeze_time(T0 + timedelta(days=10)):
        busy = write("people", {"first_name": "Busy"}, actor=users["member"])
        assert run_time_rules() == 0
    with freeze_time(T0 + timedelta(days=15)):
        assert run_time_rules() == 1  # Quiet was last changed 15 days ago; Busy 5
        settle()
    with freeze_time(T0 + timedelta(days=16)):
        assert run_time_rules() == 0  # once per quiet spell
    assert [run.record_id for run in runs(r)] == [quiet.pk]
    assert busy.pk != quiet.pk


def test_a_time_rule_switched_on_does_not_fire_for_dates_already_past(users: dict[str, User]) -> None:
    with freeze_time(T0):
        write("deals", {"title": "Old", "expected_close_date": "2026-11-15"}, actor=users["member"])
        r = rule(users["admin"], type_key="deals", trigger="date_reached",
                 trigger_config={"field": "expected_close_date"},
                 actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])  # fmt: skip
    with freeze_time(T0 + timedelta(hours=1)):
        assert run_time_rules() == 0
    assert runs(r) == []


# --- the webhook action -------------------------------------------------------------------------------------------


def test_call_webhook_sends_the_record_signed_to_a_real_receiver(receiver: Receiver, users: dict[str, User]) -> None:  # noqa: F811
    from rapport.webhooks import services as webhooks

    subscription = subscribe(receiver, users["admin"], event_types=["deleted"])  # not for created events
    r = rule(
        users["admin"],
        name="Tell the ERP",
        actions=[{"type": "call_webhook", "params": {"subscription": subscription.pk}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    settle()
    assert webhooks.send_due() == 1
    (got,) = receiver.received
    assert got["verified"] is not None  # the standardwebhooks package checked the signature
    payload = json.loads(got["body"])
    (run,) = runs(r)
    assert payload["type"] == "automation.rule"
    assert payload["data"]["rule"] == {"id": r.pk, "name": "Tell the ERP"}
    assert payload["data"]["run_id"] == run.pk
    assert payload["data"]["record"]["id"] == person.pk
    assert payload["data"]["record"]["first_name"] == "Ada"


# --- API --------------------------------------------------------------------------------------------------------------

RULE_BODY = {
    "name": "Welcome",
    "type_key": "people",
    "trigger": "created",
    "conditions": "lifecycle_stage=lead",
    "actions": [{"type": "add_tags", "params": {"tags": ["welcome"]}}],
}


def test_api_create_read_change_switch_and_delete(users: dict[str, User], api_client_for: Any) -> None:
    admin = api_client_for(users["admin"])
    made = admin.post("/api/v1/automation/rules/", RULE_BODY, content_type="application/json")
    assert made.status_code == 201, made.content
    body = made.json()
    assert made["Location"] == f"/api/v1/automation/rules/{body['id']}/"
    assert body["active"] is False and body["actions"] == RULE_BODY["actions"]
    assert body["created_by"] == {"id": users["admin"].pk, "name": users["admin"].display_name}
    assert AuditEntry.objects.filter(kind="automation_rule", action="created").count() == 1

    member = api_client_for(users["member"])
    listed = member.get("/api/v1/automation/rules/").json()["results"]
    assert [(r["name"], r["shipped"]) for r in listed] == [
        ("Overdue invoice: a task for the account owner", "invoice_overdue"),  # every installation has it
        ("Welcome", None),
    ]
    refused = member.patch(f"/api/v1/automation/rules/{body['id']}/", {"active": True}, content_type="application/json")
    assert refused.status_code == 403
    assert member.get(f"/api/v1/automation/rules/{body['id']}/runs/").status_code == 403

    on = admin.patch(f"/api/v1/automation/rules/{body['id']}/", {"active": True}, content_type="application/json")
    assert on.status_code == 200 and on.json()["active"] is True
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    person.refresh_from_db()
    assert person.tags == ["welcome"]
    log = admin.get(f"/api/v1/automation/rules/{body['id']}/runs/").json()["results"]
    assert [(r["record_id"], r["status"], r["outcomes"][0]["message"]) for r in log] == [
        (person.pk, "succeeded", "Added welcome.")
    ]
    assert admin.get(f"/api/v1/automation/rules/{body['id']}/runs/?status=failed").json()["results"] == []
    assert admin.get("/api/v1/automation/rules/?active=true&type_key=people").json()["results"][0]["id"] == body["id"]
    assert admin.get("/api/v1/automation/rules/?type_key=deals").json()["results"] == []

    assert admin.delete(f"/api/v1/automation/rules/{body['id']}/").status_code == 204
    assert not Rule.objects.filter(shipped=None).exists() and not RuleRun.objects.exists()
    assert admin.get(f"/api/v1/automation/rules/{body['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"conditions": "colour=red"}, "conditions"),
        ({"type_key": "spaceships"}, "type_key"),
        ({"trigger": "sometimes"}, "trigger"),
        ({"actions": [{"type": "add_tags", "params": {"tags": []}}]}, "actions[0].params.tags"),
        ({"actions": [{"type": "add_tags", "params": {"tags": ["x"], "colour": 1}}]}, "actions[0].params.colour"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_api_refuses_a_bad_rule_naming_the_field(
    users: dict[str, User], api_client_for: Any, change: dict[str, Any], field: str
) -> None:
    admin = api_client_for(users["admin"])
    answer = admin.post("/api/v1/automation/rules/", {**RULE_BODY, **change}, content_type="application/json")
    assert answer.status_code == 400
    assert field in answer.json()["fields"], answer.json()
    assert not Rule.objects.filter(shipped=None).exists()


def test_api_dry_run_writes_nothing_and_sees_only_visible_records(users: dict[str, User], api_client_for: Any) -> None:
    admin = api_client_for(users["admin"])
    rule_id = admin.post("/api/v1/automation/rules/", RULE_BODY, content_type="application/json").json()["id"]
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    events = Event.objects.count()
    answer = admin.post(f"/api/v1/automation/rules/{rule_id}/dry-run/", {"record_id": person.pk},
                        content_type="application/json")  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {
        "conditions": {"met": True, "error": ""},
        "actions": [{"action": "add_tags", "label": "Add tags", "status": "done", "message": "Added welcome."}],
        "changes": [{"record_type": "people", "record_id": person.pk, "record_title": "Ada", "kind": "updated",
                     "changes": {"tags": [[], ["welcome"]]}}],
    }  # fmt: skip
    assert Event.objects.count() == events
    person.refresh_from_db()
    assert person.tags == []
    missing = admin.post(f"/api/v1/automation/rules/{rule_id}/dry-run/", {"record_id": 999999},
                         content_type="application/json")  # fmt: skip
    assert missing.status_code == 400 and missing.json()["fields"] == {"record_id": ["There is no person #999999."]}
    bad = admin.post(
        f"/api/v1/automation/rules/{rule_id}/dry-run/", {"record_id": "x"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "record_id" in bad.json()["fields"]
    member = api_client_for(users["member"])
    assert member.post(f"/api/v1/automation/rules/{rule_id}/dry-run/", {"record_id": person.pk},
                       content_type="application/json").status_code == 403  # fmt: skip


def test_api_lists_the_actions_and_refuses_unknown_parameters(users: dict[str, User], api_client_for: Any) -> None:
    member = api_client_for(users["member"])
    keys = [a["key"] for a in member.get("/api/v1/automation/actions/").json()["actions"]]
    assert keys[:8] == ["update_fields", "assign_owner", "create_activity", "notify", "send_email", "add_tags",
                        "remove_tags", "call_webhook"]  # fmt: skip
    answer = member.get("/api/v1/automation/rules/?colour=red")
    assert answer.status_code == 400 and "colour" in answer.json()["fields"]
    assert member.get("/api/v1/automation/rules/?active=maybe").status_code == 400
