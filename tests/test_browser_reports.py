"""The report builder and dashboards in headless Chromium: build a report, save it, add it to a new
dashboard, narrow the dashboard to one owner, and drill down from the figure to the deals behind it;
pictures of both pages at 1280 and 390 px (RAPPORT_SHOTS=<dir> keeps them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rapport.accounts.models import Team, User
from rapport.deals.models import Deal
from rapport.reports.models import Dashboard, SavedReport

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900, accept_dialogs=False)
SHOTS = Path(os.environ.get("RAPPORT_SHOTS", "/tmp/rapport-report-shots"))


def _setup() -> tuple[User, User]:
    team = Team.objects.create(name="North")
    mia = User.objects.create_user(
        username="mia",
        password=PASSWORD,
        first_name="Mia",
        last_name="Manager",
        team=team,
        role=default_role("manager"),
    )
    ben = User.objects.create_user(
        username="ben", password=PASSWORD, first_name="Ben", last_name="Seller", team=team, role=default_role("member")
    )
    default_pipeline()
    for owner, title, amount in ((mia, "Initech seats", "1000"), (mia, "Hooli pilot", "500"), (ben, "Globex", "700")):
        write("deals", {"title": title, "amount": amount, "owner": owner.pk}, actor=owner)
    return mia, ben


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert scroll <= inner, f"{name} is {scroll} px wide at {width}"
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_build_save_add_to_a_dashboard_filter_and_drill_down(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    mia, ben = _setup()
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # build: deals, grouped by owner, sum of amount — the preview follows each choice
    page.goto(f"{base}/reports/builder/")
    page.select_option("#r-type", "deals")
    expect(page.locator("#r-group1")).to_be_visible()
    page.select_option("#r-group1", "owner")
    expect(page.locator("#preview table")).to_contain_text("Mia Manager")
    page.select_option("#r-op", "sum")
    page.select_option("#r-measure", "amount")
    expect(page.locator("#preview table")).to_contain_text("$1,500.00")
    expect(page.locator("#preview tfoot")).to_contain_text("$2,200.00")
    expect(page.locator("#report-chart")).to_be_visible()
    _shoot(page, "builder")

    # save it
    page.fill("#save-name", "Amount by owner")
    page.click("text=Save report")
    report = SavedReport.objects.get(name="Amount by owner")
    expect(page).to_have_url(f"{base}/reports/saved/{report.pk}/")
    assert report.config["measure"] == {"op": "sum", "field": "amount", "weight": None}

    # a new dashboard, then the report on it
    page.goto(f"{base}/reports/dashboards/")
    page.fill("#d-name", "North team")
    page.click("text=Create")
    board = Dashboard.objects.get(name="North team")
    expect(page).to_have_url(f"{base}/reports/dashboards/{board.pk}/")
    page.goto(f"{base}/reports/saved/{report.pk}/")
    page.select_option("#add-dashboard", str(board.pk))
    page.select_option("#add-size", "w")
    page.click("form:has(#add-dashboard) button[type=submit]")
    expect(page).to_have_url(f"{base}/reports/dashboards/{board.pk}/")
    widget = page.locator(".widget")
    expect(widget).to_have_count(1)
    expect(widget.locator("canvas")).to_be_visible()
    _shoot(page, "dashboard")

    # the dashboard's owner filter narrows the widget to Ben's deals
    page.select_option("#df-owner", str(ben.pk))
    expect(page).to_have_url(f"{base}/reports/dashboards/{board.pk}/?period=this_quarter&owner={ben.pk}")
    widget.locator("summary").click()
    cell = widget.locator("td.num a")
    expect(cell).to_have_count(1)
    expect(cell).to_have_text("$700.00")

    # drill down: the deals behind the figure
    cell.click()
    expect(page).to_have_url(f"{base}/deals/?owner={ben.pk}")
    expect(page.locator("main")).to_contain_text("Globex")
    expect(page.locator("main")).not_to_contain_text("Initech seats")


def test_a_no_date_group_drills_down_to_the_undated_deals(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    """Grouped by expected close month: Initech seats closes in March 2026, Hooli pilot and Globex have no
    date. The "No date" figure (2) opens the deals list holding exactly those two."""
    from playwright.sync_api import expect

    mia, _ = _setup()
    initech = Deal.objects.get(title="Initech seats")
    write("deals", {"expected_close_date": "2026-03-15"}, actor=mia, instance=initech)
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/reports/builder/")
    page.select_option("#r-type", "deals")
    expect(page.locator("#r-group1")).to_be_visible()
    page.select_option("#r-group1", "expected_close_date")
    undated = page.locator("#preview tbody tr", has=page.locator("td", has_text="No date"))
    expect(undated.locator("td.num a")).to_have_text("2")
    undated.locator("td.num a").click()
    expect(page).to_have_url(f"{base}/deals/?close_date__isnull=true")
    main = page.locator("main")
    expect(main).to_contain_text("2 deals")
    expect(main).to_contain_text("Hooli pilot")
    expect(main).to_contain_text("Globex")
    expect(main).not_to_contain_text("Initech seats")
    expect(main).to_contain_text("Expected close (empty)")  # the filter shows, and can be removed
