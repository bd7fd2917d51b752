"""Merge in headless Chromium: compare two people, take a value from the second, review, merge, see the
survivor with both records' activities, and undo; the comparison at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapport.accounts.models import Team, User
from rapport.contacts.models import Person

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def test_compare_merge_and_undo(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    user = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", team=team, role=default_role("manager")
    )
    company = write("companies", {"name": "Initech"}, actor=user)
    ann = write(
        "people",
        {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@initech.com"], "company": company.pk},
        actor=user,
    )
    annie = write(
        "people",
        {
            "first_name": "Ann",
            "last_name": "Lee-Smith",
            "job_title": "Head of purchasing",
            "emails": ["ann.lee@example.com"],
            "phones": [{"number": "+1 415 555 0199", "kind": "mobile"}],
        },
        actor=user,
    )
    for subject, who in (("Intro call", ann), ("Pricing call", annie)):
        write(
            "activities", {"kind": "note", "subject": subject, "links": [{"type": "people", "id": who.pk}]}, actor=user
        )

    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/duplicates/merge/people/?ids={ann.pk},{annie.pk}")
    expect(page.get_by_role("heading", name="Merge 2 people")).to_be_visible()
    page.screenshot(path=str(SHOTS / "merge-compare-1280.png"), full_page=True)
    # Take the last name of the second record, with the keyboard.
    radio = page.locator(f"input[name=f_last_name][value='{annie.pk}']")
    radio.focus()
    page.keyboard.press("Space")
    expect(radio).to_be_checked()
    page.get_by_role("button", name="Review the merge").click()
    expect(page.get_by_text("goes to the recycle bin")).to_be_visible()
    page.screenshot(path=str(SHOTS / "merge-review-1280.png"), full_page=True)
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(page.get_by_text("Merged 1 person into this one.")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Ann Lee-Smith")
    timeline = page.locator("#activity-timeline")
    expect(timeline.get_by_text("Intro call")).to_be_visible()
    expect(timeline.get_by_text("Pricing call")).to_be_visible()
    page.screenshot(path=str(SHOTS / "merge-done-1280.png"), full_page=True)
    page.locator(".flash").get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Merge undone: 1 person restored.")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Ann Lee")
    assert Person.objects.get(pk=annie.pk).deleted_at is None

    # A phone: the comparison scrolls inside its own box, never the page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/duplicates/merge/people/?ids={ann.pk},{annie.pk}")
    scroll, inner = page.evaluate(WIDTH)
    assert scroll <= inner, f"{scroll} px wide in a {inner} px window"
    page.screenshot(path=str(SHOTS / "merge-compare-390.png"), full_page=True)
