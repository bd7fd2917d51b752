"""Mail on the timelines of people, companies (through their people) and deals (through their threads), as a
TimelineSource of activities' timeline; only messages the viewer may read (mail.queries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce

from rapport.activities.timeline import Item, TimelineSource, register_source

from .models import Message, Thread
from .queries import visible_messages

SHOWN = (
    "id",
    "thread_id",
    "subject",
    "from_address",
    "from_name",
    "direction",
    "to",
    "snippet",
    "sent_at",
    "received_at",
)


def fetch(
    user: Any, type_key: str, record: Any, target_ids: dict[str, list[int]], after: Callable[[str], Q], size: int
) -> list[Item]:
    people = Message.people.through.objects.filter(message_id=OuterRef("pk"))
    condition: Q | Exists
    if type_key == "people":
        condition = Exists(people.filter(person_id=record.pk))
    elif type_key == "companies":
        companies = Message.companies.through.objects.filter(message_id=OuterRef("pk"), company_id=record.pk)
        condition = Exists(companies) | Exists(people.filter(person_id__in=target_ids.get("people", [])))
    elif type_key == "deals":
        deals = Thread.deals.through.objects.filter(thread_id=OuterRef("thread_id"), deal_id=record.pk)
        condition = Exists(deals)
    else:
        return []
    rows = (
        visible_messages(user)
        .filter(condition)
        .annotate(at=Coalesce("sent_at", "received_at"))
        .filter(after("at"))
        .only(
            "id",
            "thread_id",
            "subject",
            "from_address",
            "from_name",
            "direction",
            "to",
            "snippet",
            "sent_at",
            "received_at",
        )
        .order_by("-at", "-id")[: size + 1]
    )
    return [Item("mail", m.at, m.pk, payload=m, template="mail/_timeline_item.html") for m in rows]  # type: ignore[attr-defined]


source = register_source(TimelineSource(name="mail", fetch=fetch))
