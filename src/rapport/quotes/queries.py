"""Read-side helpers of quotes."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from rapport.deals.models import Deal

from .models import Quote


def visible_quotes(user: Any) -> QuerySet[Quote]:
    """Quotes whose deal ``user`` may see: the deal's visibility is the quote's."""
    return Quote.objects.filter(deal__in=Deal.objects.visible_to(user).values("pk"))
