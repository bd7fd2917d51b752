"""In headless Chromium: move a deal with the stage bar, mark it lost (with a reason) and won from its
page, and find quotes on the Quotes list; at 1280 and 390 px wide, without sideways scrolling.
Screenshots go to /tmp/dealpage-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.accounts.models import Team
from rapport.deals.models import Deal

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, make_user, write
from .test_quotes import LINES

pytestmark = MARKS
browser_page = page_fixture()
phone_page = page_fixture(width=390, height=844)


def _login(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{page.url} is {width} px wide at {viewport} px"


def _deal(user: Any) -> Deal:
    pipeline = default_pipeline()
    first = pipeline.stages.order_by("position").first()
    return write(
        "deals",
        {"title": "Globex rollout", "currency": "EUR", "pipeline": pipeline.pk, "stage": first.pk, "line_items": LINES},
        actor=user,
    )


def test_stage_bar_lost_reopen_and_won(live_server: Any, transactional_db: Any, browser_page: Any):
    from playwright.sync_api import expect

    user = make_user("sam", "member", Team.objects.create(name="Sales"))
    deal = _deal(user)
    page = browser_page
    base = live_server.url
    _login(page, base, "sam")
    page.goto(f"{base}/deals/{deal.pk}/")
    expect(page.locator(".tl-list")).to_be_visible()  # the timeline has loaded
    page.screenshot(path="/tmp/dealpage-deal-1280.png", full_page=True)
    _no_sideways_scroll(page)
    bar = page.locator("form.stage-bar")
    expect(bar.locator("[aria-current=step]")).to_contain_text("Qualification")

    # Click a stage: the deal moves there, and the page says so.
    bar.locator("button", has_text="Proposal").click()
    expect(page.locator(".flash-success")).to_have_text("Moved “Globex rollout” to Proposal.")
    expect(page.locator("form.stage-bar [aria-current=step]")).to_contain_text("Proposal")
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal" and deal.version == 2

    # Lost asks for a reason first, in a readable select.
    page.click("summary:has-text('Lost')")
    select = page.locator("#lost-reason")
    expect(select).to_be_visible()
    assert select.bounding_box()["width"] >= 250
    page.screenshot(path="/tmp/dealpage-lost-1280.png")
    select.select_option(label="Chose a competitor")
    page.click("button:has-text('Mark as lost')")
    expect(page.locator(".flash-success")).to_contain_text("marked as lost (Chose a competitor)")
    expect(page.locator(".outcome-lost")).to_contain_text("Chose a competitor")

    # Reopen brings it back to Proposal; then Won closes it.
    page.click("button:has-text('Reopen')")
    expect(page.locator("form.stage-bar [aria-current=step]")).to_contain_text("Proposal")
    page.click("button:has-text('Won')")
    expect(page.locator(".outcome-won")).to_contain_text("Won on")
    deal.refresh_from_db()
    assert (deal.status, deal.stage.name, deal.version) == ("won", "Won", 5)


def test_a_stale_page_says_so_and_moves_nothing(live_server: Any, transactional_db: Any, browser_page: Any):
    from playwright.sync_api import expect

    user = make_user("sam", "member", Team.objects.create(name="Sales"))
    deal = _deal(user)
    page = browser_page
    _login(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/deals/{deal.pk}/")
    write("deals", {"title": "Globex rollout (EMEA)"}, actor=user, instance=deal)  # someone else, meanwhile
    page.locator("form.stage-bar button", has_text="Negotiation").click()
    expect(page.locator(".flash-error")).to_contain_text("changed this deal while you had it open")
    expect(page.locator("h1")).to_have_text("Globex rollout (EMEA)")
    expect(page.locator("form.stage-bar [aria-current=step]")).to_contain_text("Qualification")
    deal.refresh_from_db()
    assert deal.stage.name == "Qualification"


@pytest.mark.parametrize("role", ["member"])
def test_the_deal_page_on_a_phone(role: str, live_server: Any, transactional_db: Any, phone_page: Any):
    from playwright.sync_api import expect

    user = make_user("sam", role, Team.objects.create(name="Sales"))
    deal = _deal(user)
    page = phone_page
    _login(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/deals/{deal.pk}/")
    expect(page.locator("form.stage-bar")).to_be_visible()
    expect(page.locator(".tl-list")).to_be_visible()
    page.screenshot(path="/tmp/dealpage-deal-390.png", full_page=True)
    _no_sideways_scroll(page)
    page.click("summary:has-text('Lost')")
    expect(page.locator("#lost-reason")).to_be_visible()
    _no_sideways_scroll(page)
    page.screenshot(path="/tmp/dealpage-lost-390.png")
    page.goto(f"{live_server.url}/deals/{deal.pk}/line-items/")
    page.screenshot(path="/tmp/dealpage-lines-390.png", full_page=True)
    _no_sideways_scroll(page)


def _quotes(users: list[Any]) -> None:
    from rapport.quotes import services as quotes

    for user in users:
        deal = _deal(user)
        quotes.create_quote_from_deal(deal, actor=user, valid_days=10)
        sent = quotes.create_quote_from_deal(deal, actor=user, valid_days=45)
        quotes.send_quote(sent, actor=user)


@pytest.mark.parametrize(("width", "fixture"), [(1280, "browser_page"), (390, "phone_page")])
def test_the_quotes_list(width: int, fixture: str, live_server: Any, transactional_db: Any, request: Any):
    from playwright.sync_api import expect

    page = request.getfixturevalue(fixture)
    sam = make_user("sam", "member", Team.objects.create(name="Sales"))
    other = make_user("olga", "member", Team.objects.create(name="Other"))
    _quotes([sam, other])
    _login(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/")
    toggle = page.locator("[data-menu-toggle]")
    if toggle.is_visible():  # the navigation is folded behind the menu button (a phone)
        toggle.click()
        page.locator("nav.nav a", has_text="Quotes").click()
    elif page.locator("nav.nav a:not(.is-folded)", has_text="Quotes").count():
        page.locator("nav.nav a", has_text="Quotes").click()
    else:  # a laptop: Quotes is among the links behind "More"
        page.get_by_role("button", name="More").click()
        page.locator("#nav-more-panel a", has_text="Quotes").click()
    expect(page.locator("h1")).to_have_text("Quotes")
    rows = page.locator(".quote-table tbody tr")
    expect(rows).to_have_count(2)  # Sam's two; the other team's stay out
    page.screenshot(path=f"/tmp/dealpage-quotes-{width}.png", full_page=True)
    _no_sideways_scroll(page)
    page.select_option("#qf-status", "sent")
    page.click("button:has-text('Apply')")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sent")
    assert "status=sent" in page.url
    rows.first.locator("a.row-link").click()
    expect(page.locator("h1")).to_contain_text("Quote Q-")
