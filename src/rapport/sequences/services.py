"""The writes of sequences: editing a sequence and its steps, enrolling people, pausing, resuming and stopping
enrolments, and running due steps. Every function here is the one path pages, API and jobs share.

Running a step (``run_due_step``) is one transaction under the enrolment's row lock (``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL): the stop checks, the daily-cap count, the email queued through compose (committed with
the same transaction) or the task created, the ``StepRun`` row (unique per enrolment and position) and the
enrolment's next position and time. A worker killed anywhere before the commit leaves nothing behind and the
step runs again; after the commit, the step is done and never runs twice."""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from rapport.core import services as core_services
from rapport.core.audit import record_setting_change

from . import mailer, schedule
from .models import (
    ACTIVE,
    FINISHED,
    OPEN_STATES,
    PAUSED,
    RUN_SENT,
    RUN_SKIPPED,
    RUN_TASK,
    STOPPED,
    DailySendCount,
    Enrolment,
    Sequence,
    Step,
    StepRun,
)

log = logging.getLogger(__name__)

RETRY_AFTER = dt.timedelta(minutes=15)
# How long an email step waits for the previous email to leave compose's queue before going without it.
THREAD_WAIT = dt.timedelta(days=1)
MAX_ENROL = 500

SEQUENCE_FIELDS = ("name", "description", "shared", "active", "window_start", "window_end", "holidays")
STEP_FIELDS = ("kind", "delay_days", "template_id", "subject", "body")


def _snapshot(sequence: Sequence) -> dict[str, Any]:
    data = {f: getattr(sequence, f) for f in SEQUENCE_FIELDS}
    data["window_start"] = data["window_start"].isoformat(timespec="minutes")
    data["window_end"] = data["window_end"].isoformat(timespec="minutes")
    data["steps"] = [
        {f: getattr(s, f) for f in STEP_FIELDS} | {"position": s.position} for s in sequence.steps.order_by("position")
    ]
    return data


# --- sequences and their steps ------------------------------------------------------------------------------
def create_sequence(*, actor: Any, steps: Iterable[dict[str, Any]] = (), **fields: Any) -> Sequence:
    with transaction.atomic():
        sequence = Sequence.objects.create(owner=actor, **{k: v for k, v in fields.items() if k in SEQUENCE_FIELDS})
        _write_steps(sequence, list(steps))
        record_setting_change("sequence", sequence, actor=actor, action="created", after=_snapshot(sequence))
    return sequence


def update_sequence(
    sequence: Sequence, *, actor: Any, steps: list[dict[str, Any]] | None = None, **fields: Any
) -> Sequence:
    """Change a sequence's settings and, when ``steps`` is given, its steps: the list in its new order, each an
    existing step (``id``) to keep and change, or a new one; steps left out are deleted. Enrolments keep their
    position, so a step added before where they stand is not sent to them."""
    with transaction.atomic():
        sequence = Sequence.objects.select_for_update().get(pk=sequence.pk)
        before = _snapshot(sequence)
        for key, value in fields.items():
            if key in SEQUENCE_FIELDS:
                setattr(sequence, key, value)
        sequence.updated_at = timezone.now()
        sequence.save()
        if steps is not None:
            _write_steps(sequence, steps)
        record_setting_change("sequence", sequence, actor=actor, before=before, after=_snapshot(sequence))
    return sequence


def _write_steps(sequence: Sequence, steps: list[dict[str, Any]]) -> None:
    existing = {s.pk: s for s in sequence.steps.all()}
    keep = {int(s["id"]) for s in steps if s.get("id") in existing}
    Step.objects.filter(sequence=sequence).exclude(pk__in=keep).delete()
    # Positions are unique but deferred: the reorder is checked at commit.
    for position, data in enumerate(steps):
        step = existing.get(int(data["id"])) if data.get("id") is not None else None
        if step is None:
            step = Step(sequence=sequence)
        step.position = position
        for key in STEP_FIELDS:
            if key in data:
                setattr(step, key, data[key])
        step.save()


