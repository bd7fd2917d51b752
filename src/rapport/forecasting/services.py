"""Writes of exchange rates and quotas (settings pages, API, demo); each is atomic."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import serializers

from .models import ExchangeRate, Quota


def add_exchange_rate(data: dict[str, Any], *, actor: Any) -> ExchangeRate:
    try:
        with transaction.atomic():
            return ExchangeRate.objects.create(
                currency=data["currency"], rate=data["rate"], valid_from=data["valid_from"]
            )
    except IntegrityError:  # a parallel add of the same day
        raise serializers.ValidationError(
            {"valid_from": f"{data['currency']} already has a rate from {data['valid_from']}; delete it first."}
        )


def delete_exchange_rate(rate: ExchangeRate, *, actor: Any) -> None:
    rate.delete()


def set_quota(data: dict[str, Any], *, actor: Any) -> Quota:
    """Create the quota of a user for a period, or change its amount if one exists."""
    with transaction.atomic():
        quota, _ = Quota.objects.update_or_create(
            user=data["user"],
            period=data["period"],
            period_start=data["period_start"],
            defaults={"amount": data["amount"]},
        )
    return quota


def delete_quota(quota: Quota, *, actor: Any) -> None:
    quota.delete()
