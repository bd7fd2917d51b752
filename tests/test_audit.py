"""The settings audit trail: every settings service writes who, when, what and before → after in
the same transaction; administrators read it on /settings/audit/ and /api/v1/audit/."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from rapport.accounts import services as account_services
from rapport.core import audit
from rapport.core.models import AuditEntry
from rapport.deals import pipelines
from rapport.deals.models import Pipeline
from rapport.forecasting import services as api_money


def entries():
    return list(AuditEntry.objects.order_by("id"))


def last():
    return AuditEntry.objects.order_by("-id").first()


@pytest.fixture
def pipeline(db):
    return Pipeline.objects.get(name="Sales pipeline")


def test_every_settings_service_leaves_an_entry_with_before_and_after(users, teams, pipeline):
    admin = users["admin"]
    n = AuditEntry.objects.count()

    team = account_services.create_team(name="North", actor=admin)
    assert (last().kind, last().action, last().changes) == ("team", "created", {"name": [None, "North"]})
    account_services.rename_team(team, name="Nord", actor=admin)
    assert last().changes == {"name": ["North", "Nord"]}
    assert (last().actor_id, last().actor_name, last().object_label) == (admin.pk, "Admin", "Nord")

    member = users["member"]
    account_services.update_user(member, actor=admin, team=team)
    assert (last().kind, last().object_label, last().changes) == (
        "user",
        "member",
        {"team": [teams["east"].pk, team.pk]},
    )
    account_services.delete_team(team, actor=admin)
    assert [(e.kind, e.action) for e in entries()[-2:]] == [("user", "changed"), ("team", "deleted")]
    assert last().changes == {"members": [["member"], None], "name": ["Nord", None]}

    role = users["member"].role
    matrix = account_services.grants_matrix(role, ["deals"])
    matrix["deals"]["delete"] = "team"
    account_services.set_role_grants(role, matrix, actor=admin)
    assert last().kind == "role" and last().changes["deals: delete"] == ["own", "team"]

    proposal = pipeline.stages.get(name="Proposal")
    pipelines.update_stage(proposal, name="Offer", probability=40, rotting_days=10, actor=admin)
    assert last().changes == {"name": ["Proposal", "Offer"], "probability": [50, 40], "rotting_days": [21, 10]}
    assert last().object_label == "Sales pipeline · Offer"
    pipelines.move_stage(proposal, -1, actor=admin)
    assert last().kind == "pipeline" and list(last().changes) == ["stage_order"]
    before, after = last().changes["stage_order"]
    assert before.index("Offer") == after.index("Offer") + 1

    api_money.add_exchange_rate(
        {"currency": "EUR", "rate": Decimal("1.1"), "valid_from": dt.date(2026, 1, 1)}, actor=admin
    )
    assert (last().kind, last().object_label, last().changes["rate"]) == (
        "exchange_rate",
        "EUR from 2026-01-01",
        [None, "1.1"],
    )
    data = {"user": member, "period": "quarter", "period_start": dt.date(2026, 1, 1), "amount": Decimal("1000.00")}
    quota = api_money.set_quota(data, actor=admin)
    assert last().action == "created"
    api_money.set_quota({**data, "amount": Decimal("1500.00")}, actor=admin)
    assert (last().action, last().changes) == ("changed", {"amount": ["1000.00", "1500.00"]})
    api_money.delete_quota(quota, actor=admin)
    assert last().action == "deleted"

    # a change that changes nothing writes nothing
    count = AuditEntry.objects.count()
    pipelines.rename_pipeline(pipeline, "Sales pipeline", actor=admin)
    assert AuditEntry.objects.count() == count
    assert count - n == 12


def test_a_refused_change_leaves_no_entry(users, pipeline):
    count = AuditEntry.objects.count()
    with pytest.raises(ValidationError):
        pipelines.set_pipeline_archived(pipeline, True, actor=users["admin"])  # the only one in use
    with pytest.raises(ValidationError):
        pipelines.add_lost_reason("", actor=users["admin"])
    assert AuditEntry.objects.count() == count


def test_custom_field_changes_are_recorded_and_search_follows_searchable(users, person):
    from rapport.core import customfields, search

    from .conftest import write

    admin = users["admin"]
    data = {"label": "Nickname", "field_type": "text", "searchable": False}
    field = customfields.create_field("people", "nickname", data, actor=admin)
    assert (last().kind, last().action, last().changes["searchable"]) == ("custom_field", "created", [None, False])
    assert last().object_label == "Nickname (people)"
    write("people", {"custom": {"nickname": "Countess"}}, actor=users["member"], instance=person)
    assert search.search(admin, "countess") == []
    customfields.update_field(field, {"searchable": True}, actor=admin)
    assert last().changes == {"searchable": [False, True]}
    assert [h.record_id for h in search.search(admin, "countess")] == [person.pk]  # reindexed
    customfields.delete_field(field, actor=admin)
    assert last().action == "deleted"
    assert search.search(admin, "countess") == []
    # a value left in the JSON shows again in search when its field is defined again
    customfields.create_field("people", "nickname", {**data, "searchable": True}, actor=admin)
    assert [h.record_id for h in search.search(admin, "countess")] == [person.pk]


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_the_audit_page_lists_changes_in_human_words_newest_first(users, pipeline):
    admin = users["admin"]
    pipelines.rename_pipeline(pipeline, "New business", actor=admin)
    account_services.create_team(name="North", actor=users["manager"])
    html = client_for(admin).get("/settings/audit/").content.decode()
    assert html.index("Manager created team North") < html.index("Admin changed pipeline New business")
    assert "Sales pipeline</td>" in html and "New business</td>" in html
    # filters: by kind and by actor
    html = client_for(admin).get("/settings/audit/?kind=team").content.decode()
    assert "created team North" in html and "pipeline New business" not in html
    html = client_for(admin).get(f"/settings/audit/?actor={admin.pk}").content.decode()
    assert "pipeline New business" in html and "team North" not in html
    response = client_for(admin).get("/settings/audit/?kind=spaceship")
    assert response.status_code == 400 and "kind: choose one of" in response.content.decode()
    # only settings managers
    assert client_for(users["member"]).get("/settings/audit/").status_code == 403
    assert client_for(users["manager"]).get("/settings/audit/").status_code == 403


def test_the_audit_page_pages_by_keyset(users, pipeline, django_assert_max_num_queries):
    admin = users["admin"]
    for i in range(audit.PAGE_SIZE + 5):
        pipelines.rename_pipeline(pipeline, f"Pipeline {i}", actor=admin)
    client = client_for(admin)
    first = client.get("/settings/audit/?kind=pipeline").content.decode()
    assert "Pipeline 54</td>" in first and "Pipeline 5</td>" in first and "Pipeline 3</td>" not in first
    newest_on_second = AuditEntry.objects.filter(kind="pipeline").order_by("-id")[audit.PAGE_SIZE - 1].id
    assert f"cursor={newest_on_second}" in first and "kind=pipeline" in first
    with django_assert_max_num_queries(8):
        second = client.get(f"/settings/audit/?kind=pipeline&cursor={newest_on_second}").content.decode()
    assert "Pipeline 3</td>" in second and "Pipeline 10</td>" not in second and 'rel="next"' not in second


def test_audit_api_for_admins_only(users, pipeline, api_client_for):
    admin = users["admin"]
    pipelines.set_pipeline_archived(pipeline, False, actor=admin)  # no change: no entry
    pipelines.create_pipeline("Renewals", actor=admin)
    response = api_client_for(admin).get("/api/v1/audit/?kind=pipeline&page_size=1")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    [entry] = body["results"]
    assert entry["summary"] == "Admin created pipeline Renewals"
    assert entry["actor"] == {"id": admin.pk, "name": "Admin"}
    assert entry["changes"] == [
        {"field": "name", "before": None, "after": "Renewals"},
        {"field": "stages", "before": None, "after": ["New", "Won", "Lost"]},
    ]
    # keyset pages: the next link carries the cursor and the filters
    pipelines.rename_pipeline(Pipeline.objects.get(name="Renewals"), "Renewals 2027", actor=admin)
    api = api_client_for(admin)
    first = api.get("/api/v1/audit/?kind=pipeline&page_size=1").json()
    assert [e["summary"] for e in first["results"]] == ["Admin changed pipeline Renewals 2027"]
    assert "kind=pipeline" in first["next"] and "cursor=" in first["next"]
    second = api.get(first["next"]).json()
    assert [e["summary"] for e in second["results"]] == ["Admin created pipeline Renewals"]
    assert second["next"] is None
    assert api_client_for(users["manager"]).get("/api/v1/audit/").status_code == 403
    assert api_client_for(admin).get("/api/v1/audit/?colour=red").status_code == 400
    assert api_client_for(admin).get("/api/v1/audit/?actor=x").status_code == 400


@pytest.mark.parametrize("value", ["²", "9" * 30, "-1", "1.5"])
def test_audit_filters_refuse_odd_ids(users, api_client_for, value):
    api = api_client_for(users["admin"])
    for name in ("actor", "cursor"):
        response = api.get("/api/v1/audit/", {name: value})
        assert response.status_code == 400
        assert name in response.json()["fields"]


def test_links_read_by_the_names_they_had_and_amounts_with_separators(users, teams):
    admin, member = users["admin"], users["member"]
    south = account_services.create_team(name="South", actor=admin)
    account_services.update_user(member, actor=admin, team=south)
    moved = last()
    assert moved.changes == {"team": [teams["east"].pk, south.pk]}  # the API keeps ids
    account_services.rename_team(south, name="Southern", actor=admin)
    account_services.delete_team(teams["east"], actor=admin)
    shown = audit.describe(moved)["changes"]
    # The names as they were when the user moved, though East is gone and South was renamed since.
    assert shown == [{"field": "Team", "before": "East", "after": "South"}]

    data = {"user": member, "period": "quarter", "period_start": dt.date(2026, 1, 1), "amount": Decimal("125000.50")}
    api_money.set_quota(data, actor=admin)
    shown = {c["field"]: (c["before"], c["after"]) for c in audit.describe(last())["changes"]}
    assert shown["User"] == ("—", "Member")
    assert shown["Amount"] == ("—", "125,000.50")