def delete_sequence(sequence: Sequence, *, actor: Any) -> None:
    with transaction.atomic():
        before = _snapshot(sequence)
        record_setting_change("sequence", sequence, actor=actor, action="deleted", before=before)
        sequence.delete()


# --- enrolling ----------------------------------------------------------------------------------------------
class EnrolResult:
    def __init__(self) -> None:
        self.enrolled: list[Enrolment] = []
        self.already: list[int] = []  # person ids with an open enrolment in the sequence
        self.no_email: list[int] = []

    def as_dict(self) -> dict[str, Any]:
        return {
            "enrolled": [e.pk for e in self.enrolled],
            "already_enrolled": self.already,
            "no_email": self.no_email,
        }


def enrol_people(
    sequence: Sequence, people: Iterable[Any], *, actor: Any, now: dt.datetime | None = None
) -> EnrolResult:
    """Enrol people (already narrowed to those the actor may see) from the actor's own mailbox. A person with an
    open (active or paused) enrolment in the sequence is left as is; a person without an email is reported."""
    now = now or timezone.now()
    result = EnrolResult()
    mailbox = mailer.sender_mailbox(actor)
    first = sequence.steps.order_by("position").first()
    holidays = sequence.holiday_dates()
    for person in people:
        if not person.primary_email:
            result.no_email.append(person.pk)
            continue
        tz_name = schedule.recipient_zone(person)
        due = (
            schedule.step_due_at(
                now, first.delay_days, schedule.zone(tz_name), sequence.window_start, sequence.window_end, holidays
            )
            if first is not None
            else now
        )
        try:
            with transaction.atomic():
                enrolment = Enrolment.objects.create(
                    sequence=sequence,
                    person=person,
                    enrolled_by=actor,
                    mailbox=mailbox,
                    time_zone=tz_name,
                    enrolled_at=now,
                    updated_at=now,
                    next_run_at=due,
                )
        except IntegrityError:
            result.already.append(person.pk)
            continue
        result.enrolled.append(enrolment)
    return result


def enrol(
    sequence: Sequence,
    *,
    actor: Any,
    people_ids: list[int] | None = None,
    saved_view_id: int | None = None,
    now: dt.datetime | None = None,
) -> EnrolResult:
    """Enrol people by id, or everyone a saved view of people lists now (at most ``MAX_ENROL``), among those the
    actor may change. Refused as a whole (ValidationError naming the field) when an id is not such a person."""
    from rapport.core import bulkedit, listing, registry
    from rapport.core.models import SavedView

    from .queries import enrollable_people

    if not sequence.active:
        raise ValidationError({"sequence": "This sequence is switched off; switch it on to enrol people."})
    people = enrollable_people(actor).select_related("company").prefetch_related("emails")
    if saved_view_id is not None:
        view = (
            SavedView.objects.filter(pk=saved_view_id, record_type="people")
            .filter(Q(owner=actor) | Q(shared=True))
            .first()
        )
        if view is None:
            raise ValidationError({"saved_view": f"There is no saved view of people #{saved_view_id}."})
        try:
            matching = bulkedit.matching(registry.get("people"), view.params, actor, "change")
        except listing.QueryError as exc:
            raise ValidationError({"saved_view": f"Its filter {exc.param} cannot be used: {exc.message}"}) from exc
        ids = list(matching.order_by("pk").values_list("pk", flat=True)[: MAX_ENROL + 1])
        if len(ids) > MAX_ENROL:
            raise ValidationError({"saved_view": f"It lists more than {MAX_ENROL} people; narrow it first."})
        chosen = list(people.filter(pk__in=ids).order_by("pk"))
    else:
        wanted = list(dict.fromkeys(people_ids or []))
        chosen = list(people.filter(pk__in=wanted).order_by("pk"))
        missing = sorted(set(wanted) - {p.pk for p in chosen})
        if missing:
            raise ValidationError({"people": f"There is no person #{missing[0]} you may enrol."})
    return enrol_people(sequence, chosen, actor=actor, now=now)


