"""The forecast's figures kept by the write path (ForecastTotal, deals/totals.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deals", "0005_board_covering_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ForecastTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField()),
                ("team_id", models.BigIntegerField()),
                ("owner_id", models.BigIntegerField()),
                ("currency", models.CharField(max_length=3)),
                ("figure", models.CharField(max_length=12)),
                ("period", models.DateField()),
                ("n", models.BigIntegerField()),
                ("total", models.BigIntegerField()),
                ("weighted", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "team_id", "owner_id", "currency", "figure", "period"),
                        name="forecast_total_key",
                    )
                ],
            },
        ),
    ]
