"""Rule runs done a batch at a time: a dispatch batch makes its runs with one INSERT, a batch of runs is claimed
together, a webhook action is done for all of a rule's runs at once (one read of the records, one INSERT of the
deliveries) in one transaction with their outcomes, and falls back to one run at a time if that fails."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.accounts.models import User
from rapport.automation import actions, engine
from rapport.automation.models import RuleRun
from rapport.jobs.events import dispatch_pending
from rapport.webhooks import services as webhooks
from rapport.webhooks.models import Delivery

from .conftest import write
from .test_automation import rule


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


def webhook_rule(users: dict[str, User], **extra: Any) -> Any:
    hook = webhooks.create_subscription(
        {"name": "ERP", "url": "https://hooks.example.com/in", "event_types": ["deleted"], "type_keys": ["deals"]},
        actor=users["admin"],
    )
    return rule(
        users["admin"],
        name="Tell the ERP",
        type_key="companies",
        actions=[*extra.pop("before", []), {"type": "call_webhook", "params": {"subscription": hook.pk}}],
        **extra,
    )


def test_a_batch_of_runs_makes_its_deliveries_together_in_order(users: dict[str, User]) -> None:
    r = webhook_rule(users, before=[{"type": "add_tags", "params": {"tags": ["told"]}}])
    companies = [write("companies", {"name": f"C{i}"}, actor=users["member"]) for i in range(30)]
    with CaptureQueriesContext(connection) as made:
        dispatch_pending()
    inserts = [q for q in made.captured_queries if 'INTO "automation_rulerun"' in q["sql"][:60]]
    assert len(inserts) == 1 and RuleRun.objects.filter(rule=r).count() == 30
    with CaptureQueriesContext(connection) as ran:
        assert engine.run_due() == 30
    runs = list(RuleRun.objects.filter(rule=r).order_by("id"))
    assert {run.status for run in runs} == {"succeeded"}
    assert [o["status"] for o in runs[0].outcomes] == ["done", "done"]
    assert runs[0].outcomes[1]["message"] == "Queued a delivery to ERP (https://hooks.example.com/in)."
    deliveries = list(Delivery.objects.order_by("id"))
    assert [d.record_id for d in deliveries] == [c.pk for c in companies]  # in run order: order per record holds
    assert deliveries[0].payload["data"]["record"]["tags"] == ["told"]  # the first action's change is in it
    assert deliveries[0].payload["data"]["run_id"] == runs[0].pk
    # The tags are written run by run (each its own transaction and event); the webhook action is done for the
    # thirty runs with a fixed number of statements: the per-run part is the tags action's.
    webhook_inserts = [q for q in ran.captured_queries if 'INTO "webhooks_delivery"' in q["sql"][:60]]
    assert len(webhook_inserts) == 1
    statements_per_run = len(ran.captured_queries) / 30
    assert statements_per_run < 16, statements_per_run


def test_a_batch_that_fails_is_done_one_run_at_a_time(users: dict[str, User], monkeypatch: Any) -> None:
    r = webhook_rule(users)
    for i in range(3):
        write("companies", {"name": f"C{i}"}, actor=users["member"])
    dispatch_pending()

    def broken(*args: Any) -> dict[int, str]:
        Delivery.objects.create(subscription_id=r.actions[0]["params"]["subscription"], message_id="x", payload={})
        raise RuntimeError("batch broke")

    action = actions.ACTIONS["call_webhook"]
    monkeypatch.setitem(actions.ACTIONS, "call_webhook", dataclasses.replace(action, batch_fn=broken))
    assert engine.run_due() == 3
    runs = list(RuleRun.objects.filter(rule=r))
    assert {(run.status, run.outcomes[0]["status"]) for run in runs} == {("succeeded", "done")}
    # The broken batch's writes were rolled back; each run made its own delivery.
    assert sorted(Delivery.objects.values_list("message_id", flat=True)).count("x") == 0
    assert Delivery.objects.count() == 3


def test_update_objects_writes_each_rows_own_values_in_one_statement(users: dict[str, User]) -> None:
    """core.bulk.update_objects (what the runs' and deliveries' ends are written with): each row gets its own
    values — text, JSON, a datetime, a null, a number — other columns and other rows are untouched."""
    import datetime as dt

    from rapport.core import bulk

    hook = webhooks.create_subscription(
        {"name": "ERP", "url": "https://hooks.example.com/in", "event_types": ["deleted"], "type_keys": ["deals"]},
        actor=users["admin"],
    )
    made = [
        Delivery.objects.create(subscription=hook, message_id=f"m{i}", event_type="ping", payload={"n": i})
        for i in range(4)
    ]
    first, second, third, untouched = made
    at = dt.datetime(2026, 11, 30, 19, 0, 5, 123456, tzinfo=dt.UTC)
    first.status, first.payload, first.next_attempt_at, first.attempts = "succeeded", {"n": "é", "l": [1]}, None, 1
    second.status, second.last_error, second.next_attempt_at, second.last_status_code = "pending", "no", at, 500
    third.last_error, third.attempts, third.event_type = "it's; -- quoted", 7, "not written"
    with CaptureQueriesContext(connection) as seen:
        assert (
            bulk.update_objects(
                Delivery,
                [first, second, third],
                ["status", "payload", "next_attempt_at", "attempts", "last_error", "last_status_code"],  # fmt: skip
            )
            == 3
        )
    assert len(seen.captured_queries) == 1
    rows = {d.message_id: d for d in Delivery.objects.all()}
    assert (rows["m0"].status, rows["m0"].payload, rows["m0"].next_attempt_at, rows["m0"].attempts) == (
        "succeeded", {"n": "é", "l": [1]}, None, 1)  # fmt: skip
    assert (rows["m1"].status, rows["m1"].last_error, rows["m1"].next_attempt_at, rows["m1"].last_status_code) == (
        "pending", "no", at, 500)  # fmt: skip
    assert (rows["m2"].last_error, rows["m2"].attempts, rows["m2"].event_type) == ("it's; -- quoted", 7, "ping")
    assert (rows["m3"].payload, rows["m3"].attempts, rows["m3"].last_error) == ({"n": 3}, 0, "")
    assert bulk.update_objects(Delivery, [], ["status"]) == 0
