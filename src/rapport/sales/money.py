"""Conversion to the base currency with the exchange rate in force on a given day (DESIGN.md §7)."""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from .models import ExchangeRate, money


def base_currency() -> str:
    return str(settings.BASE_CURRENCY).upper()


class Rates:
    """Every exchange rate, loaded once, answering ``to_base`` for any day without a query per row."""

    def __init__(self) -> None:
        self.base = base_currency()
        self._days: dict[str, list[dt.date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        for currency, valid_from, rate in ExchangeRate.objects.order_by("currency", "valid_from").values_list(
            "currency", "valid_from", "rate"
        ):
            self._days.setdefault(currency, []).append(valid_from)
            self._rates.setdefault(currency, []).append(rate)

    def rate(self, currency: str, day: dt.date | None = None) -> Decimal | None:
        """Units of the base currency per unit of ``currency`` on ``day`` (today by default); None
        when no rate was in force yet."""
        if currency == self.base:
            return Decimal(1)
        days = self._days.get(currency)
        if not days:
            return None
        i = bisect.bisect_right(days, day or timezone.localdate()) - 1
        return self._rates[currency][i] if i >= 0 else None

    def to_base(self, amount: Decimal | None, currency: str, day: dt.date | None = None) -> Decimal | None:
        if amount is None:
            return None
        rate = self.rate(currency, day)
        return None if rate is None else money(amount * rate)
