"""A standard report in headless Chromium: open it, change the period in the filter bar, see the chart
and the table follow, click a figure and land on the deals behind it; screenshots at 1280 and 390 px."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from rapport.accounts.models import Team, User
from rapport.core.demo import clock
from rapport.deals.models import LostReason, Pipeline

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)
SHOTS = Path(os.environ.get("RAPPORT_SCREENSHOT_DIR", "/tmp"))


def _book() -> None:
    team = Team.objects.create(name="Sales")
    sam = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role("member")
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Report pipeline")
    stages = {}
    for position, (name, kind) in enumerate([("New", "open"), ("Won", "won"), ("Lost", "lost")]):
        stages[name] = pipeline.stages.create(name=name, position=position, kind=kind).pk
    price, _ = LostReason.objects.get_or_create(name="Price")
    timing, _ = LostReason.objects.get_or_create(name="Timing")

    def deal(title: str, amount: str, stage: str, **extra: Any) -> None:
        write("deals", {"title": title, "amount": amount, "currency": "USD", "stage": stages[stage],
                        "pipeline": pipeline.pk, **extra}, actor=sam)

    with clock(dt.datetime(2026, 1, 10, 10, tzinfo=dt.UTC)):  # January: one won, one lost for price
        deal("January win", "1000.00", "Won")
        deal("January loss", "300.00", "Lost", lost_reason=price.pk)
    deal("Won today", "2500.00", "Won")  # this month: two won, one lost for timing
    deal("Also won today", "1500.00", "Won")
    deal("Lost today", "700.00", "Lost", lost_reason=timing.pk)


def _figure(page: Any, label: str) -> str:
    card = page.locator(".report-figure", has=page.locator(".muted", has_text=label)).first
    return card.locator(".report-figure-value").inner_text().strip()


def _chart_labels(page: Any) -> list[str]:
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('report-chart'))")
    return page.evaluate("() => Chart.getChart(document.getElementById('report-chart')).data.labels")


def test_change_the_period_and_drill_down(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    _book()
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto(f"{base}/")
    page.locator("#main-nav a", has_text="Reports").first.dispatch_event("click")
    page.wait_for_url(f"{base}/reports/")
    page.click("text=Win rate and loss reasons")
    page.goto(f"{base}/reports/win-loss/?period=custom&start=2026-01-01&end=2026-01-31")
    assert _figure(page, "Won") == "1" and _figure(page, "Revenue won") == "$1,000.00"
    assert _chart_labels(page) == ["Price"]
    assert page.locator("#report-table tbody tr").count() == 1
    page.screenshot(path=str(SHOTS / "report-win-loss-1280.png"), full_page=True)

    page.select_option("#r-period", "this_month")
    assert page.locator("#r-start").is_disabled()  # a preset period: the custom dates are not sent
    page.click("button:has-text('Show')")
    page.wait_for_url(lambda url: "period=this_month" in url and "start=" not in url)
    assert _figure(page, "Won") == "2" and _figure(page, "Revenue won") == "$4,000.00"
    assert _figure(page, "Win rate") == "66.7%"
    assert _chart_labels(page) == ["Timing"]
    assert page.locator("#report-table tbody th").all_inner_texts() == ["Timing"]

    page.locator(".report-figure", has=page.locator(".muted", has_text="Won")).first.locator("a").click()
    page.wait_for_url(lambda url: "/deals/?" in url and "status=won" in url)
    titles = page.locator("table tbody tr").all_inner_texts()
    assert len(titles) == 2 and any("Won today" in t for t in titles) and any("Also won today" in t for t in titles)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/reports/win-loss/?period=this_month")
    _chart_labels(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SHOTS / "report-win-loss-390.png"), full_page=True)
    page.goto(f"{base}/reports/")
    page.screenshot(path=str(SHOTS / "reports-index-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/reports/pipeline/?period=this_year")
    _chart_labels(page)
    page.screenshot(path=str(SHOTS / "report-pipeline-1280.png"), full_page=True)
