"""Forecasting takes over exchange rates and quotas from the sales app. The tables stay where the
sales migrations made them (``Meta.db_table`` keeps their ``sales_*`` names), so only Django's state
moves: no row is copied, no table is rebuilt."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sales", "0007_covering_indexes_for_board_and_forecast"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ExchangeRate",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("currency", models.CharField(max_length=3)),
                        ("rate", models.DecimalField(decimal_places=8, max_digits=18)),
                        ("valid_from", models.DateField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "db_table": "sales_exchangerate",
                        "ordering": ["currency", "-valid_from"],
                        "constraints": [
                            models.UniqueConstraint(fields=("currency", "valid_from"), name="exchange_rate_unique_day"),
                            models.CheckConstraint(condition=models.Q(("rate__gt", 0)), name="exchange_rate_positive"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="Quota",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "period",
                            models.CharField(choices=[("month", "Month"), ("quarter", "Quarter")], max_length=7),
                        ),
                        ("period_start", models.DateField()),
                        ("amount", models.DecimalField(decimal_places=2, max_digits=14)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="quotas",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_quota",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("user", "period", "period_start"), name="quota_unique_period"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
