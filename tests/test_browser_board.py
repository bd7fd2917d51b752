"""The deals board in headless Chromium: logging a call and planning an activity from a card's menu
without leaving the board (the card shows its new next activity; no console error, no CSP violation),
the menu by keyboard, and a read-only user who can neither drag nor log. Screenshots of the board at
1280×800 and 390 px are saved next to the test's temporary files."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.accounts.models import Team, User
from rapport.activities.models import Activity
from rapport.deals.models import LostReason, Pipeline

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=800, accept_dialogs=False)

# Reports every Content-Security-Policy violation to the console, where the test collects errors.
CSP_LISTENER = (
    "document.addEventListener('securitypolicyviolation', function (e) {"
    " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile); });"
)


def _setup(role: str = "member") -> tuple[User, Pipeline, User]:
    """A seller, a pipeline of two open stages, won and lost, and a read-only colleague in the same team."""
    team = Team.objects.create(name="Sales")
    seller = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role(role)
    )
    viewer = User.objects.create_user(
        username="vera", password=PASSWORD, first_name="Vera", team=team, role=default_role("read-only")
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Board test pipeline")
    for position, (name, probability, kind) in enumerate(
        [("Qualification", 10, "open"), ("Proposal", 50, "open"), ("Won", 100, "won"), ("Lost", 0, "lost")]
    ):
        pipeline.stages.create(name=name, position=position, probability=probability, kind=kind)
    LostReason.objects.get_or_create(name="Went with a competitor")
    Pipeline.objects.exclude(pk=pipeline.pk).update(archived=True)
    return seller, pipeline, viewer


def _log_in(page: Any, base: str, username: str) -> list[str]:
    """Sign in; answers the list the page's console errors (CSP violations included) are added to."""
    problems: list[str] = []
    page.add_init_script(CSP_LISTENER)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return problems


