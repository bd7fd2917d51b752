"""``rapport demo --if-empty`` loads sales data through the write path: pipelines, deals over stages,
currencies and dates, won and lost deals, products, exchange rates, quotas and a forecast to show."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from rapport.accounts.models import User
from rapport.core.models import Event
from rapport.deals.models import Deal, Pipeline, StageChange
from rapport.forecasting import forecast
from rapport.forecasting.models import ExchangeRate, Quota
from rapport.quotes.models import LineItem, Product


@pytest.mark.django_db
def test_demo_loads_a_sales_team_worth_of_data() -> None:
    call_command("demo", "--if-empty", stdout=io.StringIO())

    assert set(Pipeline.objects.values_list("name", flat=True)) >= {"New business", "Renewals"}
    renewals = Pipeline.objects.get(name="Renewals")
    assert [s.name for s in renewals.stages.filter(kind="open").order_by("position")] == [
        "Due for renewal",
        "Renewal review",
        "Terms agreed",
    ]

    deals = Deal.objects.live()
    assert 250 <= deals.count() <= 350
    assert deals.filter(pipeline=renewals).exists()
    assert deals.filter(status="open").values("stage").distinct().count() >= 5
    assert set(deals.values_list("currency", flat=True)) == {"USD", "EUR", "GBP"}
    assert deals.values("owner").distinct().count() >= 5
    won, lost = deals.filter(status="won"), deals.filter(status="lost")
    assert won.count() >= 20 and lost.count() >= 20
    assert not lost.filter(lost_reason__isnull=True).exists()
    year_ago = timezone.localdate() - timezone.timedelta(days=366)
    assert won.filter(closed_on__lt=timezone.localdate() - timezone.timedelta(days=90)).exists()
    assert not won.filter(closed_on__lt=year_ago).exists()
    open_dates = deals.filter(status="open").values_list("expected_close_date", flat=True)
    assert max(open_dates) > timezone.localdate() + timezone.timedelta(days=120)
    # Through the write path: a created event and a stage change per deal.
    assert Event.objects.filter(type_key="deals", kind="created").count() == deals.count()
    assert StageChange.objects.values("deal").distinct().count() == deals.count()

    assert Product.objects.live().count() >= 5
    assert Product.objects.annotate(n=Count("prices")).filter(n=3).count() == Product.objects.count()
    assert LineItem.objects.values("deal").distinct().count() >= 30
    assert set(ExchangeRate.objects.values_list("currency", flat=True)) == {"EUR", "GBP"}

    quarter = forecast.make_period("quarter", timezone.localdate())
    assert Quota.objects.filter(period="quarter", period_start=quarter.start).count() >= 5
    assert Quota.objects.filter(period="month", period_start=quarter.start).count() >= 5

    admin: Any = User.objects.get(username="admin")
    result = forecast.compute(admin, quarter, forecast.parse_scope("all", admin))
    assert not result.empty and result.total.unconverted == 0
    assert result.total.figures["closed_won"] > 0 and result.total.figures["pipeline"] > 0
    assert result.total.quota and result.total.attainment is not None
