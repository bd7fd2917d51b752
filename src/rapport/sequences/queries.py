"""Read-side helpers of sequences: who sees which sequence and enrolment, and the per-step statistics.

Visibility: a sequence is seen by its owner, by everyone when it is shared, and by settings managers; it is
changed by its owner or a settings manager. An enrolment is seen by the user who enrolled the person and by
settings managers. People are enrolled only by users who may change them (``Person.visible_to(user, "change")``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet

from rapport.contacts.models import Person

from . import mailer
from .models import Enrolment, Sequence, Step, StepRun


def visible_sequences(user: Any) -> QuerySet[Sequence]:
    qs = Sequence.objects.select_related("owner")
    if user.can_manage_settings():
        return qs
    return qs.filter(Q(owner=user) | Q(shared=True))


def may_create_sequences(user: Any) -> bool:
    return user.is_active and user.scope_for("people", "change") is not None


def may_edit(user: Any, sequence: Sequence) -> bool:
    return sequence.owner_id == user.pk or user.can_manage_settings()


def visible_enrolments(user: Any) -> QuerySet[Enrolment]:
    qs = Enrolment.objects.select_related("sequence", "person", "enrolled_by")
    if user.can_manage_settings():
        return qs
    return qs.filter(enrolled_by=user)


def enrollable_people(user: Any) -> QuerySet[Person]:
    return Person.objects.visible_to(user, "change")


def steps_of(sequence: Sequence) -> list[Step]:
    return list(sequence.steps.order_by("position"))


STAT_KEYS = ("sent", "tasks", "opened", "clicked", "replied", "bounced")


def step_stats(sequence: Sequence, steps: list[Step] | None = None) -> dict[int, dict[str, int | None]]:
    """Per step id: emails sent, tasks created, replies and bounces (enrolments that stopped so while this step
    was the last one done), opened and clicked (compose's tracking; None where it is not installed)."""
    steps = steps if steps is not None else steps_of(sequence)
    stats: dict[int, dict[str, int | None]] = {s.pk: dict.fromkeys(STAT_KEYS, 0) for s in steps}
    runs = StepRun.objects.filter(enrolment__sequence=sequence, step__isnull=False)
    for row in runs.values("step_id", "outcome").annotate(n=Count("id")):
        if row["step_id"] in stats:
            key = {"sent": "sent", "task": "tasks"}.get(row["outcome"])
            if key:
                stats[row["step_id"]][key] = row["n"]
    last_done = runs.filter(position=F("enrolment__position") - 1, enrolment__stop_reason__in=("replied", "bounced"))
    for step_id, reason, n in last_done.values_list("step_id", "enrolment__stop_reason").annotate(n=Count("id")):
        if step_id in stats:
            stats[step_id][reason] = n
    tracking = mailer.tracking_counts(sequence.pk)
    for step_id, values in stats.items():
        counts = tracking.get(step_id) if tracking is not None else None
        values["opened"] = None if tracking is None else (counts or {}).get("opened", 0)
        values["clicked"] = None if tracking is None else (counts or {}).get("clicked", 0)
    return stats


def state_counts(sequence: Sequence, user: Any) -> dict[str, int]:
    rows = visible_enrolments(user).filter(sequence=sequence).values("state").annotate(n=Count("id"))
    counts = {"active": 0, "paused": 0, "finished": 0, "stopped": 0}
    counts.update({r["state"]: r["n"] for r in rows})
    return counts


def active_counts(sequence_ids: list[int], user: Any) -> dict[int, int]:
    """Open (active or paused) enrolments per sequence among those the user sees."""
    rows = (
        visible_enrolments(user)
        .filter(sequence_id__in=sequence_ids, state__in=("active", "paused"))
        .values_list("sequence_id")
        .annotate(n=Count("id"))
    )
    return dict(rows)
