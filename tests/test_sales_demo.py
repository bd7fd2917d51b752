"""``rapport demo --if-empty`` loads sales data through the write path: pipelines, deals over stages,
currencies and dates, won and lost deals, products, exchange rates, quotas and a forecast to show; and a
believable history: calls, meetings and notes over the past months, next steps on most open deals, some
deals rotting, each user's day (overdue, today, upcoming) relative to now in their time zone."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from rapport.accounts.models import User
from rapport.activities import myday
from rapport.activities.models import Activity, ActivityLink
from rapport.contacts.models import Company, Person
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

    check_the_story_the_demo_tells()


def check_the_story_the_demo_tells() -> None:
    """Expected values from the seed rules in activities/demo.py and deals/demo.py."""
    now = timezone.now()
    activities = Activity.objects.live()
    deals = list(Deal.objects.live().select_related("stage", "owner"))
    open_deals = [d for d in deals if d.status == "open"]
    closed = [d for d in deals if d.status != "open"]
    links = ActivityLink.objects.filter(type_key="deals", activity__deleted_at__isnull=True)

    # History: every open deal has 1–3 logged calls, meetings or notes, every closed deal 1–2, the first an
    # intro call; logged at the time they happened, which the timeline event says too.
    past = links.filter(activity__done=True)
    per_deal = Counter(past.values_list("record_id", flat=True))
    assert all(1 <= per_deal[d.pk] <= 3 for d in open_deals)
    assert all(1 <= per_deal[d.pk] <= 2 for d in closed)
    logged = activities.filter(done=True)
    assert logged.count() == sum(per_deal.values())
    assert set(logged.values_list("kind", flat=True)) == {"call", "meeting", "note"}
    assert not logged.filter(created_at__gt=now).exists()
    assert logged.filter(created_at__lt=now - dt.timedelta(days=90)).count() > 50  # spread over months
    assert not logged.filter(start_at__gt=now).exists()
    call = logged.filter(kind="call").order_by("id").first()
    assert call is not None and call.subject == "Intro call" and call.done_at == call.created_at
    event = Event.objects.get(type_key="activities", record_id=call.pk, kind="created")
    assert event.occurred_at == call.created_at > call.start_at

    # A deal's own history: opened in the first stage, moved stage by stage, each change at its time.
    for deal in open_deals[:20]:
        changes = list(StageChange.objects.filter(deal=deal).order_by("id"))
        assert changes[0].from_stage_id is None and changes[-1].to_stage_id == deal.stage_id
        assert changes[-1].changed_at == deal.stage_entered_at
        assert [c.changed_at for c in changes] == sorted(c.changed_at for c in changes)
        created = Event.objects.get(type_key="deals", record_id=deal.pk, kind="created")
        assert created.occurred_at == deal.created_at == changes[0].changed_at

    # Rotting: ROTTING_SHARE (15 %) of open deals sat in their stage past its rotting days; 188 ± 30 open
    # deals give 15 % ± 7 points at three standard deviations.
    rotting = [d for d in open_deals if d.rotting]
    assert 0.08 <= len(rotting) / len(open_deals) <= 0.22
    assert all((now - d.stage_entered_at).days >= d.stage.rotting_days for d in rotting)

    # Next steps: each seller's day took up to 8 of their deals; of the rest, 85 % got a next step (40 %
    # when rotting). Most open deals have one, some do not, and rotting deals less often.
    planned = set(
        links.filter(activity__done=False, activity__kind__in=("task", "call", "meeting")).values_list(
            "record_id", flat=True
        )
    )
    with_next = [d for d in open_deals if d.pk in planned]
    assert 0.75 <= len(with_next) / len(open_deals) < 0.97
    rotting_with_next = sum(d.pk in planned for d in rotting) / len(rotting)
    assert rotting_with_next < len(with_next) / len(open_deals)

    # Each seller's day, in their own time zone: 2 overdue tasks, 2 tasks later today and a meeting today,
    # 3 things in the next days (their deals' next steps come on top); the admin owns no deal, so theirs
    # is exactly that. The read-only user attends a meeting today and one in two days.
    users = {u.username: u for u in User.objects.all()}
    assert {users["maria"].time_zone, users["lukas"].time_zone, users["nora"].time_zone} == {
        "America/New_York",
        "America/Los_Angeles",
        "Europe/London",
    }
    for name, user in users.items():
        day = myday.build(user, now)
        if name == "viewer":
            assert (len(day.overdue), len(day.due_today), len(day.upcoming)) == (0, 1, 1)
        elif name == "admin":
            assert (len(day.overdue), len(day.due_today), len(day.upcoming)) == (2, 3, 3)
        else:
            assert len(day.overdue) >= 2 and len(day.due_today) >= 3 and len(day.upcoming) >= 3, name
        meetings_today = [a for a in day.due_today if a.kind == "meeting"]
        assert meetings_today, f"{name} has no meeting today"
    overdue = activities.filter(kind="task", done=False, due_at__lt=now)
    assert overdue.count() >= 2 * 9  # nine sellers, and the overdue next steps of some deals

    # Custom values vary: regions by weight (65/25/10), tiers, budgets.
    regions = Counter(Person.objects.live().values_list("custom__region", flat=True))
    assert set(regions) == {"Americas", "EMEA", "APAC"} and max(regions.values()) < 0.8 * sum(regions.values())
    assert len(set(Company.objects.live().values_list("custom__tier", flat=True))) == 3
