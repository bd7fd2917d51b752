"""Duplicates in headless Chromium: a person like an existing one gets the warning, "Create anyway" keeps
every typed value and creates them; the review queue shows the pair, side by side, at 1280 and 390 px
without sideways scroll, and "Not a duplicate" takes it off the queue.

Set RAPPORT_SCREENSHOTS=<folder> to keep pictures of the warning and the queue at both widths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rapport.accounts.models import Team, User
from rapport.contacts.models import Person
from rapport.duplicates.models import DuplicateCandidate

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("RAPPORT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _fits(page: Any) -> None:
    scroll, inner = page.evaluate(WIDTH)
    assert scroll <= inner, f"sideways scroll: {scroll} > {inner}"


def test_warning_create_anyway_and_the_queue(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    user = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", team=team, role=default_role("manager")
    )
    grace = write(
        "people",
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "emails": ["grace@navy.example.org"],
            "phones": ["+1 415 555 0199"],
            "street": "1 Navy Yard",
            "postal_code": "20374",
            "city": "Washington",
        },
        actor=user,
    )
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{base}/people/new/")
    page.fill("#id_first_name", "Grace")
    page.fill("#id_last_name", "Hoper")
    page.fill("#id_job_title", "Rear Admiral")
    page.locator("[data-field=phones] input[type=tel], [data-field=phones] input[name=phones]").first.fill(
        "(415) 555-0199"
    )
    page.get_by_role("button", name="Create person").click()
    warning = page.get_by_role("alert").filter(has_text="may already exist")
    expect(warning).to_contain_text("Grace Hopper")
    expect(warning).to_contain_text("same phone")
    expect(page.locator("#id_job_title")).to_have_value("Rear Admiral")
    _fits(page)
    _shot(page, "duplicates-warning-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page)
    _shot(page, "duplicates-warning-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert Person.objects.count() == 1

    page.get_by_role("button", name="Create anyway").click()
    expect(page.locator("h1")).to_contain_text("Grace Hoper")
    created = Person.objects.exclude(pk=grace.pk).get()
    assert created.job_title == "Rear Admiral" and created.primary_phone == "+14155550199"

    page.goto(f"{base}/people/")
    page.get_by_role("link", name="Duplicates").click()
    pair = page.locator(".dupe-pair")
    expect(pair).to_have_count(1)
    expect(pair).to_contain_text("Grace Hopper")
    expect(pair).to_contain_text("Grace Hoper")
    expect(pair).to_contain_text("Same phone, similar name")
    merge = pair.get_by_role("link", name="Review and merge")
    expect(merge).to_have_attribute("href", f"/duplicates/merge/people/?ids={grace.pk},{created.pk}")
    _fits(page)
    _shot(page, "duplicates-queue-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page)
    _shot(page, "duplicates-queue-390")

    pair.get_by_role("button", name="Not a duplicate").click()
    expect(page.locator(".empty-state")).to_contain_text("No likely duplicates")
    assert DuplicateCandidate.objects.get().status == "dismissed"
