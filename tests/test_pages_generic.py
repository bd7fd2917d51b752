"""Every registered type's pages answer for every role: list, detail, new and edit forms, export.

Walks the registry like the API suite, so a new type's pages are checked the day it is registered.
"""

from __future__ import annotations

import pytest
from django.test import Client

from rapport.core import registry

from .test_api_generic import example, make

# Every type team-scoped here, products too (see conftest.team_scoped_catalogue).
pytestmark = pytest.mark.usefixtures("team_scoped_catalogue")

TYPES = registry.keys()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("type_key", TYPES)
def test_pages_of_every_type(type_key, users):
    record = make(type_key, users["member"], 1)
    member = client_for(users["member"])
    assert member.get(f"/{type_key}/").status_code == 200
    detail = member.get(f"/{type_key}/{record.pk}/")
    assert detail.status_code == 200
    assert str(record).split()[0] in detail.content.decode()
    assert member.get(f"/{type_key}/new/").status_code == 200
    assert member.get(f"/{type_key}/{record.pk}/edit/").status_code == 200
    assert member.get(f"/{type_key}/export/?format=csv").status_code == 200
    outsider = client_for(users["outsider"])
    assert outsider.get(f"/{type_key}/{record.pk}/").status_code == 404
    assert outsider.get(f"/{type_key}/{record.pk}/edit/").status_code == 404
    readonly = client_for(users["read-only"])
    assert readonly.get(f"/{type_key}/{record.pk}/").status_code == 200
    assert readonly.get(f"/{type_key}/{record.pk}/edit/").status_code in (403, 404)


@pytest.mark.parametrize("type_key", TYPES)
def test_html_in_titles_is_escaped_everywhere(type_key, users):
    data = example(type_key, 2)
    title_field = registry.get(type_key).title_fields[-1]
    data[title_field] = "<script>alert(1)</script>"
    from .conftest import write

    record = write(type_key, data, actor=users["member"])
    member = client_for(users["member"])
    for url in (f"/{type_key}/", f"/{type_key}/{record.pk}/", "/search/?q=alert"):
        body = member.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body, url


def test_deal_form_creates_and_edits_a_deal(users, company, person):
    from rapport.deals.models import Deal, Pipeline

    pipeline = Pipeline.objects.get(name="Sales pipeline")
    proposal = pipeline.stages.get(name="Proposal")
    member = client_for(users["member"])
    form = member.get(f"/deals/new/?company={company.pk}").content.decode()
    assert 'name="stage"' in form and ">Proposal</option>" in form and 'name="line_items' not in form
    response = member.post(
        "/deals/new/",
        {
            "title": "Form deal",
            "pipeline": pipeline.pk,
            "stage": proposal.pk,
            "amount": "1500",
            "currency": "eur",
            "company": company.pk,
            "contacts": person.pk,
            "contacts_role": "champion",
            "owner": users["member"].pk,
            "forecast_category": "commit",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    deal = Deal.objects.get(title="Form deal")
    assert (deal.stage, deal.currency, deal.probability, deal.company) == (proposal, "EUR", 50, company)
    assert list(deal.deal_contacts.values_list("person_id", "role")) == [(person.pk, "champion")]
    edit = member.get(f"/deals/{deal.pk}/edit/").content.decode()
    assert f'value="{proposal.pk}" selected' in edit


def test_deal_history_names_stages_and_reasons(users):
    from rapport.deals import services as sales
    from rapport.deals.models import LostReason, Pipeline

    from .conftest import write

    deal = write("deals", {"title": "Named"}, actor=users["member"])
    sales.mark_lost(deal, reason=LostReason.objects.get(name="Timing"), actor=users["member"], source="ui")
    # The deal page's history is its timeline's Changes tab.
    history = client_for(users["member"]).get(f"/deals/{deal.pk}/timeline/", {"kind": "changes"}).content.decode()
    assert "Qualification" in history and "Lost" in history and "Timing" in history
    stage_id = Pipeline.objects.get(name="Sales pipeline").stages.get(name="Lost").pk
    assert f">{stage_id}<" not in history
