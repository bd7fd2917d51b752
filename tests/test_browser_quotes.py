"""In headless Chromium: edit a deal's line items (add a free-text line, save with htmx), create a
quote from them, see it, and download its PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapport.accounts.models import Team

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import make_user
from .test_quotes import make_deal

pytestmark = MARKS
browser_page = page_fixture()


def test_line_items_then_quote_then_pdf(live_server: Any, transactional_db: Any, browser_page: Any, tmp_path: Path):
    from playwright.sync_api import expect

    user = make_user("sam", "member", Team.objects.create(name="Sales"))
    deal = make_deal(user)
    page = browser_page
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # add a free-text line and save it (htmx swaps the editor in place)
    page.goto(f"{base}/deals/{deal.pk}/line-items/")
    expect(page.locator("[data-line-row]")).to_have_count(2)
    page.click("text=Add free-text line")
    row = page.locator("[data-line-row]").nth(2)
    expect(row.locator("[name=name]")).to_be_focused()
    row.locator("[name=name]").fill("Training day")
    row.locator("[name=quantity]").fill("2")
    row.locator("[name=unit_price]").fill("500")
    expect(row.locator("[data-line-net]")).to_have_text("1,000.00")  # live preview
    page.click("button:has-text('Save lines')")
    expect(page.locator(".line-editor .flash-success")).to_have_text("Line items saved.")
    expect(page.locator("[data-total=subtotal]")).to_have_text("€1,999.99")
    deal.refresh_from_db()
    assert str(deal.amount) == "1999.99"

    # create a quote from the line items
    page.click("nav.tabs >> text=Quotes")
    page.click("button:has-text('Create quote from line items')")
    expect(page.locator("h1")).to_contain_text("Quote Q-")
    expect(page.locator("[data-line-row] [name=name]").nth(2)).to_have_value("Training day")
    number = page.locator("h1").inner_text().split()[1]

    # download its PDF
    with page.expect_download() as info:
        page.click("text=Download PDF")
    download = info.value
    assert download.suggested_filename == f"{number}.pdf"
    target = tmp_path / "quote.pdf"
    download.save_as(target)
    assert target.read_bytes().startswith(b"%PDF")

    # mark it sent, then accept it: the deal is won
    page.click("button:has-text('Mark as sent')")
    expect(page.locator(".flash-success")).to_contain_text("marked as sent")
    page.click("button:has-text('Accept')")
    expect(page.locator(".flash-success")).to_contain_text("The deal is won.")


def test_yen_line_preview_has_no_minor_unit(live_server: Any, transactional_db: Any, browser_page: Any):
    """Worked by hand: 3 × 1001 − 12.5 % = 2627.625 → ¥2,628; tax 10 % = 262.8 → ¥263; total ¥2,891."""
    from playwright.sync_api import expect

    user = make_user("sam", "member", Team.objects.create(name="Sales"))
    deal = make_deal(user, lines=[], currency="JPY")
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/deals/{deal.pk}/line-items/")
    page.click("text=Add free-text line")
    row = page.locator("[data-line-row]").first
    row.locator("[name=name]").fill("Box")
    row.locator("[name=quantity]").fill("3")
    row.locator("[name=unit_price]").fill("1001")
    row.locator("[name=discount_percent]").fill("12.5")
    row.locator("[name=tax_percent]").fill("10")
    expect(row.locator("[data-line-net]")).to_have_text("2,628")
    expect(page.locator("[data-total=subtotal]")).to_have_text("¥2,628")
    expect(page.locator("[data-total=tax]")).to_have_text("¥263")
    expect(page.locator("[data-total=total]")).to_have_text("¥2,891")
    page.click("button:has-text('Save lines')")
    expect(page.locator(".line-editor .flash-success")).to_have_text("Line items saved.")
    expect(page.locator("[data-total=total]")).to_have_text("¥2,891")
    expect(page.locator("[name=unit_price]").first).to_have_value("1001")
