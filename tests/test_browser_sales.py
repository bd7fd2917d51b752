"""Sales pages in headless Chromium: drag a deal on the board, reload and see it moved with the new
totals; mark a deal lost with a reason from its card."""

from __future__ import annotations

from typing import Any

from rapport.accounts.models import Team, User
from rapport.deals.models import Deal, LostReason, Pipeline

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1600, height=1000, accept_dialogs=False)


def _sales_setup() -> tuple[User, Pipeline]:
    """Transactional tests flush the tables, so the migration's pipeline is made again here."""
    team = Team.objects.create(name="Sales")
    user = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role("member")
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Board test pipeline")
    for position, (name, probability, kind) in enumerate(
        [("Qualification", 10, "open"), ("Proposal", 50, "open"), ("Won", 100, "won"), ("Lost", 0, "lost")]
    ):
        pipeline.stages.create(name=name, position=position, probability=probability, kind=kind)
    LostReason.objects.get_or_create(name="Went with a competitor")
    Pipeline.objects.exclude(pk=pipeline.pk).update(archived=True)
    return user, pipeline


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_drag_a_deal_to_the_next_stage_and_mark_one_lost(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    user, pipeline = _sales_setup()
    qualification = pipeline.stages.get(name="Qualification")
    proposal = pipeline.stages.get(name="Proposal")
    lost = pipeline.stages.get(name="Lost")
    moving = write(
        "deals",
        {"title": "Initech seats", "pipeline": pipeline.pk, "stage": qualification.pk, "amount": "1200"},
        actor=user,
    )
    losing = write(
        "deals",
        {"title": "Globex pilot", "pipeline": pipeline.pk, "stage": qualification.pk, "amount": "800"},
        actor=user,
    )
    page = browser_page
    base = live_server.url
    _log_in(page, base)
    page.goto(f"{base}/deals/board/?pipeline={pipeline.pk}")
    q_head = page.locator(f'[data-head="{qualification.pk}"]')
    p_head = page.locator(f'[data-head="{proposal.pk}"]')
    expect(q_head).to_contain_text("2 deals")
    expect(q_head).to_contain_text("$2,000.00")
    expect(p_head).to_contain_text("0 deals")

    # drag the card by its body onto the next column
    card = page.locator(f"#deal-{moving.pk}")
    target = page.locator(f"#cards-{proposal.pk}")
    box = card.bounding_box()
    tbox = target.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + box["height"] - 8)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + box["height"], steps=5)
    page.mouse.move(tbox["x"] + tbox["width"] / 2, tbox["y"] + 30, steps=15)
    page.mouse.up()
    expect(page.locator(f"#cards-{proposal.pk} #deal-{moving.pk}")).to_be_visible()
    expect(p_head).to_contain_text("$1,200.00")
    expect(page.locator("#board-message")).to_contain_text("Moved")
    # the heads were adjusted by the answer's deltas, as a fresh page shows them
    expect(p_head).to_contain_text("1 deal")
    expect(p_head).to_contain_text("weighted $600.00")
    expect(q_head).to_contain_text("1 deal")
    expect(q_head).to_contain_text("$800.00")

    page.reload()
    expect(page.locator(f"#cards-{proposal.pk} #deal-{moving.pk}")).to_be_visible()
    expect(p_head).to_contain_text("1 deal")
    expect(p_head).to_contain_text("$1,200.00")
    expect(p_head).to_contain_text("weighted $600.00")
    expect(q_head).to_contain_text("$800.00")
    assert Deal.objects.get(pk=moving.pk).stage_id == proposal.pk

    # "Lost" on the other card asks for a reason; cancelling keeps it open, a reason closes it
    losing_card = page.locator(f"#deal-{losing.pk}")
    losing_card.locator("[data-card-menu]").click()
    page.locator("#deal-menu").get_by_role("menuitem", name="Lost…").click()
    dialog = page.locator("#lost-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("button:has-text('Mark lost')").click()
    expect(page.locator("#lost-error")).to_be_visible()
    dialog.locator("button:has-text('Cancel')").click()
    expect(dialog).to_be_hidden()
    assert Deal.objects.get(pk=losing.pk).status == "open"
    losing_card.locator("[data-card-menu]").click()
    page.locator("#deal-menu").get_by_role("menuitem", name="Lost…").click()
    page.select_option("#lost-reason", label="Went with a competitor")
    dialog.locator("button:has-text('Mark lost')").click()
    expect(page.locator(f"#cards-{lost.pk} #deal-{losing.pk}")).to_be_attached()
    expect(page.locator(f'[data-head="{lost.pk}"]')).to_contain_text("1 deal")
    expect(q_head).to_contain_text("0 deals")
    saved = Deal.objects.get(pk=losing.pk)
    assert saved.status == "lost" and saved.lost_reason and saved.lost_reason.name == "Went with a competitor"
