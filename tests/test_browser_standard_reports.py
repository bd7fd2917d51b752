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


def test_funnel_figures_and_bars_drill_down_to_the_deals_counted(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    """The funnel of a hand-made pipeline (New → Demo → Won, Lost) in January 2026: four deals created in New,
    two moved to Demo, one of them won; one lost from New. By hand: New entered 4, advanced 2 (the Demo
    ones); Demo entered 2, advanced 1 (won); Won entered 1; Lost entered 1. Each link and bar lists them."""
    team = Team.objects.create(name="Funnel team")
    sam = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role("member")
    )
    pipeline = Pipeline.objects.create(name="Funnel pipeline")
    stages = {}
    for position, (name, kind) in enumerate([("New", "open"), ("Demo", "open"), ("Won", "won"), ("Lost", "lost")]):
        stages[name] = pipeline.stages.create(name=name, position=position, kind=kind).pk
    price, _ = LostReason.objects.get_or_create(name="Price")

    def on(day: int) -> Any:
        return clock(dt.datetime(2026, 1, day, 10, tzinfo=dt.UTC))

    deals = {}
    for n, title in enumerate(["Alpha", "Bravo", "Charlie", "Delta"]):
        with on(2 + n):
            deals[title] = write(
                "deals", {"title": title, "amount": "100.00", "currency": "USD", "stage": stages["New"],
                          "pipeline": pipeline.pk}, actor=sam)  # fmt: skip
    for title in ("Alpha", "Bravo"):
        with on(10):
            write("deals", {"stage": stages["Demo"]}, actor=sam, instance=deals[title])
    with on(20):
        write("deals", {"stage": stages["Won"]}, actor=sam, instance=deals["Alpha"])
    with on(21):
        write("deals", {"stage": stages["Lost"], "lost_reason": price.pk}, actor=sam, instance=deals["Delta"])

    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    report = f"{base}/reports/funnel/?period=custom&start=2026-01-01&end=2026-01-31&pipeline={pipeline.pk}"
    page.goto(report)
    assert _chart_labels(page) == ["New", "Demo", "Won", "Lost"]
    cells = {
        row.locator("th").inner_text(): row.locator("td").all_inner_texts()
        for row in page.locator("#report-table tbody tr").all()
    }
    assert [cells[s][:2] for s in ("New", "Demo", "Won", "Lost")] == [["4", "2"], ["2", "1"], ["1", "—"], ["1", "—"]]

    def titles() -> list[str]:
        rows = page.locator("table tbody tr").all_inner_texts()
        found = sorted(t for t in deals if any(t in row for row in rows))
        assert len(rows) == len(found), rows
        return found

    # the "Advanced" figure of New: the two deals that went on to Demo
    page.locator("#report-table tbody tr", has=page.locator("th", has_text="New")).locator("td a").nth(1).click()
    page.wait_for_url(lambda url: "/deals/?" in url and "entered__advanced=yes" in url)
    assert titles() == ["Alpha", "Bravo"]
    assert "2 deals" in page.locator("main").inner_text()

    # the "Entered" bar of Demo on the chart: Alpha and Bravo
    page.goto(report)
    _chart_labels(page)
    x, y = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('report-chart'));"
        " const bar = c.getDatasetMeta(0).data[1].getProps(['x', 'y', 'base'], true);"  # where it ends up
        " return [bar.x, (bar.y + bar.base) / 2]; }"
    )
    box = page.locator("#report-chart").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url(lambda url: f"entered={stages['Demo']}" in url)
    assert titles() == ["Alpha", "Bravo"]

    # the headline "Reached won" and the Lost stage
    page.goto(report)
    page.locator(".report-figure", has=page.locator(".muted", has_text="Reached won")).locator("a").click()
    page.wait_for_url(lambda url: f"entered={stages['Won']}" in url)
    assert titles() == ["Alpha"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(report)
    _chart_labels(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    page.wait_for_timeout(1500)  # the bars' growing animation
    page.screenshot(path=str(SHOTS / "report-funnel-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(report)
    _chart_labels(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "report-funnel-1280.png"), full_page=True)
