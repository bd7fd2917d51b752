"""The new-deal form on every path that opens it (the list, a board, a person's or a company's page):
it saves with its default values on the first submit, the pipeline and stage are preset and required,
the stage list belongs to the chosen pipeline, and an untouched probability follows the stage."""

from __future__ import annotations

import html as htmllib
import json
import re
from typing import Any

import pytest
from django.test import Client

from rapport.deals.models import Deal, Pipeline

from .conftest import write


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def submitted(page: str) -> dict[str, Any]:
    """What a browser sends for the deal form as rendered: every input's value, each select's
    selected option (or its first), repeated names as lists."""
    form = page[page.index('<form method="post"') :]
    form = form[: form.index("</form>")]
    form = re.sub(r"<template\b.*?</template>", "", form, flags=re.S)  # not sent: a picker's chip pattern
    out: dict[str, Any] = {}

    def put(name: str, value: str) -> None:
        value = htmllib.unescape(value)
        if name in out:
            out[name] = [*out[name], value] if isinstance(out[name], list) else [out[name], value]
        else:
            out[name] = value

    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or re.search(r'type="(checkbox|radio)"', tag) and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        put(name.group(1), value.group(1) if value else "")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        options = re.findall(r'<option value="([^"]*)"([^>]*)>', body)
        chosen = next((v for v, rest in options if "selected" in rest), options[0][0] if options else "")
        put(name, chosen)
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        put(name, text)
    return out


