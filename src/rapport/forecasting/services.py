"""Writes of exchange rates and quotas (settings pages, API, demo); each is atomic and leaves an entry
in the settings audit trail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import serializers

from rapport.core.audit import record_setting_change, values
from rapport.deals import totals as stage_totals

from .models import ExchangeRate, Quota

RATE_FIELDS = ("currency", "rate", "valid_from")
QUOTA_FIELDS = ("user", "period", "period_start", "amount")


def _rate_label(rate: ExchangeRate) -> str:
    return f"{rate.currency} from {rate.valid_from}"


def _quota_label(quota: Quota) -> str:
    return f"{quota.user} · {quota.period} from {quota.period_start}"


def _amount(amount: Any) -> Any:
    return None if amount is None else str(Decimal(amount).quantize(Decimal("0.01")))


def add_exchange_rate(data: dict[str, Any], *, actor: Any) -> ExchangeRate:
    try:
        with transaction.atomic():
            rate = ExchangeRate.objects.create(
                currency=data["currency"], rate=data["rate"], valid_from=data["valid_from"]
            )
            record_setting_change(
                "exchange_rate",
                rate,
                actor=actor,
                action="created",
                after=values(rate, RATE_FIELDS),
                label=_rate_label(rate),
            )
            stage_totals.rebuild()  # the rate periods the board's kept figures are grouped by moved
            return rate
    except IntegrityError:  # a parallel add of the same day
        raise serializers.ValidationError(
            {"valid_from": f"{data['currency']} already has a rate from {data['valid_from']}; delete it first."}
        )


@transaction.atomic
def delete_exchange_rate(rate: ExchangeRate, *, actor: Any) -> None:
    record_setting_change(
        "exchange_rate", rate, actor=actor, action="deleted", before=values(rate, RATE_FIELDS), label=_rate_label(rate)
    )
    rate.delete()
    stage_totals.rebuild()  # the rate periods the board's kept figures are grouped by moved


def set_quota(data: dict[str, Any], *, actor: Any) -> Quota:
    """Create the quota of a user for a period, or change its amount if one exists."""
    with transaction.atomic():
        old = (
            Quota.objects.select_for_update()
            .filter(user=data["user"], period=data["period"], period_start=data["period_start"])
            .values_list("amount", flat=True)
            .first()
        )
        quota, created = Quota.objects.update_or_create(
            user=data["user"],
            period=data["period"],
            period_start=data["period_start"],
            defaults={"amount": data["amount"]},
        )
        record_setting_change(
            "quota",
            quota,
            actor=actor,
            action="created" if created else "changed",
            before=None if created else {**values(quota, QUOTA_FIELDS), "amount": _amount(old)},
            after=values(quota, QUOTA_FIELDS),
            label=_quota_label(quota),
        )
    return quota


@transaction.atomic
def delete_quota(quota: Quota, *, actor: Any) -> None:
    record_setting_change(
        "quota", quota, actor=actor, action="deleted", before=values(quota, QUOTA_FIELDS), label=_quota_label(quota)
    )
    quota.delete()
