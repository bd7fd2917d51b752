"""Deals take over the pipelines, stages, lost reasons, deals, deal contacts and stage changes from the
sales app. The tables stay where the sales migrations made them (``Meta.db_table`` keeps their
``sales_*`` names), so only Django's state moves: no row is copied, no table is rebuilt."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sales", "0007_covering_indexes_for_board_and_forecast"),
        ("accounts", "0003_login_failure_device"),
        ("contacts", "0002_json_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LostReason",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=150, unique=True)),
                        ("active", models.BooleanField(default=True)),
                        ("position", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "sales_lostreason",
                        "ordering": ["position", "name"],
                    },
                ),
                migrations.CreateModel(
                    name="Pipeline",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100, unique=True)),
                        ("position", models.PositiveIntegerField(default=0)),
                        ("archived", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "db_table": "sales_pipeline",
                        "ordering": ["position", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="Stage",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=100)),
                        ("position", models.PositiveIntegerField(default=0)),
                        ("probability", models.PositiveSmallIntegerField(default=0)),
                        ("rotting_days", models.PositiveIntegerField(blank=True, null=True)),
                        (
                            "kind",
                            models.CharField(
                                choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("archived", models.BooleanField(default=False)),
                        (
                            "pipeline",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="stages", to="deals.pipeline"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_stage",
                        "ordering": ["pipeline", "position", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="Deal",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("tags", models.JSONField(blank=True, default=list)),
                        ("custom", models.JSONField(blank=True, default=dict)),
                        ("notes", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        ("version", models.PositiveIntegerField(default=1)),
                        ("title", models.CharField(max_length=200)),
                        (
                            "status",
                            models.CharField(
                                choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost")],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("amount", models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                        ("currency", models.CharField(default="USD", max_length=3)),
                        ("expected_close_date", models.DateField(blank=True, null=True)),
                        ("probability", models.PositiveSmallIntegerField(default=0)),
                        ("probability_overridden", models.BooleanField(default=False)),
                        (
                            "forecast_category",
                            models.CharField(
                                choices=[
                                    ("pipeline", "Pipeline"),
                                    ("best_case", "Best case"),
                                    ("commit", "Commit"),
                                    ("closed", "Closed"),
                                    ("omitted", "Omitted"),
                                ],
                                default="pipeline",
                                max_length=12,
                            ),
                        ),
                        ("source", models.CharField(blank=True, default="", max_length=100)),
                        ("closed_on", models.DateField(blank=True, null=True)),
                        ("stage_entered_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "company",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="deals",
                                to="contacts.company",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "team",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="accounts.team",
                            ),
                        ),
                        (
                            "lost_reason",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="deals.lostreason",
                            ),
                        ),
                        (
                            "pipeline",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="deals", to="deals.pipeline"
                            ),
                        ),
                        (
                            "stage",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="deals", to="deals.stage"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_deal",
                    },
                ),
                migrations.CreateModel(
                    name="StageChange",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("changed_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("seconds_in_previous", models.BigIntegerField(blank=True, null=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "deal",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="stage_changes",
                                to="deals.deal",
                            ),
                        ),
                        (
                            "from_stage",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="deals.stage",
                            ),
                        ),
                        (
                            "to_stage",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="deals.stage",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_stagechange",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="DealContact",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[
                                    ("decision_maker", "Decision maker"),
                                    ("champion", "Champion"),
                                    ("influencer", "Influencer"),
                                    ("user", "User"),
                                    ("other", "Other"),
                                ],
                                default="other",
                                max_length=20,
                            ),
                        ),
                        (
                            "deal",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deal_contacts",
                                to="deals.deal",
                            ),
                        ),
                        (
                            "person",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deal_roles",
                                to="contacts.person",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_dealcontact",
                        "ordering": ["id"],
                        "constraints": [models.UniqueConstraint(fields=("deal", "person"), name="deal_contact_unique")],
                    },
                ),
                migrations.AddConstraint(
                    model_name="stage",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("probability__lte", 100)), name="stage_probability_max_100"
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["created_at", "id"],
                        name="deal_created_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["updated_at", "id"],
                        name="deal_updated_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)), fields=["title", "id"], name="deal_title_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["team", "created_at", "id"],
                        name="deal_team_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["owner", "status", "created_at", "id"],
                        name="deal_owner_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["pipeline", "status", "stage"],
                        name="deal_board_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["stage", "stage_entered_at", "id"],
                        name="deal_stage_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["expected_close_date", "id"],
                        name="deal_close_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["closed_on", "id"],
                        name="deal_closed_on_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["amount", "id"],
                        name="deal_amount_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["stage", "closed_on"],
                        name="deal_stage_closed_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=[
                            "stage",
                            "status",
                            "pipeline",
                            "team",
                            "owner",
                            "currency",
                            "expected_close_date",
                            "amount",
                            "probability",
                            "deleted_at",
                        ],
                        name="deal_totals_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=[
                            "status",
                            "expected_close_date",
                            "owner",
                            "team",
                            "currency",
                            "forecast_category",
                            "amount",
                            "probability",
                            "deleted_at",
                        ],
                        name="deal_forecast_open_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="deal",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["status", "closed_on", "owner", "team", "currency", "amount", "deleted_at"],
                        name="deal_forecast_won_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="stagechange",
                    index=models.Index(fields=["deal", "id"], name="stage_change_deal_idx"),
                ),
            ],
        ),
    ]