def _set_state(enrolment: Enrolment, *, expect: tuple[str, ...], **values: Any) -> bool:
    values["updated_at"] = timezone.now()
    changed = Enrolment.objects.filter(pk=enrolment.pk, state__in=expect).update(**values)
    if changed:
        enrolment.refresh_from_db()
    return bool(changed)


def stop_enrolment(enrolment: Enrolment, *, reason: str, now: dt.datetime | None = None) -> bool:
    """Stop an open enrolment for good (replied, bounced, unsubscribed, meeting booked, by hand)."""
    return _set_state(
        enrolment,
        expect=OPEN_STATES,
        state=STOPPED,
        stop_reason=reason,
        ended_at=now or timezone.now(),
        next_run_at=None,
    )


def pause_enrolment(enrolment: Enrolment) -> bool:
    return _set_state(enrolment, expect=(ACTIVE,), state=PAUSED, paused_at=timezone.now())


def resume_enrolment(enrolment: Enrolment, *, now: dt.datetime | None = None) -> bool:
    """Resume a paused enrolment: the next step runs at the next moment of the window (its delay was spent
    waiting), or later if it was not due yet."""
    now = now or timezone.now()
    sequence = enrolment.sequence
    tz = schedule.zone(enrolment.time_zone)
    due = max(enrolment.next_run_at or now, now)
    due = schedule.into_window(due, tz, sequence.window_start, sequence.window_end, sequence.holiday_dates())
    return _set_state(enrolment, expect=(PAUSED,), state=ACTIVE, paused_at=None, next_run_at=due)


# --- stop checks --------------------------------------------------------------------------------------------
def _sent_messages(enrolment: Enrolment) -> list[Any]:
    runs = StepRun.objects.filter(enrolment=enrolment, outcome=RUN_SENT).order_by("position")
    return [m for m in (mailer.sent_message(r.outgoing_id) for r in runs) if m is not None]


def person_addresses(person: Any) -> list[str]:
    addresses = {person.primary_email.lower()} if person.primary_email else set()
    addresses |= {e.email.lower() for e in person.emails.all() if getattr(e, "email", "")}
    return sorted(addresses)


def reply_received(enrolment: Enrolment) -> Q:
    """The inbound messages that count as the person's answer: in a thread a step went out in, or from one of
    the person's addresses, or linked to the person, received after the enrolment began."""
    threads = [m.thread_id for m in _sent_messages(enrolment)]
    condition = Q(people=enrolment.person_id) | Q(from_address__in=person_addresses(enrolment.person))
    if threads:
        condition |= Q(thread_id__in=threads)
    return Q(direction="in", received_at__gte=enrolment.enrolled_at) & condition


def stop_reason_for(enrolment: Enrolment) -> str:
    """Why this enrolment must stop now, or "" (checked under the row lock before every step)."""
    from rapport.activities.models import Activity
    from rapport.mail.models import Message

    person = enrolment.person
    if person.deleted_at is not None:
        return "person_gone"
    if not person.primary_email:
        return "no_email"
    if any(mailer.is_suppressed(a) for a in person_addresses(person)):
        return "unsubscribed"
    inbound = Message.objects.filter(reply_received(enrolment))
    if inbound.filter(is_bounce=True).exists():
        return "bounced"
    if inbound.filter(is_bounce=False).exists():
        return "replied"
    meeting = Activity.objects.filter(
        kind="meeting",
        deleted_at__isnull=True,
        created_at__gt=enrolment.enrolled_at,
        links__type_key="people",
        links__record_id=person.pk,
    )
    if meeting.exists():
        return "meeting_booked"
    return ""


