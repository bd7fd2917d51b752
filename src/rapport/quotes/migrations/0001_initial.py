"""Quotes take over products, product prices, line items, quotes, quote lines and the quote counter
from the sales app. The tables stay where the sales migrations made them (``Meta.db_table`` keeps
their ``sales_*`` names), so only Django's state moves: no row is copied, no table is rebuilt."""

from decimal import Decimal

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sales", "0007_covering_indexes_for_board_and_forecast"),
        ("accounts", "0003_login_failure_device"),
        ("deals", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="QuoteCounter",
                    fields=[
                        ("year", models.PositiveIntegerField(primary_key=True, serialize=False)),
                        ("last", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "sales_quotecounter",
                    },
                ),
                migrations.CreateModel(
                    name="Product",
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
                        ("name", models.CharField(max_length=200)),
                        ("sku", models.CharField(blank=True, default="", max_length=64)),
                        ("description", models.TextField(blank=True, default="")),
                        ("tax_rate", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=5)),
                        ("active", models.BooleanField(default=True)),
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
                    ],
                    options={
                        "db_table": "sales_product",
                    },
                ),
                migrations.CreateModel(
                    name="LineItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("name", models.CharField(max_length=200)),
                        ("quantity", models.DecimalField(decimal_places=3, max_digits=12)),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("discount_percent", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=5)),
                        ("tax_percent", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=5)),
                        (
                            "deal",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="line_items", to="deals.deal"
                            ),
                        ),
                        (
                            "product",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="quotes.product",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_lineitem",
                        "ordering": ["position", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="ProductPrice",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("currency", models.CharField(max_length=3)),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=14)),
                        (
                            "product",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="prices", to="quotes.product"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_productprice",
                        "ordering": ["currency"],
                    },
                ),
                migrations.CreateModel(
                    name="Quote",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("number", models.CharField(max_length=20, unique=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("draft", "Draft"),
                                    ("sent", "Sent"),
                                    ("accepted", "Accepted"),
                                    ("declined", "Declined"),
                                    ("expired", "Expired"),
                                ],
                                default="draft",
                                max_length=10,
                            ),
                        ),
                        ("currency", models.CharField(max_length=3)),
                        ("valid_until", models.DateField(blank=True, null=True)),
                        ("customer_name", models.CharField(blank=True, default="", max_length=200)),
                        ("customer_address", models.TextField(blank=True, default="")),
                        ("terms", models.TextField(blank=True, default="")),
                        ("subtotal", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14)),
                        ("tax_total", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14)),
                        ("total", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("sent_at", models.DateTimeField(blank=True, null=True)),
                        ("decided_at", models.DateTimeField(blank=True, null=True)),
                        ("version", models.PositiveIntegerField(default=1)),
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
                            "deal",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="quotes", to="deals.deal"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_quote",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="QuoteLine",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("position", models.PositiveSmallIntegerField(default=0)),
                        ("name", models.CharField(max_length=200)),
                        ("quantity", models.DecimalField(decimal_places=3, max_digits=12)),
                        ("unit_price", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("discount_percent", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=5)),
                        ("tax_percent", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=5)),
                        ("net", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14)),
                        ("tax", models.DecimalField(decimal_places=2, default=Decimal("0"), max_digits=14)),
                        (
                            "product",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="quotes.product",
                            ),
                        ),
                        (
                            "quote",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="lines", to="quotes.quote"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sales_quoteline",
                        "ordering": ["position", "id"],
                    },
                ),
                migrations.AddIndex(
                    model_name="product",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["created_at", "id"],
                        name="product_created_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="product",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["updated_at", "id"],
                        name="product_updated_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="product",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)), fields=["name", "id"], name="product_name_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="product",
                    index=models.Index(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=["team", "created_at", "id"],
                        name="product_team_idx",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="product",
                    constraint=models.UniqueConstraint(
                        models.F("sku"),
                        condition=models.Q(("deleted_at__isnull", True), models.Q(("sku", ""), _negated=True)),
                        name="product_live_sku_unique",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="productprice",
                    constraint=models.UniqueConstraint(fields=("product", "currency"), name="product_price_unique"),
                ),
            ],
        ),
    ]
