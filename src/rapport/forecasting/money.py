"""Conversion to the base currency with the exchange rate in force on a given day (DESIGN.md §7)."""

from __future__ import annotations

import bisect
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from .models import ExchangeRate

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """An amount rounded to cents, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


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

    def change_days(self, after: dt.date | None = None, until: dt.date | None = None) -> list[dt.date]:
        """The days on which some currency's rate changes (in ``(after, until]`` when given)."""
        days = {d for currency, ds in self._days.items() if currency != self.base for d in ds}
        return sorted(d for d in days if (after is None or d > after) and (until is None or d <= until))


class RatePeriods:
    """Group before converting: the stretches of days over which no exchange rate changes.

    ``expression(field)`` is, in SQL, the index of the stretch holding each row's day (a balanced
    tree of date comparisons, ~log2(changes) per row; -1 for no day); rows are grouped by it and
    their currency, and each group is converted in Python with the one rate in force over its
    stretch (``rate``). So an aggregate converts a handful of groups, not every row or day, and
    the result is exact: a row converts at the rate of its own day."""

    def __init__(self, rates: Rates, *, start: dt.date | None = None, end: dt.date | None = None, no_day: dt.date):
        self.rates = rates
        self.start = start  # rows' days are >= start (a window), or unbounded
        self.days = rates.change_days(after=start, until=end)
        self.no_day = no_day  # the day used for rows without one (e.g. no expected close date: today)

    def expression(self, field: str) -> Any:
        def tree(days: list[dt.date], offset: int) -> Any:
            if not days:
                return Value(offset, output_field=IntegerField())
            mid = len(days) // 2
            return Case(
                When(**{f"{field}__lt": days[mid]}, then=tree(days[:mid], offset)),
                default=tree(days[mid + 1 :], offset + mid + 1),
                output_field=IntegerField(),
            )

        return Case(
            When(**{f"{field}__isnull": True}, then=Value(-1, output_field=IntegerField())),
            default=tree(self.days, 0),
            output_field=IntegerField(),
        )

    def day(self, index: int) -> dt.date:
        """A day of stretch ``index``: every day of it has the same rates."""
        if index < 0:
            return self.no_day
        if index > 0:
            return self.days[index - 1]
        if self.start is not None:
            return self.start
        return self.days[0] - dt.timedelta(days=1) if self.days else self.no_day

    def rate(self, currency: str, index: int) -> Decimal | None:
        return self.rates.rate(currency, self.day(index))
