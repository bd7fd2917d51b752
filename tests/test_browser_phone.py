"""The header on a 390 px phone: one row, the main navigation behind a menu button that works with a
pointer and a keyboard. (That every page fits the phone is tests/test_browser_sweep.py.)"""

from __future__ import annotations

from typing import Any

from rapport.accounts.models import Team, User

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role

pytestmark = MARKS
browser_page = page_fixture(width=390, height=844)


def test_the_menu_button_opens_and_closes_the_navigation(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    User.objects.create_user(
        username="mia",
        password=PASSWORD,
        first_name="Mia",
        last_name="Member",
        team=Team.objects.create(name="Sales"),
        role=default_role("member"),
    )
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mia")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # One row: the header is as tall as its tallest control, the search box and the account are in it.
    header = page.locator("header.topbar").bounding_box()
    assert header is not None and header["height"] < 60
    for part in ["#global-search", "#nav-bell", "[data-menu-toggle]"]:
        box = page.locator(part).bounding_box()
        assert box is not None
        assert box["y"] >= header["y"] and box["y"] + box["height"] <= header["y"] + header["height"], part

    button = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    assert button.get_attribute("aria-expanded") == "false" and button.get_attribute("aria-controls") == "main-nav"
    assert not nav.is_visible()

    # A tap opens it under the header; a link in it goes to its page.
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    assert nav.get_by_role("link", name="People").is_visible()
    nav.get_by_role("link", name="People").click()
    page.wait_for_url(f"{live_server.url}/people/")
    assert not page.get_by_role("navigation", name="Main").is_visible()

    # Keyboard: Enter opens, Tab walks into the links, Escape closes and gives focus back to the button.
    button = page.get_by_role("button", name="Menu")
    button.focus()
    page.keyboard.press("Enter")
    assert button.get_attribute("aria-expanded") == "true"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#main-nav') !== null")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Companies"
    page.keyboard.press("Escape")
    assert button.get_attribute("aria-expanded") == "false"
    assert not page.get_by_role("navigation", name="Main").is_visible()
    assert page.evaluate("document.activeElement.matches('[data-menu-toggle]')")

    # A tap elsewhere closes it too.
    button.click()
    page.mouse.click(3, 800)  # the page margin, below the open menu
    assert button.get_attribute("aria-expanded") == "false"

    # On a wide screen the navigation is inline and the button is gone.
    page.set_viewport_size({"width": 1600, "height": 900})
    assert page.get_by_role("navigation", name="Main").is_visible()
    assert not page.get_by_role("button", name="Menu").is_visible()
