"""The record forms in headless Chromium: a deal made from a person's page saves with its defaults on
the first submit and takes its stage's probability; the stage list follows a change of pipeline."""

from __future__ import annotations

from typing import Any

from rapport.accounts.models import Team, User
from rapport.deals.models import Deal, Pipeline

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1280, height=900)


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _seller() -> User:
    team = Team.objects.create(name="Sales")
    return User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role("member")
    )


def test_a_deal_from_a_person_saves_with_its_defaults(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    user = _seller()
    pipeline = default_pipeline()
    renewals = Pipeline.objects.create(name="Renewals", position=5)
    renewals.stages.create(name="Due", position=0, probability=80)
    company = write("companies", {"name": "Initech"}, actor=user)
    person = write("people", {"first_name": "Peter", "last_name": "Gibbons", "company": company.pk}, actor=user)
    page = browser_page
    base = live_server.url
    _sign_in(page, base, "sam")

    page.goto(f"{base}/people/{person.pk}/")
    page.locator("#deals-section").get_by_role("link", name="New deal").click()
    expect(page.locator("h1")).to_have_text("New deal")
    expect(page.locator("#id_pipeline")).to_have_value(str(pipeline.pk))
    stage = page.locator("#id_stage")
    expect(stage).to_have_value(str(pipeline.stages.get(name="Qualification").pk))
    probability = page.locator("#id_probability")
    expect(probability).to_have_value("")
    expect(probability).to_have_attribute("placeholder", "10 (from the stage)")

    # another pipeline: its stages replace the list at once, the probability hint follows
    page.select_option("#id_pipeline", str(renewals.pk))
    expect(stage.locator("option")).to_have_text(["Due"])
    expect(probability).to_have_attribute("placeholder", "80 (from the stage)")
    page.select_option("#id_pipeline", str(pipeline.pk))
    expect(stage.locator("option")).to_have_count(6)
    expect(stage).to_have_value(str(pipeline.stages.get(name="Qualification").pk))
    page.select_option("#id_stage", label="Proposal")
    expect(probability).to_have_attribute("placeholder", "50 (from the stage)")

    page.fill("#id_title", "Initech seats")
    page.get_by_role("button", name="Create deal").click()
    expect(page.locator("h1")).to_have_text("Initech seats")
    deal = Deal.objects.get()
    assert deal.stage.name == "Proposal" and deal.probability == 50 and not deal.probability_overridden
    assert deal.company == company and [c.person_id for c in deal.deal_contacts.all()] == [person.pk]
