"""Forecasting demo data for ``rapport demo --if-empty``: a rate on the first of each month over the past
year for every demo currency but the base, and each seller's quarter and month quotas. Written through
forecasting's serializers and services; deterministic with ``random.Random(42)``."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from rapport.core.demo import DemoContext
from rapport.core.visibility import SYSTEM

from . import services
from .forecast import make_period
from .money import base_currency
from .serializers import ExchangeRateSerializer, QuotaSerializer

SEED = 42
# Rough value of one unit in USD; rates to the base currency are derived from it, so any base works.
# The other demos (deal amounts, product prices) use the same currencies.
USD_VALUE = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}


def _validated(serializer_class: Any, data: dict[str, Any]) -> dict[str, Any]:
    serializer = serializer_class(data=data, context={"actor": SYSTEM})
    if not serializer.is_valid():
        raise CommandError(f"demo data is invalid: {serializer.errors}")
    return dict(serializer.validated_data)


def _rate(currency: str, base: str, wobble: float) -> Decimal:
    value = USD_VALUE[currency] / USD_VALUE[base] * Decimal(str(1 + wobble))
    return value.quantize(Decimal("0.0001"))


def load_demo(ctx: DemoContext) -> None:
    rng = random.Random(SEED)
    today, base = timezone.localdate(), base_currency()
    # A rate on the first of each month for the past year, so every close date has one.
    start = today.replace(day=1)
    for currency in sorted(USD_VALUE):
        if currency == base:
            continue
        for back in range(13, -1, -1):
            index = start.year * 12 + start.month - 1 - back
            data = {
                "currency": currency,
                "rate": str(_rate(currency, base, rng.uniform(-0.04, 0.04))),
                "valid_from": dt.date(index // 12, index % 12 + 1, 1).isoformat(),
            }
            services.add_exchange_rate(_validated(ExchangeRateSerializer, data), actor=ctx.admin)
    quarter = make_period("quarter", today)
    for user in ctx.sellers:
        if user.is_superuser:
            continue
        yearly = rng.choice((800_000, 1_000_000, 1_200_000, 1_400_000))
        data = {"user": user.pk, "period": "quarter", "period_start": quarter.start.isoformat()}
        services.set_quota(_validated(QuotaSerializer, {**data, "amount": str(yearly // 4)}), actor=ctx.admin)
        for month in quarter.months():
            data = {"user": user.pk, "period": "month", "period_start": month.isoformat()}
            services.set_quota(_validated(QuotaSerializer, {**data, "amount": str(yearly // 12)}), actor=ctx.admin)