def test_log_a_call_and_plan_an_activity_from_a_card_without_leaving_the_board(
    live_server: Any, transactional_db: Any, browser_page: Any, tmp_path: Any
) -> None:
    from playwright.sync_api import expect

    seller, pipeline, _ = _setup()
    qualification = pipeline.stages.get(name="Qualification")
    deal = write(
        "deals",
        {"title": "Initech seats", "pipeline": pipeline.pk, "stage": qualification.pk, "amount": "1200"},
        actor=seller,
    )
    for i in range(7):
        write("deals", {"title": f"Filler {i}", "pipeline": pipeline.pk, "stage": qualification.pk}, actor=seller)
    page = browser_page
    base = live_server.url
    problems = _log_in(page, base, "sam")
    board_url = f"{base}/deals/board/?pipeline={pipeline.pk}&owner=me"
    page.goto(board_url)
    card = page.locator(f"#deal-{deal.pk}")
    expect(card).to_contain_text("No next activity")
    page.screenshot(path=str(tmp_path / "board-1280.png"))
    # at least five cards of a column are on screen at 1280×800
    visible = page.evaluate(
        "() => Array.from(document.querySelectorAll('.deal-card')).filter("
        "c => c.getBoundingClientRect().bottom <= window.innerHeight).length"
    )
    assert visible >= 5, visible

    # Log call… from the card's menu: a dialog on the board, the board stays
    card.locator("[data-card-menu]").click()
    menu = page.locator("#deal-menu")
    expect(menu).to_be_visible()
    for label in ("Proposal", "Won", "Lost…", "Log call…", "Plan activity…"):
        item = menu.get_by_role("menuitem", name=label, exact=True)
        expect(item).to_be_visible()
        box = item.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 800, label
    expect(menu.get_by_role("menuitem", name="Qualification", exact=True)).to_be_hidden()  # its own stage
    menu.get_by_role("menuitem", name="Log call…").click()
    dialog = page.locator("#log-dialog")
    expect(dialog.locator("#ql-subject")).to_be_visible()
    expect(dialog).to_contain_text("Initech seats")
    dialog.locator("#ql-subject").fill("Talked about seats")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#board-message")).to_contain_text("Saved call “Talked about seats”")
    assert page.url == board_url
    call = Activity.objects.get(subject="Talked about seats")
    assert call.kind == "call" and call.done
    expect(card).to_contain_text("No next activity")  # a call made is not a next step

    # Plan activity…: the card shows the planned date in place of "No next activity"
    card.locator("[data-card-menu]").click()
    menu.get_by_role("menuitem", name="Plan activity…").click()
    expect(dialog.locator("#ql-due_at")).to_be_visible()
    dialog.locator("#ql-subject").fill("Send the proposal")
    dialog.locator("#ql-due_at").fill("2030-01-05T09:00")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()
    expect(card).not_to_contain_text("No next activity")
    expect(card.locator("[data-next]")).to_contain_text("Jan 5, 2030")
    assert page.url == board_url
    task = Activity.objects.get(subject="Send the proposal")
    assert task.kind == "task" and not task.done and task.links.filter(type_key="deals", record_id=deal.pk).exists()

    # The menu by keyboard: open with Enter, arrows move, Escape closes and gives the focus back
    button = card.locator("[data-card-menu]")
    button.focus()
    page.keyboard.press("Enter")
    expect(menu.get_by_role("menuitem", name="Proposal", exact=True)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("menuitem", name="Won", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()

    # …and a move from the menu, with the card's version
    button.click()
    menu.get_by_role("menuitem", name="Proposal", exact=True).click()
    proposal = pipeline.stages.get(name="Proposal")
    expect(page.locator(f"#cards-{proposal.pk} #deal-{deal.pk}")).to_be_visible()
    assert not problems, problems

    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(board_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "board-390.png"))
    assert not problems, problems


def test_lost_from_the_menu_asks_for_a_reason_in_a_readable_dialog(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    seller, pipeline, _ = _setup()
    qualification = pipeline.stages.get(name="Qualification")
    lost = pipeline.stages.get(name="Lost")
    deal = write("deals", {"title": "Globex pilot", "pipeline": pipeline.pk, "stage": qualification.pk}, actor=seller)
    page = browser_page
    problems = _log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/deals/board/?pipeline={pipeline.pk}")
    page.locator(f"#deal-{deal.pk} [data-card-menu]").click()
    page.locator("#deal-menu").get_by_role("menuitem", name="Lost…").click()
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    select = dialog.locator("#lost-reason")
    assert select.bounding_box()["width"] >= 250  # not squeezed
    dialog.get_by_role("button", name="Mark lost").click()
    expect(page.locator("#lost-error")).to_be_visible()
    select.select_option(label="Went with a competitor")
    dialog.get_by_role("button", name="Mark lost").click()
    expect(page.locator(f"#cards-{lost.pk} #deal-{deal.pk}")).to_be_attached()
    deal.refresh_from_db()
    assert deal.status == "lost" and deal.lost_reason and deal.lost_reason.name == "Went with a competitor"
    assert not problems, problems


@pytest.mark.parametrize("width", [1280, 390])
def test_a_read_only_user_cannot_drag_and_sees_no_add_or_log_control(
    live_server: Any, transactional_db: Any, browser_page: Any, width: int
) -> None:
    from playwright.sync_api import expect

    seller, pipeline, _ = _setup()
    qualification = pipeline.stages.get(name="Qualification")
    proposal = pipeline.stages.get(name="Proposal")
    deal = write("deals", {"title": "Hooli seats", "pipeline": pipeline.pk, "stage": qualification.pk}, actor=seller)
    page = browser_page
    page.set_viewport_size({"width": width, "height": 800})
    problems = _log_in(page, live_server.url, "vera")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.method == "POST" else None)
    page.goto(f"{live_server.url}/deals/board/?pipeline={pipeline.pk}")
    card = page.locator(f"#deal-{deal.pk}")
    expect(card).to_be_visible()
    expect(page.get_by_role("link", name="New deal")).to_have_count(0)
    expect(page.locator("[data-card-menu]")).to_have_count(0)
    expect(page.locator("#deal-menu [role=menuitem]")).to_have_count(0)
    expect(page.get_by_text("Log call")).to_have_count(0)
    expect(page.get_by_text("Plan activity")).to_have_count(0)
    # dragging does nothing: the card stays, nothing is sent
    box = card.bounding_box()
    target = page.locator(f"#cards-{proposal.pk}").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] - 6)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + box["height"], steps=5)
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + 30, steps=15)
    page.mouse.up()
    page.wait_for_timeout(300)
    expect(page.locator(f"#cards-{qualification.pk} #deal-{deal.pk}")).to_be_visible()
    assert not requests, requests
    deal.refresh_from_db()
    assert deal.stage_id == qualification.pk
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert not problems, problems
