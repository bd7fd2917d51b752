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
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/my-day/"  # the first link
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


def test_a_laptop_keeps_the_links_that_fit_and_folds_the_rest_behind_more(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    """Just above the phone layout (1100 px) an administrator's navigation does not fit in the bar: the
    first links stay in it, the last ones move behind "More", and every link is reachable exactly once
    (priority+)."""
    User.objects.create_user(
        username="ann", password=PASSWORD, first_name="Ann", last_name="Admin", role=default_role("admin")
    )
    page = browser_page
    page.set_viewport_size({"width": 1120, "height": 800})
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/settings/")

    assert not page.get_by_role("button", name="Menu").is_visible()  # no hamburger on a small laptop
    nav = page.get_by_role("navigation", name="Main")
    every = nav.locator("a").evaluate_all("links => links.map(a => a.textContent.trim())")
    inline = nav.locator("a:not(.is-folded)").evaluate_all("links => links.map(a => a.textContent.trim())")
    assert every[:4] == ["My day", "People", "Companies", "Deals"] and every[-2:] == ["Recycle bin", "Settings"]
    assert inline == every[: len(inline)] and 5 <= len(inline) < len(every)  # the first ones, in order
    assert page.evaluate("(n => n.scrollWidth <= n.clientWidth + 1)(document.getElementById('main-nav'))")
    more = page.get_by_role("button", name="More")
    assert more.is_visible() and more.get_attribute("aria-expanded") == "false"
    assert "current" in (more.get_attribute("class") or "")  # Settings, the page shown, is behind it

    # The panel lists the folded links, in order; Escape closes it and gives focus back.
    more.click()
    panel = page.locator("#nav-more-panel")
    assert panel.is_visible()
    folded = panel.locator("a").evaluate_all("links => links.map(a => a.textContent.trim())")
    assert folded == every[len(inline) :]
    assert page.evaluate("document.activeElement.closest('#nav-more-panel') !== null")
    page.keyboard.press("Escape")
    assert not panel.is_visible() and page.evaluate("document.activeElement.matches('.nav-more-button')")
    more.click()
    panel.get_by_role("link", name="Recycle bin").click()
    page.wait_for_url(f"{live_server.url}/bin/")

    # Wide enough for every link: no More.
    page.set_viewport_size({"width": 2200, "height": 900})
    assert not page.get_by_role("button", name="More").is_visible()
    assert nav.locator("a.is-folded").count() == 0
