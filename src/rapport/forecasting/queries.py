"""Read-side helpers of forecasting."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from .models import Quota


def visible_quotas(user: Any) -> QuerySet[Quota]:
    """A user reads their own quotas; settings managers read everyone's."""
    qs = Quota.objects.select_related("user")
    return qs if user.can_manage_settings() else qs.filter(Q(user_id=user.pk))
