"""Fill the forecast's figures (ForecastTotal) from the deals already there; deals/totals.py keeps them
current from here on (this is its ``rebuild``, over the models as of this migration)."""

import bisect
from decimal import Decimal

from django.conf import settings
from django.db import migrations
from django.db.models import Count


def fill(apps, schema_editor):
    import datetime as dt

    Deal = apps.get_model("deals", "Deal")
    ForecastTotal = apps.get_model("deals", "ForecastTotal")
    ExchangeRate = apps.get_model("forecasting", "ExchangeRate")
    base = str(settings.BASE_CURRENCY).upper()
    days = sorted(set(ExchangeRate.objects.exclude(currency=base).values_list("valid_from", flat=True)))
    out: dict = {}
    rows = (
        Deal.objects.filter(deleted_at__isnull=True, status__in=("open", "won"), amount__isnull=False)
        .values(
            "team_id",
            "owner_id",
            "currency",
            "status",
            "forecast_category",
            "expected_close_date",
            "closed_on",
            "amount",
            "probability",
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        if row["status"] == "won" and row["closed_on"] is not None:
            figure, day = "won", row["closed_on"]
        elif row["status"] == "open" and row["expected_close_date"] and row["forecast_category"] != "omitted":
            figure, day = row["forecast_category"], row["expected_close_date"]
        else:
            continue
        i = bisect.bisect_right(days, day) - 1
        period = days[i] if i >= 0 else dt.date(1, 1, 1)
        key = (day.replace(day=1), row["team_id"] or 0, row["owner_id"] or 0, row["currency"], figure, period)
        cents = int(Decimal(row["amount"]) * 100)
        acc = out.setdefault(key, [0, 0, 0])
        acc[0] += row["n"]
        acc[1] += cents * row["n"]
        acc[2] += cents * row["n"] * row["probability"]
    ForecastTotal.objects.bulk_create(
        [
            ForecastTotal(
                month=k[0],
                team_id=k[1],
                owner_id=k[2],
                currency=k[3],
                figure=k[4],
                period=k[5],
                n=v[0],
                total=v[1],
                weighted=v[2],
            )
            for k, v in out.items()
        ],
        batch_size=500,
    )


def empty(apps, schema_editor):
    apps.get_model("deals", "ForecastTotal").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0006_forecast_total"),
        ("forecasting", "0001_initial"),
    ]

    operations = [migrations.RunPython(fill, empty)]
