"""Exchange rates and quotas. The tables keep their ``sales_*`` names from before the split."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ExchangeRate(models.Model):
    """``rate`` units of the base currency buy one unit of ``currency`` from ``valid_from`` on."""

    currency = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    valid_from = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sales_exchangerate"  # kept from before the split (see migrations)
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "valid_from"], name="exchange_rate_unique_day"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]


class Quota(models.Model):
    """A user's sales target for a month or a quarter, in the base currency."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas")
    period = models.CharField(max_length=7, choices=[("month", "Month"), ("quarter", "Quarter")])
    period_start = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        db_table = "sales_quota"  # kept from before the split (see migrations)
        constraints = [models.UniqueConstraint(fields=["user", "period", "period_start"], name="quota_unique_period")]
