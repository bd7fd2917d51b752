"""Pipelines settings: pipelines, stages (order, archive, delete with their deals moved) and lost reasons."""

from __future__ import annotations

import pytest
from django.test import Client

from rapport.core.models import Event
from rapport.deals.models import Deal, LostReason, Pipeline, Stage, StageChange

from .conftest import write


@pytest.fixture
def pipeline(db):
    return Pipeline.objects.get(name="Sales pipeline")


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def names(pipeline):
    return list(pipeline.stages.order_by("position", "id").values_list("name", flat=True))


def test_only_settings_managers_reach_the_pages(users, pipeline):
    member = client_for(users["member"])
    assert member.get("/settings/pipelines/").status_code == 403
    assert member.post(f"/settings/pipelines/{pipeline.pk}/", {"action": "rename", "name": "X"}).status_code == 403
    stage = pipeline.stages.first()
    assert member.post(f"/settings/stages/{stage.pk}/", {"action": "up"}).status_code == 403
    assert member.post(f"/settings/stages/{stage.pk}/delete/").status_code == 403
    assert member.post("/settings/lost-reasons/", {"name": "Timing"}).status_code == 403
    pipeline.refresh_from_db()
    assert pipeline.name == "Sales pipeline"
    admin = client_for(users["admin"])
    html = admin.get("/settings/pipelines/").content.decode()
    assert "Sales pipeline" in html and "Price" in html
    html = admin.get(f"/settings/pipelines/{pipeline.pk}/").content.decode()
    assert "Needs analysis" in html and "Negotiation" in html


def test_create_rename_and_archive_a_pipeline(users, pipeline):
    admin = client_for(users["admin"])
    response = admin.post("/settings/pipelines/", {"name": "Renewals"})
    renewals = Pipeline.objects.get(name="Renewals")
    assert response["Location"] == f"/settings/pipelines/{renewals.pk}/"
    assert [(s.name, s.kind) for s in renewals.stages.order_by("position")] == [
        ("New", "open"),
        ("Won", "won"),
        ("Lost", "lost"),
    ]
    response = admin.post("/settings/pipelines/", {"name": "renewals"}, follow=True)
    assert "already a pipeline called renewals" in response.content.decode()
    assert Pipeline.objects.count() == 2
    admin.post(f"/settings/pipelines/{renewals.pk}/", {"action": "rename", "name": "Renewals 2026"})
    renewals.refresh_from_db()
    assert renewals.name == "Renewals 2026"
    response = admin.post(f"/settings/pipelines/{renewals.pk}/", {"action": "rename", "name": "  "}, follow=True)
    assert "Give it a name." in response.content.decode()
    admin.post(f"/settings/pipelines/{renewals.pk}/", {"action": "archive"})
    renewals.refresh_from_db()
    assert renewals.archived
    # The board defaults to the first pipeline in use and lists only those.
    html = admin.get("/deals/board/").content.decode()
    assert "Renewals 2026" not in html[html.index('name="pipeline"') :]
    # The last pipeline in use cannot be archived.
    response = admin.post(f"/settings/pipelines/{pipeline.pk}/", {"action": "archive"}, follow=True)
    assert "at least one pipeline" in response.content.decode()
    assert not Pipeline.objects.get(pk=pipeline.pk).archived


def test_reorder_add_and_edit_stages(users, pipeline):
    admin = client_for(users["admin"])
    proposal = pipeline.stages.get(name="Proposal")
    admin.post(f"/settings/stages/{proposal.pk}/", {"action": "up"})
    assert names(pipeline)[:4] == ["Qualification", "Proposal", "Needs analysis", "Negotiation"]
    admin.post(f"/settings/stages/{proposal.pk}/", {"action": "down"})
    admin.post(f"/settings/stages/{proposal.pk}/", {"action": "down"})
    assert names(pipeline)[:4] == ["Qualification", "Needs analysis", "Negotiation", "Proposal"]
    admin.post(
        f"/settings/pipelines/{pipeline.pk}/",
        {"action": "add_stage", "name": "Demo", "probability": "30", "rotting_days": "14", "kind": "open"},
    )
    demo = pipeline.stages.get(name="Demo")
    assert (demo.probability, demo.rotting_days, demo.kind) == (30, 14, "open")
    response = admin.post(
        f"/settings/pipelines/{pipeline.pk}/", {"action": "add_stage", "name": "Bad", "probability": "130"}, follow=True
    )
    assert "from 0 to 100" in response.content.decode()
    assert not pipeline.stages.filter(name="Bad").exists()
    admin.post(
        f"/settings/stages/{demo.pk}/",
        {"action": "update", "name": "Product demo", "probability": "35", "rotting_days": "", "kind": "open"},
    )
    demo.refresh_from_db()
    assert (demo.name, demo.probability, demo.rotting_days) == ("Product demo", 35, None)


