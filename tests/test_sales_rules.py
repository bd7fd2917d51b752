"""Deal rules on every write: status from stage, probability defaults and overrides, lost reasons,
amount from line items, stage-change history, currency conversion with dated rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from rapport.core.errors import VersionConflict
from rapport.deals import services as sales
from rapport.deals.models import Deal, LostReason, Pipeline, StageChange
from rapport.forecasting.models import ExchangeRate
from rapport.forecasting.money import Rates

from .conftest import write


@pytest.fixture
def pipeline(db):
    return Pipeline.objects.get(name="Sales pipeline")


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


def test_new_deal_starts_in_the_first_open_stage_with_its_probability(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    assert deal.stage == stage(pipeline, "Qualification") and deal.status == "open"
    assert deal.probability == 10 and not deal.probability_overridden
    assert deal.currency == "USD"
    assert StageChange.objects.filter(deal=deal).count() == 1


def test_status_follows_the_stage_and_probability_follows_unless_overridden(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    deal = sales.move_deal(deal, stage(pipeline, "Proposal"), actor=users["member"], source="ui")
    assert deal.probability == 50
    deal = write("deals", {"probability": 65}, actor=users["member"], instance=deal)
    assert deal.probability == 65 and deal.probability_overridden
    deal = sales.move_deal(deal, stage(pipeline, "Negotiation"), actor=users["member"], source="ui")
    assert deal.probability == 65  # the override sticks
    deal = write("deals", {"probability": None}, actor=users["member"], instance=deal)
    assert deal.probability == 75
    deal = sales.mark_won(deal, actor=users["member"], source="ui")
    assert (deal.status, deal.probability, deal.forecast_category) == ("won", 100, "closed")
    assert deal.closed_on == dt.date.today()
    deal = sales.move_deal(deal, stage(pipeline, "Proposal"), actor=users["member"], source="ui")
    assert deal.status == "open" and deal.closed_on is None and deal.forecast_category == "pipeline"


def test_status_in_a_write_moves_to_that_kind_of_stage(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    deal = write("deals", {"status": "won"}, actor=users["member"], instance=deal)
    assert deal.stage == stage(pipeline, "Won")


def test_lost_needs_a_reason(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    with pytest.raises(ValidationError) as exc:
        sales.mark_lost(deal, reason=None, actor=users["member"], source="ui")
    assert "lost_reason" in exc.value.message_dict
    deal.refresh_from_db()
    assert deal.status == "open"
    reason = LostReason.objects.get(name="Price")
    deal = sales.mark_lost(deal, reason=reason, actor=users["member"], source="ui")
    assert deal.status == "lost" and deal.lost_reason == reason and deal.probability == 0
    deal = sales.move_deal(deal, stage(pipeline, "Proposal"), actor=users["member"], source="ui")
    assert deal.lost_reason is None


def test_stage_of_another_pipeline_is_refused(users, pipeline, api_client_for):
    other = Pipeline.objects.create(name="Renewals")
    renewal_stage = other.stages.create(name="Due", position=0, probability=80)
    client = api_client_for(users["member"])
    response = client.post(
        "/api/v1/deals/",
        {"title": "X", "pipeline": pipeline.pk, "stage": renewal_stage.pk},
        content_type="application/json",
    )
    assert response.status_code == 400 and "stage" in response.json()["fields"]
    ok = client.post("/api/v1/deals/", {"title": "X", "stage": renewal_stage.pk}, content_type="application/json")
    assert ok.status_code == 201 and ok.json()["pipeline"]["id"] == other.pk


def test_amount_from_line_items_with_discount_and_tax(users):
    product = write(
        "products",
        {
            "name": "Seat",
            "tax_rate": "20",
            "prices": [{"currency": "USD", "unit_price": "100"}, {"currency": "EUR", "unit_price": "90"}],
        },
        actor=users["admin"],
    )
    deal = write(
        "deals",
        {
            "title": "Seats",
            "currency": "EUR",
            "line_items": [
                {"product": product.pk, "quantity": "3", "discount_percent": "10"},
                {"name": "Onboarding", "quantity": "1", "unit_price": "500.50", "tax_percent": "0"},
            ],
        },
        actor=users["member"],
    )
    # 3 x 90 = 270, -10 % = 243.00; + 500.50
    assert deal.amount == Decimal("743.50")
    lines = list(deal.line_items.all())
    assert lines[0].name == "Seat" and lines[0].unit_price == Decimal("90.00") and lines[0].tax == Decimal("48.60")
    deal = write(
        "deals",
        {"line_items": [{"name": "Only", "quantity": "2", "unit_price": "10"}]},
        actor=users["member"],
        instance=deal,
    )
    assert deal.amount == Decimal("20.00")


def test_line_item_without_price_in_the_deal_currency_is_an_error(users, api_client_for):
    product = write(
        "products", {"name": "Seat", "prices": [{"currency": "USD", "unit_price": "100"}]}, actor=users["admin"]
    )
    response = api_client_for(users["member"]).post(
        "/api/v1/deals/",
        {"title": "X", "currency": "JPY", "line_items": [{"product": product.pk, "quantity": "1"}]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "JPY" in response.json()["fields"]["line_items[0].unit_price"][0]
    assert not Deal.objects.exists()


def test_stage_changes_record_time_spent(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    first = StageChange.objects.get(deal=deal)
    entered = first.changed_at - dt.timedelta(days=3)
    StageChange.objects.filter(pk=first.pk).update(changed_at=entered)
    Deal.objects.filter(pk=deal.pk).update(stage_entered_at=entered)
    deal.refresh_from_db()
    sales.move_deal(deal, stage(pipeline, "Proposal"), actor=users["member"], source="ui")
    second = StageChange.objects.filter(deal=deal).latest("id")
    assert second.from_stage == stage(pipeline, "Qualification") and second.to_stage == stage(pipeline, "Proposal")
    assert 3 * 86400 <= second.seconds_in_previous < 3 * 86400 + 60


def test_stale_move_is_refused(users, pipeline):
    deal = write("deals", {"title": "Seats"}, actor=users["member"])
    sales.move_deal(deal, stage(pipeline, "Proposal"), actor=users["member"], source="ui", expected_version=1)
    with pytest.raises(VersionConflict):
        sales.move_deal(deal, stage(pipeline, "Negotiation"), actor=users["peer"], source="ui", expected_version=1)
    assert Deal.objects.get(pk=deal.pk).stage == stage(pipeline, "Proposal")
    assert StageChange.objects.filter(deal=deal).count() == 2


def test_conversion_uses_the_rate_in_force_on_the_day(db):
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.20"), valid_from=dt.date(2026, 7, 1))
    rates = Rates()
    assert rates.to_base(Decimal("100"), "EUR", dt.date(2026, 6, 30)) == Decimal("110.00")
    assert rates.to_base(Decimal("100"), "EUR", dt.date(2026, 7, 1)) == Decimal("120.00")
    assert rates.to_base(Decimal("100"), "EUR", dt.date(2025, 12, 31)) is None  # no rate yet
    assert rates.to_base(Decimal("100"), "USD", dt.date(2020, 1, 1)) == Decimal("100.00")
    assert rates.to_base(Decimal("100"), "GBP") is None
