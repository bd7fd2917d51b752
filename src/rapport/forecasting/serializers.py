"""Write validation of exchange rates and quotas (shared by the settings pages, the API and the demo),
and the currency check everything that carries a currency uses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from rapport.accounts.models import User

from .models import ExchangeRate
from .money import base_currency


def clean_currency(value: str) -> str:
    value = (value or "").strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise serializers.ValidationError("Use a three-letter ISO 4217 currency code such as EUR.")
    return value


class ExchangeRateSerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3)
    rate = serializers.DecimalField(max_digits=18, decimal_places=8, help_text="Units of the base currency per unit.")
    valid_from = serializers.DateField()

    def validate_currency(self, value: str) -> str:
        value = clean_currency(value)
        if value == base_currency():
            raise serializers.ValidationError(f"{value} is the base currency; its rate is always 1.")
        return value

    def validate_rate(self, value: Decimal) -> Decimal:
        if value <= 0:
            raise serializers.ValidationError("Give a rate greater than 0.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ExchangeRate.objects.filter(currency=attrs["currency"], valid_from=attrs["valid_from"]).exists():
            raise serializers.ValidationError(
                {"valid_from": f"{attrs['currency']} already has a rate from {attrs['valid_from']}; delete it first."}
            )
        return attrs


class QuotaSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    period = serializers.ChoiceField(choices=[("month", "Month"), ("quarter", "Quarter")])
    period_start = serializers.DateField(help_text="First day of the month or quarter.")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start: dt.date = attrs["period_start"]
        if attrs["period"] == "month" and start.day != 1:
            raise serializers.ValidationError({"period_start": "A month quota starts on the first day of the month."})
        if attrs["period"] == "quarter" and (start.day != 1 or start.month not in (1, 4, 7, 10)):
            raise serializers.ValidationError(
                {"period_start": "A quarter quota starts on 1 January, 1 April, 1 July or 1 October."}
            )
        return attrs
