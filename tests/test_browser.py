"""The main path through the real pages in headless Chromium: log in, create a company and a person,
find the person with the global search box, edit, see the history, delete and restore."""

from __future__ import annotations

import re
from typing import Any

from rapport.accounts.models import Role, Team, User

from .browser import MARKS, PASSWORD, page_fixture

pytestmark = MARKS
browser_page = page_fixture()


def test_main_path(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    User.objects.create_user(
        username="sam",
        password=PASSWORD,
        first_name="Sam",
        last_name="Seller",
        team=team,
        role=Role.objects.get(key="member"),
    )
    page = browser_page
    base = live_server.url

    # log in
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Welcome")
    # the stylesheet and scripts are served and applied (CSP allows them)
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).position") == "sticky"

    # create a company
    page.click("text=New company")
    expect(page.locator("h1")).to_have_text("New company")
    assert page.evaluate("document.activeElement.name") == "name"  # first field has the focus
    page.fill("#id_name", "Initech")
    page.fill("#id_domain", "initech.com")
    page.click("button:has-text('Create company')")
    expect(page.locator("h1")).to_have_text("Initech")
    company_url = page.url

    # create a person, with a second email added by the "Add another" button and the company chosen
    # through the link picker
    page.goto(f"{base}/people/new/")
    page.fill("#id_first_name", "Peter")
    page.fill("#id_last_name", "Gibbons")
    page.fill("input[name=emails] >> nth=0", "peter@initech.com")
    page.click("[data-add-row=emails]")
    page.fill("input[name=emails] >> nth=1", "pg@initech.com")
    page.check("input[name=emails_primary] >> nth=1")
    page.fill("#id_company", "Init")
    page.click(".picker-option:has-text('Initech')")
    assert page.input_value("input[name=company]") == company_url.rstrip("/").rsplit("/", 1)[-1]
    page.fill("#id_job_title", "Programmer")
    page.click("button:has-text('Create person')")
    expect(page.locator("h1")).to_have_text("Peter Gibbons")
    expect(page.locator(".fields").first).to_contain_text("pg@initech.com")
    expect(page.locator("a:has-text('Initech')").first).to_be_visible()

    # find the person with the global search box, focused with "/"
    page.goto(f"{base}/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("gibbons")
    live = page.locator("#search-live a:has-text('Peter Gibbons')")
    expect(live).to_be_visible()
    live.click()
    expect(page.locator("h1")).to_have_text("Peter Gibbons")

    # edit a field and see it in the history
    page.click("text=Edit")
    page.fill("#id_job_title", "Senior Programmer")
    page.click("button:has-text('Save changes')")
    expect(page.locator(".flash-success")).to_contain_text("Saved")
    page.click("#activity-timeline a:has-text('Changes')")
    history = page.locator("#activity-timeline .event").first
    expect(history).to_contain_text("changed")
    expect(history).to_contain_text("Job title")
    expect(history).to_contain_text("Programmer")
    expect(history).to_contain_text("Senior Programmer")
    person_url = page.url

    # delete, then restore from the recycle bin
    page.click("button:has-text('Delete')")
    expect(page.locator(".flash-success")).to_contain_text("recycle bin")
    assert page.goto(person_url).status == 404
    page.goto(f"{base}/bin/")
    row = page.locator("tr", has_text="Peter Gibbons")
    expect(row).to_be_visible()
    row.locator("button:has-text('Restore')").click()
    expect(page.locator(".flash-success")).to_contain_text("Restored")
    expect(page.locator("h1")).to_have_text("Peter Gibbons")
    assert re.sub(r"/$", "", page.url) == re.sub(r"/$", "", person_url)
    page.click("#activity-timeline a:has-text('Changes')")
    expect(page.locator("#activity-timeline .event").first).to_contain_text("restored")
