"""Read-side helpers of integrations."""

from __future__ import annotations

from typing import Any

from .models import InboundDelivery, Integration


def integrations() -> Any:
    return Integration.objects.select_related("service_user", "created_by").order_by("name", "id")


def deliveries_of(integration: Integration) -> Any:
    return InboundDelivery.objects.filter(integration=integration).defer("payload")
