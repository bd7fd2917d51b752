"""Read-side helpers of deals (the board's own reads are in board.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from rapport.core.inputs import is_id
from rapport.core.listing import QueryError, parse_day

from .board import format_amount
from .models import Deal, DealContact, LostReason, Stage, StageChange


def deals_of_person(user: Any, person: Any) -> QuerySet[Deal]:
    """The deals ``user`` may see that have ``person`` among their contacts."""
    return Deal.objects.visible_to(user).filter(
        pk__in=DealContact.objects.filter(person_id=person.pk).values("deal_id")
    )


def deals_of_company(user: Any, company: Any) -> QuerySet[Deal]:
    """The deals ``user`` may see of ``company``."""
    return Deal.objects.visible_to(user).filter(company_id=company.pk)


def section_rows(deals: QuerySet[Deal], limit: int) -> list[dict[str, Any]]:
    """The latest-changed ``limit`` deals as rows for the deals section of a person or company page."""
    rows: list[dict[str, Any]] = list(
        deals.order_by("-updated_at", "-id").values(  # type: ignore[arg-type]
            "id", "title", "status", "amount", "currency", "stage__name", "expected_close_date"
        )[:limit]
    )
    for row in rows:
        row["amount_text"] = format_amount(row["amount"])
    return rows


# --- the deal page --------------------------------------------------------------------------------
PLANNED_KINDS = ("task", "call", "meeting")


def next_activity(user: Any, deal: Deal) -> Any:
    """The deal's next planned activity ``user`` may see: the open task, call or meeting linked to it
    that is due (or starts) first; None when nothing is planned."""
    from django.apps import apps

    if not apps.is_installed("rapport.activities") or user.scope_for("activities", "view") is None:
        return None
    from django.db.models import F
    from django.db.models.functions import Coalesce

    from rapport.activities.models import Activity, ActivityLink

    linked = ActivityLink.objects.filter(type_key="deals", record_id=deal.pk).values("activity_id")
    return (
        Activity.objects.visible_to(user)
        .filter(pk__in=linked, done=False, kind__in=PLANNED_KINDS)
        .select_related("assignee")
        .annotate(planned_at=Coalesce("due_at", "start_at"))
        .order_by(F("planned_at").asc(nulls_last=True), "id")
        .first()
    )


def reopen_stage(deal: Deal) -> Stage | None:
    """Where a closed deal goes back to when reopened: the open stage it was in before it closed (if
    that stage is still in use), else its pipeline's first open stage."""
    last = StageChange.objects.filter(deal=deal, to_stage_id=deal.stage_id).order_by("-id").first()
    previous = last.from_stage if last is not None and last.from_stage_id else None
    if (
        previous is not None
        and previous.kind == "open"
        and not previous.archived
        and previous.pipeline_id == deal.pipeline_id
    ):
        return previous
    return deal.pipeline.first_stage("open")


def deal_page(deal: Deal, user: Any) -> dict[str, Any]:
    """What the deal's page shows beyond the generic detail page: the stage bar of its pipeline,
    the Won and Lost actions with the lost reasons, the next planned activity, the line items'
    totals and the number of quotes (RecordType.detail_context of deals)."""
    from rapport.core import visibility
    from rapport.quotes.models import price_all

    stages = [s for s in deal.pipeline.stages.all() if not s.archived or s.pk == deal.stage_id]
    current = next((n for n, s in enumerate(stages) if s.pk == deal.stage_id), -1)
    bar = [
        {"stage": s, "current": s.pk == deal.stage_id, "passed": deal.status == "open" and n < current}
        for n, s in enumerate(stages)
        if s.kind == "open"
    ]
    can_change = visibility.can(user, deal, "change")
    closed = deal.status != "open"
    return {
        "deal": deal,
        "stage_bar": bar,
        "can_move": can_change,
        "can_win": can_change and not closed and any(s.kind == "won" for s in stages),
        "can_lose": can_change and not closed and any(s.kind == "lost" for s in stages),
        "can_reopen": can_change and closed,
        "lost_reasons": list(LostReason.objects.filter(active=True)) if can_change and not closed else [],
        "next_activity": next_activity(user, deal) if not closed else None,
        "line_totals": price_all(deal.line_items.all(), deal.currency),
        "quote_count": deal.quotes.count(),
        # The title is the heading, stage and status are on the bar, the line items have their own card.
        "fields_shown_elsewhere": ("title", "stage", "status", "line_items"),
    }


# --- deals that entered a stage (the funnel report's drill-down) ---------------------------------------
def moved_on_later() -> QuerySet[StageChange]:
    """For a stage change (the outer row), the later changes of the same deal into a further stage that is
    not a lost stage: the funnel's "advanced". The report and the list filter both use it."""
    return StageChange.objects.filter(
        deal_id=OuterRef("deal_id"),
        id__gt=OuterRef("id"),
        to_stage__position__gt=OuterRef("to_stage__position"),
    ).exclude(to_stage__kind="lost")


def _entry_day(param: str, values: list[str], *, end: bool) -> dt.datetime | None:
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(param, "give one date.")
    day = parse_day(param, values[0]) + dt.timedelta(days=1 if end else 0)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def entered_q(parts: dict[str, list[str]], user: Any) -> Q:
    """The ``entered`` list filter: deals moved into one of the stages ``entered`` (or created in it;
    any stage when not given) on a day from ``entered__after`` to ``entered__before`` (the viewer's time
    zone, both included), from the stage-change history the funnel report counts; ``entered__advanced=yes``
    keeps the deals that later reached a further stage that is not lost after such an entry, ``no`` the
    others. A bad value raises QueryError naming its parameter."""
    ids: list[int] = []
    for value in parts.get("", []):
        if not is_id(value):
            raise QueryError("entered", f"{value[:40]!r} is not a stage id.")
        ids.append(int(value))
    entries = StageChange.objects.filter(deal_id=OuterRef("pk"))
    if ids:
        entries = entries.filter(to_stage_id__in=ids)
    start = _entry_day("entered__after", parts.get("after", []), end=False)
    end = _entry_day("entered__before", parts.get("before", []), end=True)
    if start is not None:
        entries = entries.filter(changed_at__gte=start)
    if end is not None:
        entries = entries.filter(changed_at__lt=end)
    advanced = [v.lower() for v in parts.get("advanced", [])]
    if not advanced:
        return Q(Exists(entries))
    if len(set(advanced)) > 1 or advanced[0] not in ("yes", "no", "true", "false"):
        raise QueryError("entered__advanced", "use yes or no.")
    moved_on = Exists(entries.filter(Exists(moved_on_later())))
    if advanced[0] in ("yes", "true"):
        return Q(moved_on)
    return Q(Exists(entries)) & ~Q(moved_on)


# --- deals with (or without) a next activity (the data quality report's drill-down) ----------------------
def planned_activity() -> Exists:
    """For a deal (the outer row), whether an activity still to do is linked to it."""
    from rapport.activities.models import ActivityLink

    return Exists(
        ActivityLink.objects.filter(
            type_key="deals", record_id=OuterRef("pk"), activity__done=False, activity__deleted_at__isnull=True
        )
    )


def next_activity_q(parts: dict[str, list[str]], user: Any) -> Q:
    """The ``has_next_activity`` list filter: yes, deals with an activity to do linked; no, those without."""
    wanted = {v.lower() for v in parts.get("", [])}
    if len(wanted) != 1 or not wanted <= {"yes", "no", "true", "false"}:
        raise QueryError("has_next_activity", "use yes or no.")
    return Q(planned_activity()) if wanted <= {"yes", "true"} else ~Q(planned_activity())
