"""Settings → Automation in Chromium: create a rule with the keyboard-usable editor (trigger, conditions, two
actions, one moved up), try it with a dry run, switch it on, create a person and see the rule act — on the
person's history ("automation: rule …") and in the rule's log; at 1280 px and on a 390 px phone without
sideways scrolling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rapport.accounts.models import Role, User
from rapport.automation import engine
from rapport.automation.models import Rule
from rapport.jobs.events import dispatch_pending

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)
SHOTS = Path(__file__).resolve().parent.parent / "data" / "screenshots"


def no_sideways_scroll(page: Any, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [1280, 390])
def test_create_a_rule_try_it_switch_it_on_and_see_it_act(
    live_server: Any, transactional_db: Any, browser_page: Any, width: int
) -> None:
    from playwright.sync_api import expect

    engine.forget_rules()
    default_role("admin")
    ada = User.objects.create_user(
        username="ada", password=PASSWORD, first_name="Ada", role=Role.objects.get(key="admin")
    )
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto(f"{live_server.url}/settings/automation/")
    # every installation starts with the shipped rule for overdue invoices, and nothing else
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody")).to_contain_text("Overdue invoice: a task for the account owner")
    page.click("text=New rule")
    page.select_option("#rule-type", "people")
    page.click("button:has-text('Continue')")
    expect(page.locator("h1")).to_have_text("New rule for people")
    page.fill("#rule-name", "Welcome leads")
    # The trigger settings follow the chosen trigger (automation.js)
    expect(page.locator("#idle-days")).to_be_hidden()
    page.select_option("#rule-trigger", "idle")
    expect(page.locator("#idle-days")).to_be_visible()
    page.select_option("#rule-trigger", "created")
    page.fill("#rule-conditions", "lifecycle_stage=lead")
    # Add two actions with the keyboard: choose in the list, press the Add button.
    page.select_option("#new-action", "add_tags")
    page.focus("button[value=add]")
    page.keyboard.press("Enter")
    page.fill("#a-0-tags", "welcome")
    page.select_option("#new-action", "update_fields")
    page.click("button[value=add]")
    expect(page.locator("#a-0-tags")).to_have_value("welcome")  # kept across the round trip
    page.fill("#a-1-values", "job_title=Prospect")
    page.click("button[value=up-1]")
    expect(page.locator("#action-0 legend")).to_have_text("1. Update fields")
    no_sideways_scroll(page, width)
    page.screenshot(path=str(SHOTS / f"automation-editor-{width}.png"), full_page=True)
    page.locator("#rule-name").press("Enter")  # Enter in a text box saves
    expect(page.locator("h1")).to_have_text("Rule Welcome leads")
    rule = Rule.objects.get(shipped=None)
    assert [a["type"] for a in rule.actions] == ["update_fields", "add_tags"] and not rule.active

    grace = write("people", {"first_name": "Grace", "last_name": "Hopper"}, actor=ada)
    page.fill("#dry-record", "Grace")
    page.locator(".picker-options li").first.click()
    page.click("button:has-text('Try it')")
    expect(page.locator(".dry-run")).to_contain_text("Conditions met")
    expect(page.locator(".dry-run")).to_contain_text("Prospect")
    grace.refresh_from_db()
    assert grace.job_title == "" and grace.tags == []
    no_sideways_scroll(page, width)
    page.screenshot(path=str(SHOTS / f"automation-dry-run-{width}.png"), full_page=True)

    page.click("button:has-text('Switch on')")
    expect(page.locator(".flash").first).to_contain_text("is on")
    person = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=ada)
    dispatch_pending()  # what the worker does within seconds of the write
    engine.run_due()
    page.goto(f"{live_server.url}/people/{person.pk}/")
    expect(page.locator(".event-head").first).to_contain_text("automation: rule Welcome leads")
    expect(page.locator("body")).to_contain_text("Prospect")
    no_sideways_scroll(page, width)
    page.goto(f"{live_server.url}/settings/automation/{rule.pk}/")
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Ada Lovelace")
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text("Added welcome.")
    no_sideways_scroll(page, width)
    page.screenshot(path=str(SHOTS / f"automation-rule-{width}.png"), full_page=True)
    page.goto(f"{live_server.url}/settings/automation/")
    expect(page.locator("tbody tr", has_text="Welcome leads")).to_have_count(1)  # beside the shipped rule
    no_sideways_scroll(page, width)
    page.screenshot(path=str(SHOTS / f"automation-list-{width}.png"), full_page=True)
