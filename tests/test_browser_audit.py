"""The settings audit trail on a phone: 390 px wide, no sideways scrolling, filters usable."""

from __future__ import annotations

from typing import Any

from rapport.accounts import services as account_services
from rapport.accounts.models import Role, User
from rapport.deals import pipelines

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, default_role

pytestmark = MARKS
browser_page = page_fixture(width=390, height=844)


def test_audit_trail_at_390px(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    default_role("admin")
    admin = User.objects.create_user(
        username="ada", password=PASSWORD, first_name="Ada", last_name="Admin", role=Role.objects.get(key="admin")
    )
    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first()
    pipelines.update_stage(
        stage, name="A rather long stage name for a phone screen", probability=35, rotting_days=30, actor=admin
    )
    account_services.create_team(name="Northern territories and islands", actor=admin)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(f"{live_server.url}/settings/audit/")
    expect(page.locator("h1")).to_have_text("Audit trail")
    expect(page.locator(".event-head").first).to_contain_text("Ada Admin created team Northern territories")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.select_option("#audit-kind", "stage")
    page.click("button:has-text('Filter')")
    expect(page.locator(".event-head")).to_have_count(1)
    expect(page.locator(".changes")).to_contain_text("Probability")
    assert "kind=stage" in page.url
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
