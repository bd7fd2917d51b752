"""Settings → Automation: the list, the editor (trigger, conditions, ordered actions with add/move/remove by plain
form posts), the rule's page with the dry run, the switch and the run log; settings managers only."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rapport.accounts.models import User
from rapport.automation import engine
from rapport.automation.models import Rule, RuleRun
from rapport.core.models import Event

from .conftest import write
from .test_automation import rule, settle


@pytest.fixture(autouse=True)
def _fresh_rules() -> None:
    engine.forget_rules()


@pytest.fixture
def admin_client(client: Any, users: dict[str, User]) -> Any:
    client.force_login(users["admin"])
    return client


def editor_post(**extra: Any) -> dict[str, Any]:
    data = {
        "type_key": "people",
        "name": "Welcome leads",
        "trigger": "created",
        "conditions": "lifecycle_stage=lead",
        "a-count": "2",
        "a-0-type": "add_tags",
        "a-0-tags": "welcome, new",
        "a-1-type": "create_activity",
        "a-1-kind": "task",
        "a-1-subject": "Call {record}",
        "a-1-due_from": "now",
        "a-1-due_days": "1",
        "a-1-due_hours": "0",
        "a-1-assignee": "owner",
        "op": "",
    }
    data.update(extra)
    return data


def test_only_settings_managers_reach_the_pages(client: Any, users: dict[str, User]) -> None:
    r = rule(users["admin"], actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    client.force_login(users["member"])
    for url in ("/settings/automation/", "/settings/automation/new/", f"/settings/automation/{r.pk}/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/settings/automation/{r.pk}/switch/").status_code == 403
    r.refresh_from_db()
    assert r.active is True


def test_create_a_rule_in_the_editor_and_see_it_act(admin_client: Any, users: dict[str, User]) -> None:
    chooser = admin_client.get("/settings/automation/new/")
    assert chooser.status_code == 200 and b'name="type"' in chooser.content
    editor = admin_client.get("/settings/automation/new/?type=people")
    assert editor.status_code == 200 and b"New rule for people" in editor.content
    answer = admin_client.post("/settings/automation/new/", editor_post(active="on"))
    assert answer.status_code == 302
    made = Rule.objects.get(shipped=None)
    assert answer["Location"] == f"/settings/automation/{made.pk}/"
    assert made.actions == [
        {"type": "add_tags", "params": {"tags": ["welcome", "new"]}},
        {"type": "create_activity", "params": {"kind": "task", "subject": "Call {record}", "body": "",
                                               "due_from": "now", "due_days": 1, "due_hours": 0,
                                               "assignee": "owner", "priority": "normal", "also_link": []}},
    ]  # fmt: skip
    assert made.active and made.conditions == "lifecycle_stage=lead" and made.created_by == users["admin"]
    person = write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    person.refresh_from_db()
    assert person.tags == ["new", "welcome"]
    page = admin_client.get(f"/settings/automation/{made.pk}/").content.decode()
    assert "Added welcome, new." in page and "Succeeded" in page and "Created task “Call Ada”" in page


def test_editor_buttons_add_move_and_remove_actions_without_saving(admin_client: Any) -> None:
    added = admin_client.post("/settings/automation/new/", editor_post(op="add", new_action="notify"))
    assert added.status_code == 200 and not Rule.objects.filter(shipped=None).exists()
    text = added.content.decode()
    assert "3. Notify users" in text and 'name="a-count" value="3"' in text
    moved = admin_client.post("/settings/automation/new/", editor_post(op="up-1")).content.decode()
    assert moved.index("1. Create a task or activity") < moved.index("2. Add tags")
    assert 'value="Call {record}"' in moved  # what was typed is kept
    removed = admin_client.post("/settings/automation/new/", editor_post(op="remove-0")).content.decode()
    assert "1. Create a task or activity" in removed and "Add tags" not in removed.split("Add an action")[0]


def test_editor_shows_errors_naming_the_field_and_keeps_the_input(admin_client: Any) -> None:
    answer = admin_client.post(
        "/settings/automation/new/",
        editor_post(conditions="colour=red", **{"a-1-subject": "", "name": "Mine"}),
    )
    assert answer.status_code == 400 and not Rule.objects.filter(shipped=None).exists()
    text = answer.content.decode()
    assert "conditions: colour:" in text
    assert "Action 2, subject: This field may not be blank." in text
    assert 'value="Mine"' in text and 'value="colour=red"' in text


def test_edit_keeps_the_type_and_trigger_settings_round_trip(admin_client: Any, users: dict[str, User]) -> None:
    r = rule(users["admin"], type_key="deals", trigger="date_reached",
             trigger_config={"field": "expected_close_date", "offset_days": -3},
             actions=[{"type": "update_fields",
                       "params": {"values": {"probability": 50, "source": "x"}}}])  # fmt: skip
    page = admin_client.get(f"/settings/automation/{r.pk}/edit/").content.decode()
    assert 'value="-3"' in page and "probability=50" in page and "source=x" in page  # (jsonb orders keys)
    data = {
        "name": "Closing soon", "trigger": "date_reached", "date_field": "expected_close_date", "offset_days": "-5",
        "a-count": "1", "a-0-type": "update_fields", "a-0-values": "probability=50\nsource=x", "op": "",
        "c-0-field": "", "active": "on",
    }  # fmt: skip
    assert admin_client.post(f"/settings/automation/{r.pk}/edit/", data).status_code == 302
    r.refresh_from_db()
    assert (r.name, r.type_key, r.trigger_config) == ("Closing soon", "deals", {"field": "expected_close_date",
                                                                               "offset_days": -5})  # fmt: skip
    assert r.actions == [{"type": "update_fields", "params": {"values": {"probability": "50", "source": "x"}}}]


def test_changed_from_to_rows(admin_client: Any) -> None:
    data = editor_post(trigger="updated", **{"c-0-field": "lifecycle_stage", "c-0-from-set": "on", "c-0-from": "lead",
                                             "c-0-to-set": "on", "c-0-to": "customer", "c-1-field": "job_title",
                                             "c-1-to-set": "on", "c-1-to": ""})  # fmt: skip
    assert admin_client.post("/settings/automation/new/", data).status_code == 302
    assert Rule.objects.get(shipped=None).changes == [
        {"field": "lifecycle_stage", "from": "lead", "to": "customer"},
        {"field": "job_title", "to": ""},
    ]


def test_dry_run_on_the_page_changes_nothing(admin_client: Any, users: dict[str, User]) -> None:
    r = rule(
        users["admin"], active=False, actions=[{"type": "update_fields", "params": {"values": {"job_title": "CEO"}}}]
    )
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace", "job_title": "CTO"}, actor=users["member"])
    events = Event.objects.count()
    page = admin_client.post(f"/settings/automation/{r.pk}/dry-run/", {"record_id": person.pk})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Conditions met" in text and "Set job_title." in text and "CTO" in text and "CEO" in text
    assert Event.objects.count() == events
    person.refresh_from_db()
    assert person.job_title == "CTO"
    missing = admin_client.post(f"/settings/automation/{r.pk}/dry-run/", {"record_id": "999999"})
    assert missing.status_code == 302


def test_switch_and_delete(admin_client: Any, users: dict[str, User]) -> None:
    r = rule(users["admin"], active=False, actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    admin_client.post(f"/settings/automation/{r.pk}/switch/")
    r.refresh_from_db()
    assert r.active
    write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    assert RuleRun.objects.count() == 1
    assert admin_client.post(f"/settings/automation/{r.pk}/delete/").status_code == 302
    assert not Rule.objects.filter(shipped=None).exists() and not RuleRun.objects.exists()


def test_list_and_rule_pages_take_a_fixed_number_of_queries(admin_client: Any, users: dict[str, User]) -> None:
    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(url).status_code == 200
        return len(queries)

    first = rule(users["admin"], name="one", actions=[{"type": "add_tags", "params": {"tags": ["x"]}}])
    write("people", {"first_name": "Ada"}, actor=users["member"])
    settle()
    few_list, few_rule = count("/settings/automation/"), count(f"/settings/automation/{first.pk}/")
    for i in range(5):
        rule(users["admin"], name=f"r{i}", actions=[{"type": "add_tags", "params": {"tags": [f"t{i}"]}}])
    for i in range(5):
        write("people", {"first_name": f"P{i}"}, actor=users["member"])
    settle()
    assert count("/settings/automation/") == few_list
    assert count(f"/settings/automation/{first.pk}/") == few_rule


class EditorForm(HTMLParser):
    """What a browser submits from the rule editor as it is shown: inputs, checked boxes, selected options,
    textareas (the "Save" button's op is empty)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None
        self.in_editor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and "rule-editor" in a.get("class", "").split():
            self.in_editor = True
        if not self.in_editor or "disabled" in a:
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value", "on" if a.get("type") == "checkbox" else ""))
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in a:
            self.data.setdefault(self.select, []).append(a.get("value", ""))
        elif tag == "textarea":
            self.textarea = name
            self.data.setdefault(name, []).append("")

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.data[self.textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.in_editor = False


def test_the_shipped_overdue_rule_saved_from_its_editor_keeps_what_it_does(admin_client: Any) -> None:
    shipped = Rule.objects.get(shipped="invoice_overdue")
    before = shipped.actions[0]["params"]
    page = admin_client.get(f"/settings/automation/{shipped.pk}/edit/")
    assert page.status_code == 200
    form = EditorForm()
    form.feed(page.content.decode())
    data = {k: (v if len(v) > 1 else v[0]) for k, v in form.data.items()}
    assert data["a-0-assignee"] == "company.owner" and data["a-0-priority"] == "high"
    assert data["a-0-also_link"] == "company" and data.get("or_created") == "1"
    data["a-0-subject"] = "Call about {number}"
    data["op"] = ""
    answer = admin_client.post(f"/settings/automation/{shipped.pk}/edit/", data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    shipped.refresh_from_db()
    assert shipped.actions[0]["params"] == {**before, "subject": "Call about {number}"}
    assert shipped.trigger_config == {"fields": ["status"], "value": "overdue", "or_created": True}
    assert shipped.active and shipped.shipped == "invoice_overdue"