def options_of(page: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no select {name}"
    return [htmllib.unescape(label) for label in re.findall(r"<option [^>]*>([^<]*)</option>", select.group(1))]


@pytest.fixture
def pipeline(db: Any) -> Pipeline:
    return Pipeline.objects.get(name="Sales pipeline")


@pytest.fixture
def renewals(db: Any) -> Pipeline:
    p = Pipeline.objects.create(name="Renewals", position=5)
    p.stages.create(name="Old intake", position=0, probability=5, archived=True)
    p.stages.create(name="Due", position=1, probability=80)
    p.stages.create(name="Renewed", position=2, probability=100, kind="won")
    return p


def test_new_deal_from_a_person_saves_with_its_defaults_and_follows_the_stage(users, person, company, pipeline):
    c = client_for(users["member"])
    page = c.get(f"/deals/new/?person={person.pk}&company={company.pk}").content.decode()
    # pipeline and stage are preset and marked required
    assert re.search(r'<label for="id_pipeline">Pipeline <span class="req"', page)
    assert re.search(r'<label for="id_stage">Stage <span class="req"', page)
    data = submitted(page)
    qualification = pipeline.stages.get(name="Qualification")
    assert data["pipeline"] == str(pipeline.pk) and data["stage"] == str(qualification.pk)
    assert data["probability"] == "" and 'placeholder="10 (from the stage)"' in page
    assert data["company"] == str(company.pk) and data["contacts"] == str(person.pk)
    assert "status" not in data  # the stage decides it

    data["title"] = "Ada's pilot"
    response = c.post("/deals/new/", data)
    deal = Deal.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/deals/{deal.pk}/"
    assert deal.stage == qualification and deal.probability == 10 and not deal.probability_overridden
    assert deal.company == company and [c.person_id for c in deal.deal_contacts.all()] == [person.pk]
    assert deal.currency == "USD" and deal.owner == users["member"]

    # the edit form keeps following the stage: the box is empty, saving it unchanged keeps no override,
    # and a move to another stage takes that stage's probability
    edit = submitted(c.get(f"/deals/{deal.pk}/edit/").content.decode())
    assert edit["probability"] == ""
    edit["stage"] = str(pipeline.stages.get(name="Proposal").pk)
    assert c.post(f"/deals/{deal.pk}/edit/", edit).status_code == 302
    deal.refresh_from_db()
    assert deal.probability == 50 and not deal.probability_overridden


def test_a_typed_probability_is_an_override_and_shown_as_such(users, pipeline):
    c = client_for(users["member"])
    data = submitted(c.get("/deals/new/").content.decode())
    data.update(title="Big one", probability="35")
    assert c.post("/deals/new/", data).status_code == 302
    deal = Deal.objects.get()
    assert deal.probability == 35 and deal.probability_overridden
    edit = submitted(c.get(f"/deals/{deal.pk}/edit/").content.decode())
    assert edit["probability"] == "35"
    edit["probability"] = ""  # emptied: back to the stage's
    assert c.post(f"/deals/{deal.pk}/edit/", edit).status_code == 302
    deal.refresh_from_db()
    assert deal.probability == 10 and not deal.probability_overridden


def test_from_a_board_the_pipeline_is_the_boards_and_the_stages_are_its_own(users, pipeline, renewals):
    c = client_for(users["member"])
    board = c.get(f"/deals/board/?pipeline={renewals.pk}").content.decode()
    assert f'href="/deals/new/?pipeline={renewals.pk}"' in board
    page = c.get(f"/deals/new/?pipeline={renewals.pk}").content.decode()
    data = submitted(page)
    due = renewals.stages.get(name="Due")
    assert data["pipeline"] == str(renewals.pk) and data["stage"] == str(due.pk)  # the archived one is skipped
    assert options_of(page, "stage") == ["Due", "Renewed"]
    assert options_of(page, "pipeline") == ["Sales pipeline", "Renewals"]
    # the other pipelines' stages travel with the select, for a change of pipeline without reload
    stage_tag = re.search(r'<select id="id_stage"[^>]*>', page).group(0)
    options = json.loads(htmllib.unescape(re.search(r'data-options="([^"]*)"', stage_tag).group(1)))
    defaults = json.loads(htmllib.unescape(re.search(r'data-defaults="([^"]*)"', stage_tag).group(1)))
    assert [label for _, label in options[str(pipeline.pk)]][:2] == ["Qualification", "Needs analysis"]
    qualification = pipeline.stages.get(name="Qualification")
    assert defaults == {str(pipeline.pk): str(qualification.pk), str(renewals.pk): str(due.pk)}

    data["title"] = "Renewal 2027"
    assert c.post("/deals/new/", data).status_code == 302
    deal = Deal.objects.get()
    assert deal.pipeline == renewals and deal.stage == due and deal.probability == 80
    assert not deal.probability_overridden
    # a pipeline id that is not one (or not in use) falls back to the default
    other = submitted(c.get("/deals/new/?pipeline=999").content.decode())
    assert other["pipeline"] == str(pipeline.pk)


def test_from_the_list_the_default_pipeline_and_its_first_open_stage(users, pipeline, renewals):
    page = client_for(users["member"]).get("/deals/new/").content.decode()
    data = submitted(page)
    assert data["pipeline"] == str(pipeline.pk)
    assert data["stage"] == str(pipeline.stages.get(name="Qualification").pk)
    assert options_of(page, "stage") == ["Qualification", "Needs analysis", "Proposal", "Negotiation", "Won", "Lost"]


def test_errors_name_the_field_once_in_words(users, pipeline, renewals):
    c = client_for(users["member"])
    data = submitted(c.get("/deals/new/").content.decode())
    data.update(title="Mixed", pipeline="", stage="")
    page = c.post("/deals/new/", data).content.decode()
    assert "may not be null" not in page
    assert page.count("Choose a pipeline.") == 1
    # a stage of another pipeline is named, and the form comes back with the chosen pipeline's stages
    data.update(pipeline=str(renewals.pk), stage=str(pipeline.stages.get(name="Proposal").pk))
    response = c.post("/deals/new/", data)
    page = response.content.decode()
    assert response.status_code == 400 and "Proposal is not a stage of the pipeline Renewals." in page
    assert options_of(page, "stage") == ["Due", "Renewed"]
    assert not Deal.objects.exists()


def test_a_company_page_opens_the_form_with_the_company(users, company, pipeline):
    c = client_for(users["member"])
    section = c.get(f"/deals/related/?company={company.pk}").content.decode()
    assert f'href="/deals/new/?company={company.pk}"' in section
    data = submitted(c.get(f"/deals/new/?company={company.pk}").content.decode())
    data["title"] = "Acme expansion"
    assert c.post("/deals/new/", data).status_code == 302
    deal = Deal.objects.get()
    assert deal.company == company and deal.probability == 10 and not deal.probability_overridden


def test_an_archived_pipeline_stays_on_its_deals_form(users, renewals):
    deal = write("deals", {"title": "Old", "pipeline": renewals.pk}, actor=users["member"])
    renewals.archived = True
    renewals.save()
    page = client_for(users["member"]).get(f"/deals/{deal.pk}/edit/").content.decode()
    assert submitted(page)["pipeline"] == str(renewals.pk)
    assert "Renewals" in options_of(page, "pipeline")
