"""Converting a lead (a person early in their lifecycle) into a deal."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from rapport.contacts.models import Company, Person
from rapport.core import services
from rapport.core.visibility import linkable

from .models import Deal

# Lifecycle stages that count as a lead and may be converted into a deal.
LEAD_STAGES = frozenset({"lead", "mql", "sql"})


def is_lead(person: Person) -> bool:
    return person.lifecycle_stage in LEAD_STAGES


def convert_lead(person: Person, *, actor: Any, source: str) -> Deal:
    """Create a deal for ``person`` (their company, them as decision maker) and move their
    lifecycle stage to opportunity, both through the write path in one transaction."""
    from .serializers import DealWriteSerializer

    if not is_lead(person):
        raise ValidationError({"lifecycle_stage": f"{person} is not a lead ({person.get_lifecycle_stage_display()})."})
    title = f"{person} — new deal"[:200]
    data: dict[str, Any] = {
        "title": title,
        # The person's company only when the actor may link to it.
        "company": person.company_id if linkable(Company, actor).filter(pk=person.company_id).exists() else None,
        "contacts": [{"person": person.pk, "role": "decision_maker"}],
    }
    serializer = DealWriteSerializer(data=data, context={"actor": actor})
    if not serializer.is_valid():
        raise ValidationError(serializer.errors)
    with transaction.atomic():
        deal = services.create_record(Deal, serializer.validated_data, actor=actor, source=source)
        services.update_record(person, {"lifecycle_stage": "opportunity"}, actor=actor, source=source)
    return deal  # type: ignore[return-value]
