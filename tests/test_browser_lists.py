"""List pages in headless Chromium: filter, select the page, then "select all N matching", assign an
owner as a background job with a progress bar, and every matching record is reassigned; the list
with its search box and pager at 1280 and 390 px (no sideways scrolling)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rapport.accounts.models import Role, Team, User
from rapport.contacts.models import Person
from rapport.core.models import BulkChange, Event
from rapport.jobs.worker import Worker

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import write

pytestmark = MARKS
browser_page = page_fixture()


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def watch_csp(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


def people(team: Team, owner: User, n: int, stage: str) -> list[Person]:
    return [
        write(
            "people",
            {"first_name": f"{stage.title()}{i:02d}", "last_name": "Example", "lifecycle_stage": stage},
            actor=owner,
        )  # fmt: skip
        for i in range(n)
    ]


def test_select_all_matching_assigns_an_owner_as_a_job(
    live_server: Any, transactional_db: Any, browser_page: Any, settings: Any
) -> None:
    from playwright.sync_api import expect

    settings.RAPPORT_BULK_SYNC_LIMIT = 5  # 12 matching: above it, so the job and its progress run
    team = Team.objects.create(name="Sales")
    manager = User.objects.create_user(
        username="mia", password=PASSWORD, first_name="Mia", last_name="Manager", team=team,
        role=Role.objects.get(key="manager"),
    )  # fmt: skip
    sam = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team,
        role=Role.objects.get(key="member"),
    )  # fmt: skip
    leads = people(team, sam, 12, "lead")
    customers = people(team, sam, 3, "customer")
    page = browser_page
    problems = watch_csp(page)
    base = live_server.url
    log_in(page, base, "mia")

    # filter the list: the URL carries only what was chosen
    page.goto(f"{base}/people/?page_size=5")
    page.click("summary:has-text('Filters')")
    page.select_option("#f-lifecycle_stage", "lead")
    page.click("button:has-text('Apply filters')")
    page.wait_for_url(re.compile(r"lifecycle_stage=lead"))
    assert page.url.endswith("/people/?lifecycle_stage=lead&page_size=5")
    expect(page.locator("#list-count")).to_have_text("12 people")
    expect(page.locator("a.row-link")).to_have_count(5)
    page.screenshot(path="/tmp/lists-list-1280.png", full_page=True)

    # tick the page, then take every matching record
    banner = page.locator("[data-select-matching]")
    expect(banner).to_be_hidden()
    page.check("[data-select-all]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("All 5 people on this page are selected.")
    page.click("button:has-text('Select all 12 people matching')")
    expect(banner).to_contain_text("All 12 people matching are selected.")
    page.select_option("#bulk-action", "assign_owner")
    owner = page.locator("#bulk-owner")  # the one picker: the new owner by name
    owner.focus()
    page.keyboard.type("mia")
    expect(page.locator("#bulk-owner-options [role=option]")).to_have_text(["Mia Manager"])
    page.keyboard.press("Enter")
    expect(owner).to_have_value("Mia Manager")
    page.click("#bulk-form button[type=submit]")

    # the progress page, polled until the job is done
    page.wait_for_url(re.compile(r"/people/bulk/\d+/$"))
    expect(page.locator(".bulk-status")).to_contain_text("Waiting for a worker")
    expect(page.locator("h2")).to_contain_text("Assign owner Mia Manager · people matching the list")
    page.screenshot(path="/tmp/lists-progress-1280.png", full_page=True)
    # the bulk change's job (and the event dispatches every write queues since webhooks: not counted)
    assert Worker(worker_id="browser-test").run_pending() >= 1
    expect(page.locator(".bulk-status")).to_have_text("Updated 12 people.", timeout=5000)
    assert page.locator("#bulk-bar").get_attribute("value") == "100"
    page.screenshot(path="/tmp/lists-progress-done-1280.png", full_page=True)

    assert set(Person.objects.filter(pk__in=[p.pk for p in leads]).values_list("owner_id", flat=True)) == {manager.pk}
    assert set(Person.objects.filter(pk__in=[p.pk for p in customers]).values_list("owner_id", flat=True)) == {sam.pk}
    assert Event.objects.filter(type_key="people", kind="updated", source="ui").count() == 12
    assert BulkChange.objects.get().status == "done"

    # back to the list, with its filters
    page.click("a:has-text('Back to the list')")
    page.wait_for_url(re.compile(r"/people/\?lifecycle_stage=lead"))
    expect(page.locator("#list-count")).to_have_text("12 people")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems


@pytest.mark.parametrize("width", [1280, 390])
def test_list_with_search_and_pager_fits_the_screen(live_server: Any, transactional_db: Any, width: int) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from .browser import CHROMIUM

    team = Team.objects.create(name="Sales")
    User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team,
        role=Role.objects.get(key="member"),
    )  # fmt: skip
    sam = User.objects.get(username="sam")
    people(team, sam, 8, "lead")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": 844 if width < 500 else 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, live_server.url, "sam")
        page.goto(f"{live_server.url}/people/?page_size=3")
        page.fill("#list-q", "lead0")
        page.press("#list-q", "Enter")
        page.wait_for_url(re.compile(r"q=lead0"))
        assert page.url.endswith("/people/?q=lead0&page_size=3")
        sync_api.expect(page.locator("#list-count")).to_have_text("8 people")
        page.click("a[rel=next]")
        sync_api.expect(page.locator("a[rel=prev]")).to_be_visible()
        page.check("[data-select-all]")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=f"/tmp/lists-search-{width}.png", full_page=True)
        browser.close()
        assert not errors
