"""Follow-up sequences: ordered steps (emails and tasks) with business-day delays and a sending window, the
people enrolled in them, each step's run, and the per-sender daily send counter."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

STEP_KINDS = [("email", "Email"), ("task", "Task")]

ACTIVE, PAUSED, FINISHED, STOPPED = "active", "paused", "finished", "stopped"
STATES = [(ACTIVE, "Active"), (PAUSED, "Paused"), (FINISHED, "Finished"), (STOPPED, "Stopped")]
# A person holds at most one enrolment in these states per sequence.
OPEN_STATES = (ACTIVE, PAUSED)

STOP_REASONS = [
    ("", ""),
    ("replied", "Replied"),
    ("bounced", "Bounced"),
    ("unsubscribed", "Unsubscribed"),
    ("meeting_booked", "Meeting booked"),
    ("manual", "Stopped by hand"),
    ("no_email", "No email address"),
    ("person_gone", "Person deleted"),
]

RUN_SENT, RUN_TASK, RUN_SKIPPED = "sent", "task", "skipped"
RUN_OUTCOMES = [(RUN_SENT, "Email queued"), (RUN_TASK, "Task created"), (RUN_SKIPPED, "Skipped")]


class Sequence(models.Model):
    """A follow-up plan. Its sending window is read in the recipient's time zone; delays count business days
    (Monday to Friday, minus ``holidays``)."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sequences")
    # Shared: every user may see it and enrol people in it; only its owner (or a settings manager) edits it.
    shared = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    window_start = models.TimeField(default=dt.time(9, 0))
    window_end = models.TimeField(default=dt.time(17, 0))
    # ISO dates (YYYY-MM-DD) on which nothing is sent and which delays do not count.
    holidays = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def holiday_dates(self) -> frozenset[dt.date]:
        return frozenset(dt.date.fromisoformat(d) for d in self.holidays or [])


class Step(models.Model):
    """One step: an email (a compose template, or a subject and body with merge fields) or a task for the
    enrolling user, ``delay_days`` business days after the previous step (after enrolment for the first)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=STEP_KINDS, default="email")
    delay_days = models.PositiveIntegerField(default=0)
    # compose.models.Template's id (compose is another app, resolved through compose.templates at send time);
    # when empty, subject and body are used with merge fields such as {{ person.first_name }}.
    template_id = models.BigIntegerField(null=True, blank=True)
    # Empty on a later email step: it goes as "Re: <the first email's subject>" in the same thread.
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "position"],
                name="sequence_step_position_unique",
                deferrable=models.Deferrable.DEFERRED,
            )
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_kind_display()}"


class Enrolment(models.Model):
    """A person going through a sequence, from the enrolling user's mailbox. ``position`` is the next step to
    run (0-based, equal to the number of steps done); ``next_run_at`` is when (UTC)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrolments")
    person = models.ForeignKey("contacts.Person", on_delete=models.CASCADE, related_name="sequence_enrolments")
    enrolled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey("mail.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=STATES, default=ACTIVE)
    stop_reason = models.CharField(max_length=20, choices=STOP_REASONS, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # The time zone the window was read in (the recipient's), kept so pages can say "09:00 their time".
    time_zone = models.CharField(max_length=64, default="UTC")
    # Why the last attempt at the next step failed (it is tried again later); empty when it went well.
    last_error = models.CharField(max_length=500, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    paused_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-enrolled_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sequence", "person"], condition=Q(state__in=OPEN_STATES), name="sequence_one_open_enrolment"
            )
        ]
        indexes = [
            models.Index(fields=["next_run_at", "id"], name="sequence_enrolment_due_idx", condition=Q(state=ACTIVE)),
            models.Index(fields=["person", "state"], name="sequence_enrolment_person_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} in {self.sequence_id}"


class StepRun(models.Model):
    """What a step did for one enrolment: written in the same transaction as the email it queued or the task it
    created, and unique per (enrolment, position), so a step runs once whatever happens to the worker."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="runs")
    step = models.ForeignKey(Step, null=True, on_delete=models.SET_NULL, related_name="runs")
    position = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=RUN_OUTCOMES)
    # compose.models.OutgoingMessage id (email steps) and, once sent, the Message-ID it went out with.
    outgoing_id = models.BigIntegerField(null=True, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    activity = models.ForeignKey(
        "activities.Activity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["enrolment", "position"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "position"], name="sequence_run_once")]
        indexes = [models.Index(fields=["step", "outcome"], name="sequence_run_step_idx")]


class DailySendCount(models.Model):
    """Emails a sender's sequences queued on one day (the sender's local day), counted with one conditional
    UPDATE so parallel workers never pass RAPPORT_SEQUENCE_DAILY_CAP."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="sequence_daily_count_unique")]
