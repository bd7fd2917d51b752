"""Workflow rules: each trigger and action, conditions (custom fields included) and "changed from/to", history
naming the rule, loop protection, retries and the run log, the dry run writing nothing, and the cost of rules
that do not match."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.accounts.models import Team, User
from rapport.activities.models import Activity, Notification, OutgoingEmail
from rapport.automation import engine, services
from rapport.automation.models import Rule, RuleRun
from rapport.automation.serializers import RuleSerializer
from rapport.core import customfields
from rapport.core.models import Event
from rapport.jobs.events import dispatch_pending
from rapport.web import display

from .conftest import default_pipeline, make_user, write


def rule(admin: User, **data: Any) -> Rule:
    """A rule saved through its serializer and service, switched on."""
    body = {"name": "Rule", "type_key": "people", "trigger": "created", "active": True, **data}
    serializer = RuleSerializer(data=body, context={"actor": admin})
    assert serializer.is_valid(), serializer.errors
    return services.create_rule(dict(serializer.validated_data), actor=admin)


def settle() -> None:
    """What the worker does: dispatch events to the consumers, run the rule runs, until nothing is left."""
    for _ in range(20):
        dispatched = dispatch_pending()
        ran = engine.run_due()
        if not dispatched and not ran:
            return
    raise AssertionError("rules kept triggering each other")


def runs(r: Rule) -> list[RuleRun]:
    return list(RuleRun.objects.filter(rule=r).order_by("id"))


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


# --- triggers ----------------------------------------------------------------------------------------------------


def test_created_rule_updates_a_field_and_history_names_the_rule(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        name="New leads are prospects",
        actions=[{"type": "update_fields", "params": {"values": {"job_title": "Prospect"}}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    settle()
    person.refresh_from_db()
    assert person.job_title == "Prospect"
    event = Event.objects.filter(type_key="people", record_id=person.pk).order_by("id").last()
    assert event is not None
    assert event.kind == "updated" and event.source == "automation" and event.actor_id is None
    assert event.changes == {"job_title": ["", "Prospect"]}
    (run,) = runs(r)
    assert event.request_id == f"rule-{r.pk}-run-{run.pk}"
    assert run.status == "succeeded" and run.outcomes[0]["status"] == "done"
    assert run.outcomes[0]["message"] == "Set job_title."
    assert display.actor_names([event]) == {event.pk: "automation: rule New leads are prospects"}


def test_history_on_the_detail_page_says_which_rule_changed_the_value(users: dict[str, User], client: Any) -> None:
    rule(
        users["admin"],
        name="Tag new people",
        actions=[{"type": "add_tags", "params": {"tags": ["new"]}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    settle()
    client.force_login(users["member"])
    # A person's page shows its history in the timeline's Changes tab; an activity's in its History card.
    timeline = client.get(f"/people/{person.pk}/timeline/?kind=changes").content.decode()
    assert "automation: rule Tag new people" in timeline
    rule(users["admin"], name="Tag tasks", type_key="activities",
         actions=[{"type": "add_tags", "params": {"tags": ["auto"]}}])  # fmt: skip
    task = write("activities", {"kind": "task", "subject": "Call back"}, actor=users["member"])
    settle()
    page = client.get(f"/activities/{task.pk}/").content.decode()
    assert "automation: rule Tag tasks" in page


def test_updated_rule_only_when_a_named_field_changes_to_a_value(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        trigger="updated",
        trigger_config={"fields": ["lifecycle_stage"], "value": "customer"},
        actions=[{"type": "add_tags", "params": {"tags": ["customer"]}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    write("people", {"job_title": "CTO"}, actor=users["member"], instance=person)  # another field
    write("people", {"lifecycle_stage": "opportunity"}, actor=users["member"], instance=person)  # another value
    settle()
    assert runs(r) == []
    person.refresh_from_db()
    write("people", {"lifecycle_stage": "customer"}, actor=users["member"], instance=person)
    settle()
    person.refresh_from_db()
    assert person.tags == ["customer"]
    assert [run.status for run in runs(r)] == ["succeeded"]


def test_deleted_rule_notifies_the_owner(users: dict[str, User]) -> None:
    from rapport.core import services as core

    rule(
        users["admin"],
        trigger="deleted",
        actions=[{"type": "notify", "params": {"recipients": ["owner"], "title": "{record} was deleted"}}],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    core.delete_record(person, actor=users["member"], source="ui")
    settle()
    (note,) = Notification.objects.filter(user=users["member"])
    assert note.title == "Ada Lovelace was deleted" and note.kind == "automation"
    assert note.body == f"/people/{person.pk}/"


def test_deal_triggers_stage_won_and_lost(users: dict[str, User]) -> None:
    from rapport.deals import services as deals
    from rapport.deals.models import LostReason

    pipeline = default_pipeline()
    stages = list(pipeline.stages.filter(kind="open").order_by("position"))
    second = stages[1]
    to_stage = rule(users["admin"], name="to stage", type_key="deals", trigger="stage_changed",
                    trigger_config={"stage": second.pk},
                    actions=[{"type": "add_tags", "params": {"tags": ["moved"]}}])  # fmt: skip
    won = rule(users["admin"], name="won", type_key="deals", trigger="won",
               actions=[{"type": "add_tags", "params": {"tags": ["won"]}}])  # fmt: skip
    lost = rule(users["admin"], name="lost", type_key="deals", trigger="lost",
                actions=[{"type": "add_tags", "params": {"tags": ["lost"]}}])  # fmt: skip
    a = write("deals", {"title": "A"}, actor=users["member"])
    b = write("deals", {"title": "B"}, actor=users["member"])
    deals.move_deal(a, second, actor=users["member"], source="ui")
    settle()
    a.refresh_from_db()
    assert a.tags == ["moved"]
    deals.mark_won(a, actor=users["member"], source="ui")
    deals.mark_lost(b, reason=LostReason.objects.first(), actor=users["member"], source="ui")
    settle()
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.tags == ["moved", "won"] and b.tags == ["lost"]
    # Winning moves the deal to the won stage: a stage change, but not to the rule's stage.
    assert [len(runs(x)) for x in (to_stage, won, lost)] == [1, 1, 1]


def test_activity_completed(users: dict[str, User]) -> None:
    from rapport.activities.services import complete_activity

    r = rule(
        users["admin"],
        type_key="activities",
        trigger="activity_completed",
        actions=[{"type": "add_tags", "params": {"tags": ["followed-up"]}}],
    )
    task = write("activities", {"kind": "task", "subject": "Call back"}, actor=users["member"])
    write("activities", {"kind": "note", "subject": "A note"}, actor=users["member"])  # notes are born done
    settle()
    assert runs(r) == []
    complete_activity(task, actor=users["member"], source="ui")
    settle()
    task.refresh_from_db()
    assert task.tags == ["followed-up"] and len(runs(r)) == 1


# --- conditions ----------------------------------------------------------------------------------------------------


def test_conditions_on_a_custom_field_and_a_plain_one(users: dict[str, User]) -> None:
    customfields.create_field(
        "people", "region", {"label": "Region", "field_type": "choice", "choices": ["EU", "US"]}, actor=users["admin"]
    )
    r = rule(
        users["admin"],
        conditions="cf_region=EU&lifecycle_stage=lead",
        actions=[{"type": "add_tags", "params": {"tags": ["eu-lead"]}}],
    )
    eu = write("people", {"first_name": "Eu", "custom": {"region": "EU"}}, actor=users["member"])
    us = write("people", {"first_name": "Us", "custom": {"region": "US"}}, actor=users["member"])
    customer = write(
        "people", {"first_name": "Cu", "custom": {"region": "EU"}, "lifecycle_stage": "customer"}, actor=users["member"]
    )
    settle()
    for p in (eu, us, customer):
        p.refresh_from_db()
    assert (eu.tags, us.tags, customer.tags) == (["eu-lead"], [], [])
    assert [run.record_id for run in runs(r)] == [eu.pk]


def test_changed_from_to_on_the_event_diff_including_a_custom_field(users: dict[str, User]) -> None:
    customfields.create_field(
        "people", "tier", {"label": "Tier", "field_type": "choice", "choices": ["gold", "silver"]}, actor=users["admin"]
    )
    r = rule(
        users["admin"],
        trigger="updated",
        changes=[{"field": "cf_tier", "from": "silver", "to": "gold"}],
        actions=[{"type": "add_tags", "params": {"tags": ["upgraded"]}}],
    )
    person = write("people", {"first_name": "Ada", "custom": {"tier": "silver"}}, actor=users["member"])
    other = write("people", {"first_name": "Bob"}, actor=users["member"])
    write("people", {"custom": {"tier": "gold"}}, actor=users["member"], instance=other)  # from nothing: no
    write("people", {"custom": {"tier": "gold"}}, actor=users["member"], instance=person)
    settle()
    assert [run.record_id for run in runs(r)] == [person.pk]


def test_rules_that_do_not_match_cost_no_query_per_event(users: dict[str, User]) -> None:
    for i in range(20):
        rule(users["admin"], name=f"r{i}", trigger="updated", trigger_config={"fields": ["job_title"]},
             actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])  # fmt: skip
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    write("people", {"last_name": "Lovelace"}, actor=users["member"], instance=person)
    event = Event.objects.filter(record_id=person.pk, kind="updated").get()
    engine.active_rules("people")  # the cache is warm in a running worker
    with CaptureQueriesContext(connection) as queries:
        assert engine.consume(event) == []
    assert len(queries) == 0


def test_conditions_of_all_candidate_rules_are_checked_in_one_query(users: dict[str, User]) -> None:
    for i in range(5):
        rule(users["admin"], name=f"r{i}", conditions=f"lifecycle_stage={'customer' if i else 'lead'}",
             actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])  # fmt: skip
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    event = Event.objects.get(record_id=person.pk, type_key="people", kind="created")
    engine.active_rules("people")
    with CaptureQueriesContext(connection) as queries:
        made = engine.consume(event)
    assert [run.rule.name for run in made] == ["r0"]
    # the conditions (1), the matched rules still on (1: the cache may be 2 s old), the parent run is not looked
    # up (not an automation event), the run INSERT (1)
    assert len(queries) == 3, [q["sql"] for q in queries]


# --- actions -------------------------------------------------------------------------------------------------------


def test_assign_owner_fixed_round_robin_and_least_loaded(users: dict[str, User], teams: dict[str, Team]) -> None:
    sales = Team.objects.create(name="Sales")
    ann = make_user("ann", "member", sales)
    bob = make_user("bob", "member", sales)
    cid = make_user("cid", "member", sales)
    rr = rule(users["admin"], name="rr", conditions="lead_status=new",
              actions=[{"type": "assign_owner", "params": {"mode": "round_robin", "team": sales.pk}}])  # fmt: skip
    made = [write("people", {"first_name": f"P{i}", "lead_status": "new"}, actor=users["admin"]) for i in range(4)]
    settle()
    owners = [type(p).objects.get(pk=p.pk).owner_id for p in made]
    assert owners == [ann.pk, bob.pk, cid.pk, ann.pk]
    assert len(runs(rr)) == 4

    # least loaded: ann has 2 people, bob 1, cid 1 → bob (fewest, then lowest id); then cid.
    rule(users["admin"], name="ll", conditions="lead_status=in_progress",
         actions=[{"type": "assign_owner", "params": {"mode": "least_loaded", "team": sales.pk}}])  # fmt: skip
    first = write("people", {"first_name": "L1", "lead_status": "in_progress"}, actor=users["admin"])
    settle()
    second = write("people", {"first_name": "L2", "lead_status": "in_progress"}, actor=users["admin"])
    settle()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.owner_id, second.owner_id) == (bob.pk, cid.pk)

    rule(users["admin"], name="fixed", conditions="lead_status=attempted",
         actions=[{"type": "assign_owner", "params": {"mode": "fixed", "user": ann.pk}}])  # fmt: skip
    third = write("people", {"first_name": "F", "lead_status": "attempted"}, actor=users["admin"])
    settle()
    third.refresh_from_db()
    assert third.owner_id == ann.pk and third.team_id == sales.pk


def test_create_task_relative_to_now_and_to_a_date_field(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        type_key="deals",
        actions=[
            {"type": "create_activity", "params": {"subject": "Call about {record}", "due_days": 2}},
            {
                "type": "create_activity",
                "params": {
                    "kind": "meeting",
                    "subject": "Review {title}",
                    "due_from": "expected_close_date",
                    "due_days": -7,
                },
            },
        ],  # fmt: skip
    )
    before = timezone.now()
    deal = write("deals", {"title": "Big one", "expected_close_date": "2027-03-31"}, actor=users["member"])
    settle()
    call, meeting = Activity.objects.order_by("id")
    assert call.kind == "task" and call.subject == "Call about Big one"
    assert call.assignee_id == users["member"].pk and call.owner_id == users["member"].pk
    assert before + timedelta(days=2) <= call.due_at <= timezone.now() + timedelta(days=2)
    assert [(link.type_key, link.record_id) for link in call.links.all()] == [("deals", deal.pk)]
    assert meeting.kind == "meeting" and meeting.subject == "Review Big one"
    assert meeting.start_at.isoformat() == "2027-03-24T00:00:00+00:00"
    assert Event.objects.get(type_key="activities", record_id=call.pk).source == "automation"
    assert [o["status"] for o in runs(r)[0].outcomes] == ["done", "done"]


def test_notify_only_users_who_may_see_the_record(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        actions=[{"type": "notify", "params": {
            "recipients": ["owner", str(users["outsider"].pk), str(users["peer"].pk)],
            "title": "New person: {record}", "body": "Say hello."}}],
    )  # fmt: skip
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    settle()
    got = {n.user_id: n for n in Notification.objects.all()}
    assert set(got) == {users["member"].pk, users["peer"].pk}  # the outsider is in another team
    assert got[users["peer"].pk].title == "New person: Ada Lovelace"
    assert got[users["peer"].pk].body == f"Say hello.\n/people/{person.pk}/"
    message = runs(r)[0].outcomes[0]["message"]
    assert message == "Notified Member, Peer. Not Outsider: they may not see this record."


def test_send_email_goes_through_the_outbox_without_the_email_app(users: dict[str, User], monkeypatch: Any) -> None:
    monkeypatch.setattr("rapport.automation.actions.compose_installed", lambda: False)
    users["member"].email = "member@example.com"
    users["member"].save()
    r = rule(
        users["admin"],
        actions=[{"type": "send_email", "params": {
            "to": ["record", "owner", "sales@example.com"],
            "subject": "Welcome {first_name}", "body": "Hello {record}"}}],
    )  # fmt: skip
    write("people", {"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@acme.com"]}, actor=users["member"])
    settle()
    sent = list(OutgoingEmail.objects.order_by("id").values_list("to", "subject", "body"))
    assert sent == [
        ("ada@acme.com", "Welcome Ada", "Hello Ada Lovelace"),
        ("member@example.com", "Welcome Ada", "Hello Ada Lovelace"),
        ("sales@example.com", "Welcome Ada", "Hello Ada Lovelace"),
    ]
    assert runs(r)[0].status == "succeeded"
    # a retried run does not send again: the action is done
    engine.execute(runs(r)[0])
    assert OutgoingEmail.objects.count() == 3


def test_add_and_remove_tags(users: dict[str, User]) -> None:
    rule(users["admin"], trigger="updated", conditions="tag=vip",
         actions=[{"type": "remove_tags", "params": {"tags": ["cold", "lost"]}},
                  {"type": "add_tags", "params": {"tags": ["priority"]}}])  # fmt: skip
    person = write("people", {"first_name": "Ada", "tags": ["cold", "warm"]}, actor=users["member"])
    write("people", {"tags": ["cold", "warm", "vip"]}, actor=users["member"], instance=person)
    settle()
    person.refresh_from_db()
    assert person.tags == ["priority", "vip", "warm"]  # kept sorted


# --- loop protection, retries, the log ------------------------------------------------------------------------------


def test_a_rule_retriggered_by_its_own_action_is_stopped_and_logged(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        name="Stamp",
        trigger="updated",
        actions=[{"type": "update_fields", "params": {"values": {"notes": "stamped"}}}],
    )
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    write("people", {"job_title": "CTO"}, actor=users["member"], instance=person)
    settle()
    first, second = runs(r)
    assert first.status == "succeeded" and first.depth == 1
    assert second.status == "stopped" and second.depth == 2 and second.chain == [r.pk]
    assert second.error == "Stopped: this rule's own actions triggered it again (Stamp → Stamp)."
    assert second.outcomes[0]["status"] == "skipped"


def test_a_chain_of_rules_is_stopped_at_the_depth_limit(users: dict[str, User], settings: Any) -> None:
    settings.RAPPORT_AUTOMATION_MAX_DEPTH = 2
    a = rule(users["admin"], name="A", trigger="updated", trigger_config={"fields": ["job_title"]},
             actions=[{"type": "update_fields", "params": {"values": {"source": "a"}}}])  # fmt: skip
    b = rule(users["admin"], name="B", trigger="updated", trigger_config={"fields": ["source"]},
             actions=[{"type": "update_fields", "params": {"values": {"notes": "b"}}}])  # fmt: skip
    c = rule(users["admin"], name="C", trigger="updated", trigger_config={"fields": ["notes"]},
             actions=[{"type": "update_fields", "params": {"values": {"lead_status": "new"}}}])  # fmt: skip
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    write("people", {"job_title": "CTO"}, actor=users["member"], instance=person)
    settle()
    person.refresh_from_db()
    assert (person.source, person.notes, person.lead_status) == ("a", "b", "")
    assert [run.status for run in runs(a)] == ["succeeded"]
    assert [run.status for run in runs(b)] == ["succeeded"]
    (stopped,) = runs(c)
    assert stopped.status == "stopped" and stopped.depth == 3 and stopped.chain == [a.pk, b.pk]
    assert "3 rules in a chain" in stopped.error


def test_a_failing_action_is_retried_then_failed_on_the_log(users: dict[str, User]) -> None:
    r = rule(
        users["admin"],
        actions=[
            {"type": "add_tags", "params": {"tags": ["seen"]}},
            {"type": "create_activity", "params": {"subject": "Follow up"}},  # no owner: cannot be given to anyone
            {"type": "add_tags", "params": {"tags": ["never"]}},
        ],
    )
    person = write("people", {"first_name": "Ada", "owner": None}, actor=None)
    settle()
    (run,) = runs(r)
    assert run.status == "retrying" and run.attempts == 1
    assert [o["status"] for o in run.outcomes] == ["done", "failed", "pending"]
    assert run.outcomes[1]["message"] == "The record has no owner to give the activity to."
    for attempt in range(2, engine.MAX_ATTEMPTS + 1):
        RuleRun.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
        assert engine.run_due() == 1
        run.refresh_from_db()
        assert run.attempts == attempt
    assert run.status == "failed" and run.finished_at is not None
    assert [o["status"] for o in run.outcomes] == ["done", "failed", "skipped"]
    person.refresh_from_db()
    assert person.tags == ["seen"]  # done once, not once per attempt
    assert Event.objects.filter(record_id=person.pk, type_key="people", source="automation").count() == 1


def test_a_rule_switched_off_does_not_run(users: dict[str, User]) -> None:
    r = rule(users["admin"], actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    services.set_active(r, False, actor=users["admin"])
    write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    assert runs(r) == []


def test_a_run_is_made_once_per_event_however_often_it_is_dispatched(users: dict[str, User]) -> None:
    r = rule(users["admin"], actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    event = Event.objects.get(record_id=person.pk, type_key="people")
    engine.consume(event)
    engine.consume(event)
    assert len(runs(r)) == 1


# --- dry run -------------------------------------------------------------------------------------------------------


def test_dry_run_shows_what_would_change_and_writes_nothing(users: dict[str, User], monkeypatch: Any) -> None:
    monkeypatch.setattr("rapport.automation.actions.compose_installed", lambda: False)
    from rapport.core.models import SearchEntry
    from rapport.webhooks import services as webhooks
    from rapport.webhooks.models import Delivery

    hook = webhooks.create_subscription({"name": "ERP", "url": "https://erp.example.com/hook"}, actor=users["admin"])
    r = rule(
        users["admin"],
        conditions="lifecycle_stage=customer",
        actions=[
            {"type": "update_fields", "params": {"values": {"job_title": "Buyer"}}},
            {"type": "add_tags", "params": {"tags": ["vip"]}},
            {"type": "create_activity", "params": {"subject": "Thank {record}"}},
            {"type": "notify", "params": {"recipients": ["owner"], "title": "Hi"}},
            {"type": "send_email", "params": {"to": ["owner@example.com"], "subject": "Hi"}},
            {"type": "call_webhook", "params": {"subscription": hook.pk}},
        ],
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=users["member"])
    dispatch_pending()
    counts = (Event.objects.count(), Activity.objects.count(), Notification.objects.count(),
              OutgoingEmail.objects.count(), Delivery.objects.count(), SearchEntry.objects.count(),
              RuleRun.objects.count())  # fmt: skip
    RuleRun.objects.all().delete()
    counts = (*counts[:-1], 0)
    result = services.dry_run(r, person)
    assert result["conditions"] == {"met": False, "error": ""}  # a lead, not a customer
    assert [a["status"] for a in result["actions"]] == ["done"] * 6
    assert result["actions"][0] == {"action": "update_fields", "label": "Update fields", "status": "done",
                                    "message": "Set job_title."}  # fmt: skip
    assert result["actions"][5]["message"] == "Queued a delivery to ERP (https://erp.example.com/hook)."
    people_changes = [c["changes"] for c in result["changes"] if c["record_type"] == "people"]
    assert people_changes == [{"job_title": ["", "Buyer"]}, {"tags": [[], ["vip"]]}]
    assert [c["kind"] for c in result["changes"] if c["record_type"] == "activities"] == ["created"]
    person.refresh_from_db()
    assert person.job_title == "" and person.tags == [] and person.version == 1
    assert counts == (Event.objects.count(), Activity.objects.count(), Notification.objects.count(),
                      OutgoingEmail.objects.count(), Delivery.objects.count(), SearchEntry.objects.count(),
                      RuleRun.objects.count())  # fmt: skip


# --- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"conditions": "nonsense=1"}, "conditions"),
        ({"conditions": "cf_nope=1"}, "conditions"),
        ({"trigger": "won"}, "trigger"),
        ({"trigger": "updated", "trigger_config": {"fields": ["nope"]}}, "trigger_config.fields"),
        ({"trigger": "idle", "trigger_config": {"days": 0}}, "trigger_config.days"),
        ({"trigger": "date_reached", "trigger_config": {"field": "first_name"}}, "trigger_config.field"),
        ({"changes": [{"field": "nope", "to": 1}]}, "changes[0].field"),
        ({"actions": [{"type": "teleport", "params": {}}]}, "actions[0].type"),
        ({"actions": [{"type": "update_fields", "params": {"values": {"version": 3}}}]}, "actions[0].params.values"),
        ({"actions": [{"type": "assign_owner", "params": {"mode": "fixed"}}]}, "actions[0].params.user"),
        ({"actions": [{"type": "send_email", "params": {"to": ["not an address"], "subject": "x"}}]},
         "actions[0].params.to"),
        ({"actions": []}, "actions"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_naming_the_field(users: dict[str, User], data: dict[str, Any], field: str) -> None:
    from rapport.api.errors import flatten

    body = {"name": "x", "type_key": "people", "trigger": "created",
            "actions": [{"type": "add_tags", "params": {"tags": ["x"]}}], **data}  # fmt: skip
    serializer = RuleSerializer(data=body, context={"actor": users["admin"]})
    assert not serializer.is_valid()
    assert field in flatten(serializer.errors), flatten(serializer.errors)


def test_a_rule_acts_on_changes_made_after_it_was_switched_on(users: dict[str, User]) -> None:
    r = rule(users["admin"], active=False, actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    before = write("people", {"first_name": "Before"}, actor=users["member"])  # still in the outbox
    services.set_active(r, True, actor=users["admin"])
    after = write("people", {"first_name": "After"}, actor=users["member"])
    settle()
    assert [run.record_id for run in runs(r)] == [after.pk]
    assert before.pk != after.pk
