"""Settings → Webhooks in Chromium: create a subscription, send a test, see the delivery in the log and its
payload; at 1280 px and on a 390 px phone without sideways scrolling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rapport.accounts.models import Role, User
from rapport.webhooks import services
from rapport.webhooks.models import Subscription

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role
from .test_webhooks import Receiver

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)
SHOTS = Path(__file__).resolve().parent.parent / "data" / "screenshots"


@pytest.mark.parametrize("width", [1280, 390])
def test_create_a_webhook_send_a_test_and_see_it_in_the_log(
    live_server: Any, transactional_db: Any, browser_page: Any, settings: Any, width: int
) -> None:
    from playwright.sync_api import expect

    receiver = Receiver()
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [receiver.port]
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["127.0.0.1/32"]
    default_role("admin")
    User.objects.create_user(username="ada", password=PASSWORD, first_name="Ada", role=Role.objects.get(key="admin"))
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        page.goto(f"{live_server.url}/settings/webhooks/")
        expect(page.locator(".empty-state")).to_contain_text("No webhooks yet")
        page.click("text=New webhook")
        page.fill("input[name=name]", "Invoicing")
        page.fill("input[name=url]", "http://169.254.169.254/latest/")
        page.click("button:has-text('Create webhook')")
        expect(page.locator(".errorlist")).to_contain_text("link-local")
        page.fill("input[name=url]", receiver.url)
        page.check("input[name=event_types][value=won]")
        page.click("button:has-text('Create webhook')")
        expect(page.locator("h1")).to_have_text("Webhook Invoicing")
        subscription = Subscription.objects.get()
        receiver.secret = subscription.secret
        page.click("button:has-text('Send a test')")
        expect(page.locator(".flash").first).to_contain_text("test event")
        assert services.send_due() == 1  # what the worker does within seconds
        assert receiver.received[0]["verified"]["type"] == "ping"
        page.reload()
        row = page.locator("tbody tr").first
        expect(row).to_contain_text("ping")
        expect(row).to_contain_text("Succeeded")
        expect(row).to_contain_text("200")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SHOTS / f"webhook-log-{width}.png"), full_page=True)
        page.click("tbody tr a:has-text('ping')")
        expect(page.locator("pre.payload")).to_contain_text("A test from Rapport")
        expect(page.locator("tbody tr").first).to_contain_text("200")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SHOTS / f"webhook-delivery-{width}.png"), full_page=True)
        page.goto(f"{live_server.url}/settings/webhooks/")
        expect(page.locator("tbody tr").first).to_contain_text("Invoicing")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SHOTS / f"webhook-list-{width}.png"), full_page=True)
    finally:
        receiver.close()