def test_archive_a_stage_and_keep_one_open_stage(users, pipeline):
    admin = client_for(users["admin"])
    qualification = pipeline.stages.get(name="Qualification")
    deal = write("deals", {"title": "Held"}, actor=users["member"])
    response = admin.post(f"/settings/stages/{qualification.pk}/", {"action": "archive"}, follow=True)
    assert "holds 1 deal" in response.content.decode()
    assert not Stage.objects.get(pk=qualification.pk).archived
    needs = pipeline.stages.get(name="Needs analysis")
    admin.post(f"/settings/stages/{needs.pk}/", {"action": "archive"})
    assert Stage.objects.get(pk=needs.pk).archived
    html = admin.get("/deals/board/").content.decode()
    assert f'data-stage-col="{needs.pk}"' not in html
    for name in ("Proposal", "Negotiation"):
        admin.post(f"/settings/stages/{pipeline.stages.get(name=name).pk}/", {"action": "archive"})
    sales_deal = Deal.objects.get(pk=deal.pk)
    from rapport.deals import services

    services.mark_won(sales_deal, actor=users["member"], source="ui")
    response = admin.post(f"/settings/stages/{qualification.pk}/", {"action": "archive"}, follow=True)
    assert "at least one open stage" in response.content.decode()
    assert not Stage.objects.get(pk=qualification.pk).archived


def test_deleting_a_stage_with_deals_needs_a_target_and_moves_them(users, pipeline):
    admin = client_for(users["admin"])
    proposal = pipeline.stages.get(name="Proposal")
    negotiation = pipeline.stages.get(name="Negotiation")
    deals = [write("deals", {"title": f"D{i}", "stage": proposal.pk}, actor=users["member"]) for i in range(2)]
    page = admin.get(f"/settings/stages/{proposal.pk}/delete/").content.decode()
    assert "holds 2 deals" in page and "Negotiation" in page
    response = admin.post(f"/settings/stages/{proposal.pk}/delete/")
    assert response.status_code == 400 and "choose a stage to move them to" in response.content.decode()
    assert Stage.objects.filter(pk=proposal.pk).exists()
    response = admin.post(f"/settings/stages/{proposal.pk}/delete/", {"target": "999999"})
    assert response.status_code == 400 and Stage.objects.filter(pk=proposal.pk).exists()

    response = admin.post(f"/settings/stages/{proposal.pk}/delete/", {"target": negotiation.pk})
    assert response.status_code == 302
    assert not Stage.objects.filter(pk=proposal.pk).exists()
    for d in deals:
        d.refresh_from_db()
        assert d.stage_id == negotiation.pk and d.probability == 75
        assert StageChange.objects.filter(deal=d, to_stage=negotiation).count() == 1
        event = Event.objects.get(type_key="deals", record_id=d.pk, kind="updated")
        assert event.source == "ui" and event.actor == users["admin"] and "stage" in event.changes
    assert names(pipeline) == ["Qualification", "Needs analysis", "Negotiation", "Won", "Lost"]
    positions = list(pipeline.stages.order_by("position").values_list("position", flat=True))
    assert positions == [0, 1, 2, 3, 4]


def test_an_empty_stage_is_deleted_but_not_the_last_open_one(users):
    admin = client_for(users["admin"])
    admin.post("/settings/pipelines/", {"name": "Tiny"})
    tiny = Pipeline.objects.get(name="Tiny")
    new = tiny.stages.get(name="New")
    response = admin.post(f"/settings/stages/{new.pk}/delete/")
    assert response.status_code == 400 and "at least one open stage" in response.content.decode()
    won = tiny.stages.get(kind="won")
    assert admin.post(f"/settings/stages/{won.pk}/delete/").status_code == 302
    assert not Stage.objects.filter(pk=won.pk).exists()


def test_lost_reasons_add_rename_deactivate(users, pipeline):
    admin = client_for(users["admin"])
    admin.post("/settings/lost-reasons/", {"name": "Timing"})
    timing = LostReason.objects.get(name="Timing")
    response = admin.post("/settings/lost-reasons/", {"name": "timing"}, follow=True)
    assert "already a lost reason" in response.content.decode()
    admin.post(f"/settings/lost-reasons/{timing.pk}/", {"action": "rename", "name": "Bad timing"})
    timing.refresh_from_db()
    assert timing.name == "Bad timing"
    admin.post(f"/settings/lost-reasons/{timing.pk}/", {"action": "deactivate"})
    timing.refresh_from_db()
    assert not timing.active
    html = admin.get("/deals/board/").content.decode()
    assert "Bad timing" not in html[html.index("<dialog") :]  # not offered in the lost dialog
    admin.post(f"/settings/lost-reasons/{timing.pk}/", {"action": "activate"})
    assert LostReason.objects.get(pk=timing.pk).active