def on_messages_received(messages: list[Any]) -> int:
    """mail.services.RECEIVED_BATCH_HOOKS: the new inbound messages of a sync batch (or one stored message) stop
    the open enrolments they answer. One query when no enrolment is open, or none was open before the newest
    of them arrived — the usual case for most mail; otherwise each message is looked at as below."""
    inbound = [m for m in messages if getattr(m, "direction", "in") == "in"]
    if not inbound:
        return 0
    newest = max(m.received_at for m in inbound)
    if not Enrolment.objects.filter(state__in=OPEN_STATES, enrolled_at__lte=newest).exists():
        return 0
    return sum(on_message_received(m) for m in inbound)


def on_message_received(message: Any) -> int:
    """mail.services.RECEIVED_HOOKS: a new inbound message stops the open enrolments it answers (a reply in a
    step's thread or from the person) — bounced when it is a bounce report. Returns how many stopped."""
    if getattr(message, "direction", "in") != "in":
        return 0
    candidates = Enrolment.objects.filter(state__in=OPEN_STATES, enrolled_at__lte=message.received_at)
    by_person = Q(person__in=message.people.all())
    if message.from_address:
        address = message.from_address.lower()
        by_person |= Q(person__primary_email__iexact=address) | Q(person__emails__email__iexact=address)
    stopped = 0
    reason = "bounced" if message.is_bounce else "replied"
    seen: set[int] = set()
    for enrolment in candidates.filter(by_person).select_related("person").distinct():
        seen.add(enrolment.pk)
        stopped += stop_enrolment(enrolment, reason=reason)
    # A reply from another address (a colleague answering, an alias) still lands in a step's thread.
    in_thread = mailer.enrolments_in_thread(message.thread_id) - seen
    for enrolment in Enrolment.objects.filter(
        pk__in=in_thread, state__in=OPEN_STATES, enrolled_at__lte=message.received_at
    ):
        stopped += stop_enrolment(enrolment, reason=reason)
    return stopped


def on_activity_event(event: Any) -> None:
    """jobs.events consumer: a meeting booked with an enrolled person stops their enrolments at once (the
    check before each step catches it too, should this event come late)."""
    if event.type_key != "activities" or event.kind != "created":
        return
    from rapport.activities.models import Activity, ActivityLink

    if not Activity.objects.filter(pk=event.record_id, kind="meeting", deleted_at__isnull=True).exists():
        return
    people = ActivityLink.objects.filter(activity_id=event.record_id, type_key="people").values("record_id")
    for enrolment in Enrolment.objects.filter(
        state__in=OPEN_STATES, person__in=people, enrolled_at__lt=event.occurred_at
    ):
        stop_enrolment(enrolment, reason="meeting_booked")


# --- the daily cap ------------------------------------------------------------------------------------------
def daily_cap() -> int:
    return int(settings.RAPPORT_SEQUENCE_DAILY_CAP)


def sender_day(user: Any, now: dt.datetime) -> dt.date:
    return now.astimezone(schedule.zone(getattr(user, "time_zone", "UTC"))).date()


def take_send_slot(user: Any, now: dt.datetime) -> bool:
    """Count one email against the sender's cap for their local day; False when the cap is reached. One
    conditional UPDATE: a second worker waits for the first's row lock, then sees its count (PostgreSQL re-reads
    the row under READ COMMITTED), so the cap holds however many workers run. Rolls back with the step."""
    day = sender_day(user, now)
    DailySendCount.objects.bulk_create([DailySendCount(user=user, day=day)], ignore_conflicts=True)
    return bool(DailySendCount.objects.filter(user=user, day=day, count__lt=daily_cap()).update(count=F("count") + 1))


def next_sender_day(user: Any, now: dt.datetime) -> dt.datetime:
    tz = schedule.zone(getattr(user, "time_zone", "UTC"))
    tomorrow = sender_day(user, now) + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0, 0), tzinfo=tz).astimezone(dt.UTC)


# --- running steps ------------------------------------------------------------------------------------------
def due_enrolments(now: dt.datetime) -> QuerySet[Enrolment]:
    return Enrolment.objects.filter(state=ACTIVE, next_run_at__lte=now).order_by("next_run_at", "id")


