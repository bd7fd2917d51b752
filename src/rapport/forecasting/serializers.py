"""Write validation shared by everything that carries a currency."""

from __future__ import annotations

from rest_framework import serializers


def clean_currency(value: str) -> str:
    value = (value or "").strip().upper()
    if len(value) != 3 or not value.isalpha():
        raise serializers.ValidationError("Use a three-letter ISO 4217 currency code such as EUR.")
    return value
