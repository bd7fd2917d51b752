"""Sales API: pipelines and stages, deal moves with If-Match, concurrency of two moves."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from rapport.accounts.models import ApiToken, Team
from rapport.core.models import Event
from rapport.deals.models import Deal, LostReason, Pipeline, StageChange

from .conftest import default_pipeline, make_user, write


def post(client, url, data, **extra):
    return client.post(url, json.dumps(data), content_type="application/json", **extra)


def test_pipelines_list_stages_in_order(users, api_client_for):
    body = api_client_for(users["read-only"]).get("/api/v1/pipelines/").json()
    stages = body["results"][0]["stages"]
    assert [s["name"] for s in stages][:2] == ["Qualification", "Needs analysis"]
    assert {s["kind"] for s in stages} == {"open", "won", "lost"}
    reasons = api_client_for(users["member"]).get("/api/v1/lost-reasons/").json()["results"]
    assert "Price" in [r["name"] for r in reasons]


def test_move_with_if_match_and_lost_reason(users, api_client_for):
    deal = write("deals", {"title": "Seats", "amount": "1000"}, actor=users["member"])
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    proposal, lost = pipeline.stages.get(name="Proposal"), pipeline.stages.get(name="Lost")
    client = api_client_for(users["member"])
    etag = client.get(f"/api/v1/deals/{deal.pk}/")["ETag"]
    moved = post(client, f"/api/v1/deals/{deal.pk}/move/", {"stage": proposal.pk}, HTTP_IF_MATCH=etag)
    assert moved.status_code == 200, moved.content
    assert moved.json()["stage"]["name"] == "Proposal" and moved.json()["probability"] == 50
    stale = post(client, f"/api/v1/deals/{deal.pk}/move/", {"stage": lost.pk}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    no_reason = post(client, f"/api/v1/deals/{deal.pk}/move/", {"stage": lost.pk}, HTTP_IF_MATCH=moved["ETag"])
    assert no_reason.status_code == 400 and "lost_reason" in no_reason.json()["fields"]
    reason = LostReason.objects.get(name="Timing")
    done = post(
        client,
        f"/api/v1/deals/{deal.pk}/move/",
        {"stage": lost.pk, "lost_reason": reason.pk},
        HTTP_IF_MATCH=moved["ETag"],
    )
    assert done.status_code == 200 and done.json()["status"] == "lost"
    assert done.json()["lost_reason"] == {"id": reason.pk, "name": "Timing"}


def test_move_respects_visibility(users, api_client_for):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    stage = Pipeline.objects.get(name="Sales pipeline").stages.get(name="Proposal")
    assert (
        post(api_client_for(users["outsider"]), f"/api/v1/deals/{deal.pk}/move/", {"stage": stage.pk}).status_code
        == 404
    )
    assert (
        post(api_client_for(users["read-only"]), f"/api/v1/deals/{deal.pk}/move/", {"stage": stage.pk}).status_code
        == 403
    )
    assert Deal.objects.get(pk=deal.pk).stage.name == "Qualification"


def test_deal_list_filters(users, api_client_for):
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    a = write("deals", {"title": "A", "expected_close_date": "2027-01-15"}, actor=users["member"])
    b = write("deals", {"title": "B", "expected_close_date": "2027-03-01", "status": "won"}, actor=users["member"])
    client = api_client_for(users["member"])

    def ids(**params):
        response = client.get("/api/v1/deals/", params)
        assert response.status_code == 200, response.content
        return sorted(r["id"] for r in response.json()["results"])

    assert ids(status="won") == [b.pk]
    assert ids(pipeline=str(pipeline.pk)) == sorted([a.pk, b.pk])
    assert ids(stage=str(pipeline.stages.get(name="Qualification").pk)) == [a.pk]
    assert ids(close_date__gte="2027-02-01") == [b.pk]
    assert ids(close_date__lte="2027-01-15") == [a.pk]
    assert ids(owner="me", status="open") == [a.pk]
    row = next(r for r in client.get("/api/v1/deals/").json()["results"] if r["id"] == a.pk)
    assert row["stage"]["name"] == "Qualification" and row["pipeline"]["name"] == "Sales pipeline"


@pytest.mark.django_db(transaction=True)
def test_two_clients_moving_the_same_deal_exactly_one_wins():
    default_pipeline()
    team = Team.objects.create(name="T")
    user = make_user("mover", "admin", team)
    deal = write("deals", {"title": "Race"}, actor=user)
    pipeline = deal.pipeline
    targets = [pipeline.stages.get(name="Proposal"), pipeline.stages.get(name="Negotiation")]
    etag = deal.etag
    raws = [ApiToken.issue(user, name=f"t{i}", scope="read-write")[1] for i in range(2)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def move(raw: str, stage_id: int) -> None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        barrier.wait()
        response = post(client, f"/api/v1/deals/{deal.pk}/move/", {"stage": stage_id}, HTTP_IF_MATCH=etag)
        results.append(response.status_code)
        connection.close()

    threads = [threading.Thread(target=move, args=(raw, s.pk)) for raw, s in zip(raws, targets, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    deal.refresh_from_db()
    changes = list(StageChange.objects.filter(deal=deal).order_by("id"))
    assert len(changes) == 2 and changes[-1].to_stage_id == deal.stage_id
    updates = Event.objects.filter(type_key="deals", record_id=deal.pk, kind="updated")
    assert updates.count() == 1 and updates.get().changes["stage"][1] == deal.stage_id


def test_pipelines_and_stages_are_managed_through_the_api(users, api_client_for):
    admin = api_client_for(users["admin"])
    created = post(admin, "/api/v1/pipelines/", {"name": "Renewals"})
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    assert [s["kind"] for s in created.json()["stages"]] == ["open", "won", "lost"]
    assert post(admin, "/api/v1/pipelines/", {"name": "renewals"}).status_code == 400  # names are unique
    stage = post(admin, f"/api/v1/pipelines/{pid}/stages/", {"name": "Due", "probability": 60, "rotting_days": 7})
    assert stage.status_code == 201 and stage.json()["probability"] == 60
    bad = post(admin, f"/api/v1/pipelines/{pid}/stages/", {"name": "X", "probability": 140})
    assert bad.status_code == 400 and "probability" in bad.json()["fields"]
    order = [s["id"] for s in admin.get(f"/api/v1/pipelines/{pid}/").json()["stages"]]
    order = [order[-1], *order[:-1]]
    moved = admin.patch(
        f"/api/v1/pipelines/{pid}/", json.dumps({"stage_order": order}), content_type="application/json"
    )
    assert moved.status_code == 200 and [s["id"] for s in moved.json()["stages"]] == order
    member = api_client_for(users["manager"])
    assert post(member, "/api/v1/pipelines/", {"name": "Mine"}).status_code == 403
    assert (
        member.patch(
            f"/api/v1/stages/{stage.json()['id']}/", json.dumps({"name": "Y"}), content_type="application/json"
        ).status_code
        == 403
    )


def test_changing_a_stage_probability_moves_the_deals_that_follow_it(users, api_client_for):
    pipeline = Pipeline.objects.get(name="Sales pipeline")
    qualification = pipeline.stages.get(name="Qualification")
    follows = write("deals", {"title": "Follows"}, actor=users["member"])
    fixed = write("deals", {"title": "Fixed", "probability": 33}, actor=users["member"])
    response = api_client_for(users["admin"]).patch(
        f"/api/v1/stages/{qualification.pk}/", json.dumps({"probability": 20}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    follows.refresh_from_db()
    fixed.refresh_from_db()
    assert (follows.probability, fixed.probability) == (20, 33)
