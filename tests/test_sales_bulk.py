"""The bulk deal generator behind the sales benchmark: its rows obey the same rules as deals made
through the write path, and each deal has its created event, first stage change and search entry."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from rapport.core import search
from rapport.core.models import Event, SearchEntry
from rapport.deals.bulk import RENEWALS, load_deals
from rapport.deals.models import Deal, Pipeline, StageChange
from rapport.forecasting.money import Rates

from .conftest import write


@pytest.fixture
def loaded(users, company):
    write("companies", {"name": "Zyxwv Instruments", "domain": "zyxwv.com"}, actor=users["outsider"])
    result = load_deals(300, open_in_pipeline=100, batch=70, seed=3)
    return result


def test_counts_and_split_between_pipelines(loaded):
    main = Pipeline.objects.get(name="Sales pipeline")
    assert loaded.pipeline_id == main.pk and loaded.deals == 300
    assert Deal.objects.live().count() == 300
    assert Deal.objects.filter(pipeline=main, status="open").count() == 100
    renewals = Pipeline.objects.get(name=RENEWALS)
    assert renewals.stages.filter(kind="won").exists() and renewals.stages.filter(kind="lost").exists()
    statuses = Counter(Deal.objects.values_list("status", flat=True))
    assert statuses["won"] > 0 and statuses["lost"] > 0 and statuses["open"] > 100
    assert Deal.objects.filter(pipeline=renewals, status="open").count() == statuses["open"] - 100


def test_rows_follow_the_write_rules(loaded):
    today = timezone.localdate()
    rates = Rates()
    deals = list(Deal.objects.select_related("stage", "owner", "pipeline"))
    assert {d.currency for d in deals} == {"USD", "EUR", "GBP"}
    for deal in deals:
        assert deal.stage.pipeline_id == deal.pipeline_id
        assert deal.status == deal.stage.kind
        assert deal.team_id == deal.owner.team_id  # a record's team is its owner's team
        assert deal.amount is not None and deal.amount > 0 and isinstance(deal.amount, Decimal)
        if deal.status == "open":
            assert deal.closed_on is None and deal.lost_reason_id is None
            assert deal.probability == deal.stage.probability
            assert deal.forecast_category in ("pipeline", "best_case", "commit")
            assert -90 <= (deal.expected_close_date - today).days <= 183
            assert rates.to_base(deal.amount, deal.currency, deal.expected_close_date) is not None
        else:
            assert deal.forecast_category == "closed"
            assert deal.closed_on is not None and 0 <= (today - deal.closed_on).days < 365
            assert deal.probability == (100 if deal.status == "won" else 0)
            assert (deal.lost_reason_id is not None) == (deal.status == "lost")
            assert rates.to_base(deal.amount, deal.currency, deal.closed_on) is not None
        assert deal.created_at <= deal.stage_entered_at <= timezone.now()
        # The write path's own rule changes nothing on a generated row.
        before = deal.snapshot()
        kept = (deal.status, deal.probability, deal.closed_on, deal.forecast_category, deal.lost_reason_id)
        deal.prepare_write(before, {})
        assert (deal.status, deal.probability, deal.closed_on, deal.forecast_category, deal.lost_reason_id) == kept


def test_each_deal_has_its_created_event_and_first_stage_change(loaded):
    deals = dict(Deal.objects.values_list("id", "stage_id"))
    events = list(Event.objects.filter(type_key="deals"))
    assert sorted(e.record_id for e in events) == sorted(deals)
    assert all(e.kind == "created" and e.dispatched_at is not None for e in events)
    sample = next(e for e in events if e.changes.get("status") == [None, "lost"])
    assert sample.changes["stage"] == [None, deals[sample.record_id]] and sample.changes["lost_reason"][1]
    changes = list(StageChange.objects.values_list("deal_id", "to_stage_id", "from_stage_id", "changed_at"))
    assert sorted(c[0] for c in changes) == sorted(deals)
    entered = dict(Deal.objects.values_list("id", "stage_entered_at"))
    assert all(to == deals[d] and frm is None and at == entered[d] for d, to, frm, at in changes)


def test_search_finds_deals_by_title_within_visibility(loaded, users):
    assert SearchEntry.objects.filter(type_key="deals").count() == 300
    deal = Deal.objects.filter(title__startswith="Zyxwv").order_by("id").first()
    assert deal is not None
    hits = search.search(users["admin"], deal.title, types=["deals"], limit=50)
    assert deal.pk in {h.record_id for h in hits}
    assert all(h.title == deal.title for h in hits[:1])
    # A member of another team does not find deals owned outside their team.
    east_deal = Deal.objects.filter(team=users["member"].team).order_by("id").first()
    hidden = search.search(users["outsider"], east_deal.title, types=["deals"], limit=50)
    assert east_deal.pk not in {h.record_id for h in hidden}


def test_the_api_serves_generated_deals_and_moves_them(loaded, users, api_client_for):
    main = Pipeline.objects.get(name="Sales pipeline")
    client = api_client_for(users["admin"])
    response = client.get(f"/api/v1/deals/?pipeline={main.pk}&status=open&page_size=50")
    assert response.status_code == 200 and len(response.json()["results"]) == 50
    deal = Deal.objects.filter(pipeline=main, status="open").order_by("id").first()
    target = main.stages.filter(kind="open").exclude(pk=deal.stage_id).first()
    etag = client.get(f"/api/v1/deals/{deal.pk}/")["ETag"]
    moved = client.post(
        f"/api/v1/deals/{deal.pk}/move/", {"stage": target.pk}, content_type="application/json", HTTP_IF_MATCH=etag
    )
    assert moved.status_code == 200, moved.content
    assert StageChange.objects.filter(deal=deal).count() == 2
    assert StageChange.objects.filter(deal=deal).last().seconds_in_previous >= 0


def test_refuses_impossible_parameters(db):
    with pytest.raises(ValueError):
        load_deals(10, open_in_pipeline=11)
    assert not Deal.objects.exists()
