"""Global search from the keyboard: type, ↓ ↓ Enter opens the second hit; Esc closes the panel; hits
are grouped by type with the match marked and Markdown shown as plain text. At 1280 and 390 px (the
panel fits the phone without sideways scrolling). Screenshots of the panel and of a deal's history are
saved under /tmp for a look."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rapport.accounts.models import Role, User

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, default_role, write

pytestmark = MARKS
wide_page = page_fixture(width=1280, height=800)
phone_page = page_fixture(width=390, height=844)


def arrange() -> User:
    default_role("admin")
    admin = User.objects.create_user(
        username="ada", password=PASSWORD, first_name="Ada", last_name="Admin", role=Role.objects.get(key="admin")
    )
    default_pipeline()
    company = write("companies", {"name": "Northwind Traders", "domain": "northwind.example"}, actor=admin)
    person = write(
        "people",
        {"first_name": "Nora", "last_name": "North", "job_title": "Head of purchasing", "company": company.pk},
        actor=admin,
    )
    write(
        "activities",
        {
            "kind": "note",
            "subject": "Pricing call notes",
            "body": "Budget **approved** for the _north_ region; see [the sheet](https://example.com/s).",
            "done": True,
        },
        actor=admin,
    )
    deal = write(
        "deals",
        {
            "title": "Northwind rollout",
            "currency": "EUR",
            "company": company.pk,
            "expected_close_date": "2027-05-26",
            "contacts": [{"person": person.pk, "role": "decision_maker"}],
            "line_items": [
                {"name": "Premium support (annual)", "quantity": "1", "unit_price": "9000", "tax_percent": "20"}
            ],
        },
        actor=admin,
    )
    write(
        "deals",
        {
            "probability": "35",
            "contacts": [{"person": person.pk, "role": "champion"}],
            "line_items": [
                {"name": "Premium support (annual)", "quantity": "2", "unit_price": "9000", "tax_percent": "20"},
                {"name": "Onboarding", "quantity": "1", "unit_price": "1200", "discount_percent": "10"},
            ],
        },
        actor=admin,
        instance=deal,
    )
    return admin


def sign_in(page: Any, url: str) -> None:
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login/" not in u)


def open_panel(page: Any, text: str) -> Any:
    from playwright.sync_api import expect

    page.keyboard.press("/")  # the shortcut focuses the box
    box = page.locator("#global-search")
    expect(box).to_be_focused()
    box.fill("")
    box.press_sequentially(text, delay=20)
    expect(box).to_have_attribute("aria-expanded", "true")
    return box


@pytest.mark.parametrize("width", [1280, 390])
def test_keyboard_through_grouped_hits(live_server: Any, transactional_db: Any, request: Any, width: int) -> None:
    from playwright.sync_api import expect

    page = request.getfixturevalue("wide_page" if width == 1280 else "phone_page")
    arrange()
    sign_in(page, live_server.url)
    box = open_panel(page, "north")
    hits = page.locator("#search-live [role=option]")
    expect(hits.first).to_be_visible()
    # grouped by type, with headings
    groups = page.locator("#search-live .search-group-title")
    assert {"Companies", "People", "Deals", "Activities"} <= set(groups.all_text_contents())
    # the match is marked; the note's Markdown reads as plain text
    expect(page.locator("#search-live mark").first).to_be_visible()
    note = page.locator("#search-live [role=option]", has_text="Pricing call notes")
    expect(note.locator(".search-hit-snippet")).to_contain_text("Budget approved for the north region; see the sheet.")
    expect(note.locator(".search-hit-snippet mark")).to_have_text("north")
    assert "**" not in note.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    panel = page.locator("#search-live .search-live-panel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= width
    assert panel["width"] >= (360 if width == 390 else 500)  # wide enough for one line per hit
    page.screenshot(path=f"/tmp/format-search-{width}.png")

    # ↓ ↓ Enter lands on the second hit
    second = hits.nth(1)
    target = second.get_attribute("href")
    box.press("ArrowDown")
    expect(hits.first).to_have_attribute("aria-selected", "true")
    box.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", second.get_attribute("id") or "")
    expect(box).to_be_focused()  # focus stays in the box (combobox)
    box.press("Enter")
    page.wait_for_url(re.compile(re.escape(target or "?") + "$"))

    # Esc closes the panel; a second Esc leaves the box
    box = open_panel(page, "nora")
    expect(hits.first).to_be_visible()
    box.press("Escape")
    expect(page.locator("#search-live [role=option]")).to_have_count(0)
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_be_focused()
    box.press("Escape")
    expect(box).not_to_be_focused()

    # "See all results" leads to the full page with the same grouping and marks
    open_panel(page, "north")
    page.locator("#search-live .search-all").click()
    page.wait_for_url(re.compile(r"/search/\?q=north$"))
    expect(page.locator("main .results mark").first).to_be_visible()


@pytest.mark.parametrize("width", [1280, 390])
def test_deal_history_screenshot(live_server: Any, transactional_db: Any, request: Any, width: int) -> None:
    from playwright.sync_api import expect

    from rapport.deals.models import Deal

    page = request.getfixturevalue("wide_page" if width == 1280 else "phone_page")
    arrange()
    sign_in(page, live_server.url)
    deal = Deal.objects.get(title="Northwind rollout")
    page.goto(f"{live_server.url}/deals/{deal.pk}/")
    history = page.locator("#activity-timeline")  # the timeline with its changes, loaded by htmx
    expect(history).to_contain_text("2 × Premium support (annual) at €9,000.00, tax 20%")
    expect(history).to_contain_text("Nora North (Champion)")
    assert "decision_maker" not in history.inner_text() and "[" not in history.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    history.scroll_into_view_if_needed()
    page.screenshot(path=f"/tmp/format-history-{width}.png", full_page=True)