def run_due_steps(now: dt.datetime | None = None, *, limit: int = 500) -> dict[str, int]:
    """Run every due step, one enrolment per transaction. Safe to run in any number of workers at once."""
    counts = {"sent": 0, "tasks": 0, "stopped": 0, "finished": 0, "deferred": 0, "skipped": 0, "failed": 0}
    for _ in range(limit):
        outcome = run_next_due_step(now or timezone.now())
        if outcome is None:
            break
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def run_next_due_step(now: dt.datetime) -> str | None:
    """Claim one due enrolment (skipping rows another worker holds) and run its step; None when none is due.
    A step that fails (compose missing, a template gone) is rolled back whole and tried again in
    ``RETRY_AFTER``, with the error on the enrolment, so one enrolment never holds up the others."""
    with transaction.atomic():
        enrolment = (
            due_enrolments(now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("sequence", "person", "person__company", "enrolled_by", "mailbox")
            .first()
        )
        if enrolment is None:
            return None
        try:
            with transaction.atomic():
                outcome = _run_step(enrolment, now)
        except Exception as exc:  # noqa: BLE001 - any failure of one step is the enrolment's error, not the job's
            log.exception("sequence %s: step of enrolment %s failed", enrolment.sequence_id, enrolment.pk)
            Enrolment.objects.filter(pk=enrolment.pk).update(
                next_run_at=now + RETRY_AFTER, last_error=str(exc)[:500] or type(exc).__name__, updated_at=now
            )
            return "failed"
        if enrolment.last_error:
            Enrolment.objects.filter(pk=enrolment.pk).update(last_error="")
        return outcome


def _run_step(enrolment: Enrolment, now: dt.datetime) -> str:
    sequence = enrolment.sequence
    steps = list(sequence.steps.order_by("position"))
    if enrolment.position >= len(steps):
        _set_state(enrolment, expect=(ACTIVE,), state=FINISHED, ended_at=now, next_run_at=None)
        return "finished"
    reason = stop_reason_for(enrolment)
    if reason:
        stop_enrolment(enrolment, reason=reason, now=now)
        return "stopped"
    step = steps[enrolment.position]
    tz = schedule.zone(enrolment.time_zone)
    holidays = sequence.holiday_dates()
    if step.kind == "email" and not sequence.active:
        # A sequence switched off holds its emails; its enrolments go on when it is switched on again.
        Enrolment.objects.filter(pk=enrolment.pk).update(next_run_at=now + dt.timedelta(hours=1), updated_at=now)
        return "deferred"
    if step.kind == "email":
        if not schedule.is_business_day(now.astimezone(tz).date(), holidays) or not (
            sequence.window_start <= now.astimezone(tz).time() < sequence.window_end
        ):
            later = schedule.into_window(now, tz, sequence.window_start, sequence.window_end, holidays)
            Enrolment.objects.filter(pk=enrolment.pk).update(next_run_at=later, updated_at=now)
            return "deferred"
        previous, first_subject, last_at = _thread_start(enrolment)
        if last_at is not None and previous is None and now - last_at < THREAD_WAIT:
            # The previous email is still in compose's queue: wait for it, so this one answers it in its thread.
            later = schedule.into_window(now + RETRY_AFTER, tz, sequence.window_start, sequence.window_end, holidays)
            Enrolment.objects.filter(pk=enrolment.pk).update(next_run_at=later, updated_at=now)
            return "deferred"
        if not take_send_slot(enrolment.enrolled_by, now):
            later = schedule.into_window(
                next_sender_day(enrolment.enrolled_by, now), tz, sequence.window_start, sequence.window_end, holidays
            )
            Enrolment.objects.filter(pk=enrolment.pk).update(next_run_at=later, updated_at=now)
            return "deferred"
        run = _send_step_email(enrolment, step, now, previous=previous, first_subject=first_subject)
        outcome = "sent"
    else:
        run = _create_step_task(enrolment, step, now)
        outcome = "tasks" if run.outcome == RUN_TASK else "skipped"
    position = enrolment.position + 1
    if position >= len(steps):
        Enrolment.objects.filter(pk=enrolment.pk).update(
            position=position, state=FINISHED, ended_at=now, next_run_at=None, updated_at=now
        )
    else:
        following = steps[position]
        due = schedule.step_due_at(now, following.delay_days, tz, sequence.window_start, sequence.window_end, holidays)
        Enrolment.objects.filter(pk=enrolment.pk).update(position=position, next_run_at=due, updated_at=now)
    return outcome


def _thread_start(enrolment: Enrolment) -> tuple[Any, str, dt.datetime | None]:
    """The message the next email answers (the last one sent in this enrolment, once compose has sent and stored
    it), the first email's subject, and when the last email step ran."""
    runs = list(StepRun.objects.filter(enrolment=enrolment, outcome=RUN_SENT).order_by("position"))
    if not runs:
        return None, "", None
    return mailer.sent_message(runs[-1].outgoing_id), runs[0].subject, runs[-1].at


def _send_step_email(
    enrolment: Enrolment, step: Step, now: dt.datetime, *, previous: Any, first_subject: str
) -> StepRun:
    person, sender = enrolment.person, enrolment.enrolled_by
    if step.template_id:
        subject, body = mailer.render_template(step.template_id, record=person, sender=sender)
    else:
        values = mailer.merge_values(person, sender)
        subject = mailer.merge(step.subject, values, escape=False)
        body = mailer.body_html(mailer.merge(html.escape(step.body), values, escape=True))
    if first_subject:
        # One thread: every later email answers the previous one under the first one's subject (a new subject
        # would split the conversation in most mail clients).
        subject = first_subject if first_subject.lower().startswith("re:") else f"Re: {first_subject}"
    outgoing = mailer.send_email(
        sender=sender,
        mailbox=enrolment.mailbox,
        to=[person.primary_email],
        subject=subject,
        body_html=body,
        in_reply_to=previous,
        record=person,
        tracking=True,
        list_unsubscribe=True,
        sequence_enrolment_id=enrolment.pk,
    )
    return StepRun.objects.create(
        enrolment=enrolment,
        step=step,
        position=enrolment.position,
        outcome=RUN_SENT,
        outgoing_id=getattr(outgoing, "pk", None),
        subject=subject,
        at=now,
    )


def _create_step_task(enrolment: Enrolment, step: Step, now: dt.datetime) -> StepRun:
    """A task for the enrolling user, linked to the person, due now (the step's time), written through the
    activity's serializer and the write path like any task they schedule themselves."""
    from rapport.activities.models import Activity
    from rapport.activities.serializers import ActivityWriteSerializer

    person, user = enrolment.person, enrolment.enrolled_by
    values = mailer.merge_values(person, user)
    subject = mailer.merge(step.subject, values, escape=False).strip() or f"Follow up with {person.full_name}"
    data = {
        "kind": "task",
        "subject": subject[:200],
        "body": mailer.merge(step.body, values, escape=False),
        "due_at": now,
        "assignee": user.pk,
        "links": [{"type": "people", "id": person.pk}],
    }
    serializer = ActivityWriteSerializer(data=data, context={"actor": user})
    activity: Any = None
    if serializer.is_valid():
        try:
            with transaction.atomic():
                activity = core_services.create_record(
                    Activity, serializer.validated_data, actor=user, source="automation"
                )
        except (PermissionDenied, ValidationError) as exc:
            log.warning("sequence %s: task for enrolment %s not created: %s", enrolment.sequence_id, enrolment.pk, exc)
    else:
        log.warning(
            "sequence %s: task for enrolment %s refused: %s", enrolment.sequence_id, enrolment.pk, serializer.errors
        )
    return StepRun.objects.create(
        enrolment=enrolment,
        step=step,
        position=enrolment.position,
        outcome=RUN_TASK if activity is not None else RUN_SKIPPED,
        activity=activity,
        subject=subject[:998],
        at=now,
    )
