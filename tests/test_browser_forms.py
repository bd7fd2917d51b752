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


def test_contacts_and_company_are_picked_by_name_with_the_keyboard(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    user = _seller()
    default_pipeline()
    other = User.objects.create_user(
        username="olga", password=PASSWORD, team=Team.objects.create(name="West"), role=default_role("member")
    )
    company = write("companies", {"name": "Initech"}, actor=user)
    ada = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=user)
    adam = write("people", {"first_name": "Adam", "last_name": "Smith"}, actor=user)
    write("people", {"first_name": "Adaline", "last_name": "West"}, actor=other)  # another team's: never offered
    page = browser_page
    base = live_server.url
    _sign_in(page, base, "sam")
    page.goto(f"{base}/deals/new/")
    page.fill("#id_title", "Initech seats")

    contacts = page.locator("#id_contacts")
    expect(contacts).to_have_attribute("role", "combobox")
    contacts.focus()
    page.keyboard.type("ada")
    options = page.locator("#id_contacts-options [role=option]")
    expect(options).to_have_count(2)
    expect(contacts).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#id_contacts-options")).not_to_contain_text("Adaline")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    second = options.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    expect(contacts).to_have_attribute("aria-activedescendant", second.get_attribute("id") or "")
    picked = second.inner_text()
    page.keyboard.press("Enter")
    chips = page.locator("[data-chips] [data-chip]")
    expect(chips).to_have_count(1)
    expect(contacts).to_have_value("")
    expect(contacts).to_be_focused()
    # the other one by typing more of the name; the chosen one is not offered again
    page.keyboard.type("a")
    expect(options).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(chips).to_have_count(2)
    first_name = "Adam Smith" if "Ada Lovelace" in picked else "Ada Lovelace"
    page.get_by_label(f"Role of {first_name}").select_option(label="Champion")
    # remove the first pick with the keyboard, Esc closes an open list
    page.get_by_role("button", name=f"Remove {picked.splitlines()[0]}").focus()
    page.keyboard.press("Enter")
    expect(chips).to_have_count(1)
    expect(contacts).to_be_focused()
    page.keyboard.type("zzz")
    expect(page.locator("#id_contacts-options")).to_contain_text("Nothing matches")
    page.keyboard.press("Escape")
    expect(page.locator("#id_contacts-options")).to_be_hidden()
    page.fill("#id_contacts", "")

    # one link: the company
    company_box = page.locator("#id_company")
    company_box.focus()
    page.keyboard.type("init")
    expect(page.locator("#id_company-options [role=option]")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(company_box).to_have_value("Initech")
    assert page.input_value("input[type=hidden][name=company]") == str(company.pk)
    # a half-typed name left behind keeps the chosen company
    page.keyboard.type(" Corp")
    page.keyboard.press("Tab")
    expect(company_box).to_have_value("Initech")

    # the form at a desktop and a phone width, a list open: nothing wider than the screen
    page.locator("#id_contacts").focus()
    page.keyboard.type("smi")
    expect(page.locator("#id_contacts-options [role=option]")).to_have_count(1)
    page.screenshot(path="/tmp/picker-deal-form-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.keyboard.press("Escape")
    page.locator("#id_contacts").fill("")
    page.keyboard.type("smi")
    expect(page.locator("#id_contacts-options [role=option]")).to_have_count(1)
    page.screenshot(path="/tmp/picker-deal-form-390.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.keyboard.press("Escape")
    page.locator("#id_contacts").fill("")

    page.get_by_role("button", name="Create deal").click()
    expect(page.locator("h1")).to_have_text("Initech seats")
    deal = Deal.objects.get()
    assert deal.company == company
    kept = ada if first_name == "Ada Lovelace" else adam
    assert list(deal.deal_contacts.values_list("person_id", "role")) == [(kept.pk, "champion")]
    expect(page.locator("section.card:has(h2:text-is('Details'))")).to_contain_text(first_name)


def test_a_line_items_product_is_picked_by_name_and_fills_its_price(
    live_server: Any, transactional_db: Any, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    user = _seller()
    user.role = default_role("admin")  # sees the catalogue
    user.save()
    default_pipeline()
    seat = write(
        "products",
        {"name": "Cloud seat", "tax_rate": "20", "prices": [{"currency": "EUR", "unit_price": "220"}]},
        actor=user,
    )
    deal = write("deals", {"title": "Initech seats", "currency": "EUR"}, actor=user)
    page = browser_page
    base = live_server.url
    _sign_in(page, base, "sam")
    page.goto(f"{base}/deals/{deal.pk}/line-items/")
    page.get_by_role("button", name="Add product line").click()
    box = page.locator("[data-line-row] [data-picker-input]").last
    expect(box).to_be_focused()
    page.keyboard.type("cloud")
    option = page.locator("[data-line-row] [role=option]").first
    expect(option).to_contain_text("Cloud seat")
    expect(option).to_contain_text("€220.00")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    row = page.locator("[data-line-row]").last
    expect(box).to_have_value("Cloud seat")
    expect(row.locator("[name=name]")).to_have_value("Cloud seat")
    expect(row.locator("[name=unit_price]")).to_have_value("220.00")
    expect(row.locator("[name=tax_percent]")).to_have_value("20.00")
    row.locator("[name=quantity]").fill("3")
    expect(row.locator("[data-line-net]")).to_have_text("660.00")
    page.get_by_role("button", name="Save lines").click()
    expect(page.locator(".line-editor .flash-success")).to_have_text("Line items saved.")
    line = deal.line_items.get()
    assert (line.product_id, line.name, str(line.unit_price), str(line.quantity)) == (
        seat.pk,
        "Cloud seat",
        "220.00",
        "3.000",
    )
    # after the save the line's picker shows the product by name
    expect(page.locator("[data-line-row] [data-picker-input]").first).to_have_value("Cloud seat")


def test_the_lists_bulk_owner_is_picked_by_name(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    user = _seller()
    peer = User.objects.create_user(
        username="pat", password=PASSWORD, first_name="Pat", last_name="Peer", team=user.team, role=user.role
    )
    ada = write("people", {"first_name": "Ada", "last_name": "Lovelace"}, actor=user)
    page = browser_page
    _sign_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/people/")
    page.check(f"input[name=ids][value='{ada.pk}']")
    page.select_option("#bulk-action", "assign_owner")
    owner = page.get_by_role("combobox", name="New owner")
    expect(owner).to_be_visible()
    owner.focus()
    page.keyboard.type("pat")
    expect(page.locator("#bulk-owner-options [role=option]")).to_have_text(["Pat Peer"])
    page.keyboard.press("Enter")
    expect(owner).to_have_value("Pat Peer")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".flash-success")).to_be_visible()
    ada.refresh_from_db()
    assert ada.owner == peer
