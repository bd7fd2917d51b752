"""Fill the board's column figures (StageTotal) from the open deals already there; deals/totals.py keeps
them current from here on (this is its ``rebuild``, over the models as of this migration)."""

import bisect
from decimal import Decimal

from django.conf import settings
from django.db import migrations
from django.db.models import Count


def fill(apps, schema_editor):
    import datetime as dt

    Deal = apps.get_model("deals", "Deal")
    StageTotal = apps.get_model("deals", "StageTotal")
    ExchangeRate = apps.get_model("forecasting", "ExchangeRate")
    base = str(settings.BASE_CURRENCY).upper()
    days = sorted(set(ExchangeRate.objects.exclude(currency=base).values_list("valid_from", flat=True)))
    out: dict = {}
    rows = (
        Deal.objects.filter(deleted_at__isnull=True, status="open")
        .values("stage_id", "team_id", "owner_id", "currency", "expected_close_date", "probability", "amount")
        .annotate(n=Count("id"), priced=Count("amount"))
        .order_by()
    )
    for row in rows:
        day = row["expected_close_date"]
        if day is None:
            period = dt.date(9999, 12, 31)
        else:
            i = bisect.bisect_right(days, day) - 1
            period = days[i] if i >= 0 else dt.date(1, 1, 1)
        key = (row["stage_id"], row["team_id"] or 0, row["owner_id"] or 0, row["currency"], period)
        cents = 0 if row["amount"] is None else int(Decimal(row["amount"]) * 100)
        acc = out.setdefault(key, [0, 0, 0, 0])
        acc[0] += row["n"]
        acc[1] += row["priced"]
        acc[2] += cents * row["n"]
        acc[3] += cents * row["n"] * row["probability"]
    StageTotal.objects.bulk_create(
        [
            StageTotal(
                stage_id=k[0],
                team_id=k[1],
                owner_id=k[2],
                currency=k[3],
                period=k[4],
                n=v[0],
                priced=v[1],
                total=v[2],
                weighted=v[3],
            )
            for k, v in out.items()
        ],
        batch_size=500,
    )


def empty(apps, schema_editor):
    apps.get_model("deals", "StageTotal").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0003_stage_total"),
        ("forecasting", "0001_initial"),
    ]

    operations = [migrations.RunPython(fill, empty)]
