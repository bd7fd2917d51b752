"""The user menu with the keyboard, a password change, signing out and in again with the new password;
screenshots of the menu and the profile at 1280 and 390 px."""

from __future__ import annotations

import os
from typing import Any

import pytest

from rapport.accounts.models import Role, Team, User

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role

pytestmark = MARKS
NEW_PASSWORD = "plum tangerine 1987"
SHOTS = os.environ.get("RAPPORT_SCREENSHOTS", "")  # a folder: save the screenshots there


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def make_member() -> User:
    default_role("member")
    return User.objects.create_user(
        username="mia",
        password=PASSWORD,
        first_name="Mia",
        last_name="Berg",
        email="mia.berg@example.com",
        role=Role.objects.get(key="member"),
        team=Team.objects.create(name="Sales East"),
    )


browser_page = page_fixture()


def test_user_menu_by_keyboard_password_change_and_sign_in_again(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    make_member()
    page = browser_page
    base = live_server.url
    sign_in(page, base, "mia", PASSWORD)

    button = page.locator("#user-menu-button")
    panel = page.locator("#user-menu")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(panel).to_be_hidden()
    # Keyboard: focus the button, ArrowDown opens the menu on its first link; Escape closes it.
    button.focus()
    page.keyboard.press("ArrowDown")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(panel).to_be_visible()
    expect(page.locator("#user-menu a").first).to_be_focused()
    expect(panel).to_contain_text("mia.berg@example.com")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/account-menu-1280.png")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    # Enter opens it too; arrows move to "Password", Enter follows the link.
    page.keyboard.press("Enter")
    expect(panel).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#user-menu a", has_text="Password")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/account/password/")

    # A wrong current password is refused and named; then the change goes through.
    page.fill("input[name=old_password]", "not my password")
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    expect(page.locator("ul.errorlist")).to_contain_text("Current password: This is not your current password.")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    expect(page.locator(".flash")).to_contain_text("Password changed.")
    page.goto(f"{base}/")  # still signed in on this browser
    expect(button).to_be_visible()

    # Sign out from the menu (a POST), then in with the new password; the old one no longer works.
    button.click()
    page.locator("#user-menu button", has_text="Sign out").click()
    page.wait_for_url(lambda url: "/login/" in url)
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    sign_in(page, base, "mia", NEW_PASSWORD)
    expect(page.locator("#user-menu-button")).to_be_visible()


def test_click_outside_closes_the_menu(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    make_member()
    page = browser_page
    sign_in(page, live_server.url, "mia", PASSWORD)
    page.click("#user-menu-button")
    expect(page.locator("#user-menu")).to_be_visible()
    page.click("main")
    expect(page.locator("#user-menu")).to_be_hidden()


@pytest.mark.parametrize("width", [1280, 390])
def test_menu_and_profile_fit_the_screen(live_server: Any, transactional_db: Any, width: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    from .browser import CHROMIUM

    make_member()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": width, "height": 844}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        sign_in(page, live_server.url, "mia", PASSWORD)
        page.click("#user-menu-button")
        panel = page.locator("#user-menu")
        expect(panel).to_be_visible()
        box = panel.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/account-menu-{width}.png")
        page.goto(f"{live_server.url}/account/")
        expect(page.locator("select[name=time_zone]")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/account-profile-{width}.png", full_page=True)
        page.goto(f"{live_server.url}/account/password/")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        browser.close()
        assert not errors, errors
