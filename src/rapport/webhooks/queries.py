"""Read-side helpers of webhooks."""

from __future__ import annotations

from typing import Any

from .models import Delivery, Subscription


def subscriptions() -> Any:
    return Subscription.objects.select_related("created_by").order_by("name", "id")


def deliveries_of(subscription: Subscription) -> Any:
    """A subscription's deliveries for the log, without their payloads."""
    return Delivery.objects.filter(subscription=subscription).defer("payload")
