"""An activity is a registered record: a task, call, meeting or note (email later), with links to
any number of records of other types."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rapport.core import registry
from rapport.core.models import Record

LIVE = Q(deleted_at__isnull=True)

KINDS = [("task", "Task"), ("call", "Call"), ("meeting", "Meeting"), ("note", "Note")]
OUTCOMES = [
    ("connected", "Connected"),
    ("left_voicemail", "Left voicemail"),
    ("no_answer", "No answer"),
    ("wrong_number", "Wrong number"),
]
PRIORITIES = [("low", "Low"), ("normal", "Normal"), ("high", "High")]


class Activity(Record):
    kind = models.CharField(max_length=10, choices=KINDS, default="task")
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")  # plain text or Markdown, rendered sanitized
    due_at = models.DateTimeField(null=True, blank=True)  # tasks: when it is due
    start_at = models.DateTimeField(null=True, blank=True)  # meetings and calls: when it happens
    end_at = models.DateTimeField(null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=OUTCOMES, blank=True, default="")
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    priority = models.CharField(max_length=10, choices=PRIORITIES, default="normal")

    related_write_keys = frozenset({"links"})

    class Meta:
        verbose_name_plural = "activities"
        indexes = [
            models.Index(fields=["created_at", "id"], name="activity_created_idx", condition=LIVE),
            models.Index(fields=["updated_at", "id"], name="activity_updated_idx", condition=LIVE),
            models.Index(fields=["subject", "id"], name="activity_subject_idx", condition=LIVE),
            models.Index(fields=["team", "created_at", "id"], name="activity_team_idx", condition=LIVE),
            models.Index(fields=["assignee", "done", "due_at", "id"], name="activity_my_day_idx", condition=LIVE),
            models.Index(fields=["due_at", "id"], name="activity_due_idx", condition=LIVE),
            models.Index(fields=["start_at", "id"], name="activity_start_idx", condition=LIVE),
        ]

    def __str__(self) -> str:
        return self.subject

    def prepare_write(self, before: dict[str, Any] | None, pending: dict[str, Any]) -> None:
        if before is None and self.assignee_id is None:
            self.assignee_id = self.owner_id  # whoever logs or schedules it does it, unless assigned
        if self.done and self.done_at is None:
            self.done_at = timezone.now()
        if not self.done:
            self.done_at = None
        if self.kind == "note":
            self.done = True
            self.done_at = self.done_at or timezone.now()
        if self.start_at and self.end_at and not self.duration_minutes:
            self.duration_minutes = max(0, int((self.end_at - self.start_at).total_seconds() // 60))
        if self.kind == "meeting" and self.start_at and self.duration_minutes and not self.end_at:
            self.end_at = self.start_at + dt.timedelta(minutes=self.duration_minutes)

    # --- links to other records ---------------------------------------------------------------
    def related_snapshot(self) -> dict[str, Any]:
        if self.pk is None:
            return {"links": []}
        return {"links": sorted([link.type_key, link.record_id] for link in self.links.all())}

    def pending_snapshot(self, pending: dict[str, Any]) -> dict[str, Any]:
        if "links" not in pending:
            return {}
        return {"links": sorted([link["type"], link["id"]] for link in pending["links"])}

    def write_related(self, data: dict[str, Any], *, created: bool = False) -> None:
        if "links" in data:
            if not created:
                self.links.all().delete()
            rows = [ActivityLink(activity=self, type_key=link["type"], record_id=link["id"]) for link in data["links"]]
            self.cache_related("links", ActivityLink.objects.bulk_create(rows) if rows else [])

    def related_items(self, name: str) -> Any:
        return self.links.all()

    def after_write(self, changes: dict[str, Any], *, actor: Any, source: str, created: bool) -> None:
        if not created and ({"due_at", "start_at", "done"} & set(changes)):
            from .reminders import sync_reminders

            sync_reminders(self)  # the reminder moves with the activity, and stops when it is done

    def on_soft_delete(self) -> None:
        from .reminders import sync_reminders

        sync_reminders(self)

    def on_restore(self) -> None:
        from .reminders import sync_reminders

        sync_reminders(self)

    def api_extra(self, viewer: Any) -> dict[str, Any]:
        return {
            "links": [{"type": link.type_key, "id": link.record_id} for link in self.links.all()],
            "overdue": self.overdue,
        }

    @property
    def when(self) -> Any:
        return self.due_at or self.start_at

    @property
    def overdue(self) -> bool:
        return bool(not self.done and self.kind == "task" and self.due_at and self.due_at < timezone.now())

    def search_document(self) -> tuple[str, str, str]:
        return (self.subject, self.body[:2000], "")


class ActivityLink(models.Model):
    """The activity concerns this record (a person, a company, a deal…)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="links")
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["activity", "type_key", "record_id"], name="activity_link_unique")
        ]
        indexes = [models.Index(fields=["type_key", "record_id", "activity"], name="activity_link_record_idx")]

    def __str__(self) -> str:
        rtype = registry.find(self.type_key)
        record = rtype.model.objects.filter(pk=self.record_id).first() if rtype else None
        label = rtype.label if rtype else self.type_key
        return f"{label}: {record}" if record is not None else f"{label} #{self.record_id}"


class CalendarFeed(models.Model):
    """A user's secret iCalendar feed URL; only the token's SHA-256 is stored, the URL is shown once.
    Regenerating replaces the digest (the old URL stops working); revoking deletes the row."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"


# --- My day: reminders, notifications, the daily digest (issue 4) ---------------------------------
class Reminder(models.Model):
    """Remind the activity's assignee ``minutes_before`` its due or start time; one per activity.

    ``fire_at`` is kept equal to ``activity.when - minutes_before`` by ``reminders.sync_reminders`` (called by
    the My day views, the reminder service and, as a safety net, by the delivery job before each run)."""

    PENDING, SENT, CANCELLED = "pending", "sent", "cancelled"
    STATUSES = [(PENDING, "Pending"), (SENT, "Sent"), (CANCELLED, "Cancelled")]

    activity = models.OneToOneField(Activity, on_delete=models.CASCADE, related_name="reminder")
    minutes_before = models.PositiveIntegerField()
    fire_at = models.DateTimeField(null=True, blank=True)  # UTC; None while the activity has no time
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    synced_version = models.PositiveIntegerField(default=0)  # the activity version fire_at was computed from
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["status", "fire_at"], name="reminder_due_idx")]

    def __str__(self) -> str:
        return f"Reminder {self.minutes_before} min before {self.activity_id}"


class Notification(models.Model):
    """An in-app message for one user (the bell in the navigation)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, default="reminder")
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    activity = models.ForeignKey(Activity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "created_at", "id"], name="notification_user_idx"),
            models.Index(fields=["user", "id"], name="notification_unread_idx", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return self.title


class OutgoingEmail(models.Model):
    """An email committed together with its once() key and sent from here, so a rerun never sends it twice.

    Waiting: not sent, not failed (tried again from ``next_attempt_at``, with backoff); failed: given up after
    RAPPORT_EMAIL_MAX_ATTEMPTS attempts, shown to administrators at /settings/outbox/ with a retry button."""

    key = models.CharField(max_length=200, unique=True)
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # An HTML version sent beside the text (multipart/alternative), its pictures in OutgoingEmailImage.
    html = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["id"], name="outgoing_unsent_idx", condition=Q(sent_at__isnull=True))]

    def __str__(self) -> str:
        return self.subject


class OutgoingEmailImage(models.Model):
    """A picture the HTML version shows inline (``<img src="cid:…">``): a chart of a dashboard's email."""

    email = models.ForeignKey(OutgoingEmail, on_delete=models.CASCADE, related_name="images")
    cid = models.CharField(max_length=100)
    content = models.BinaryField()
    content_type = models.CharField(max_length=50, default="image/png")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["email", "cid"], name="outgoing_image_unique_cid")]

    def __str__(self) -> str:
        return self.cid


class UserPreference(models.Model):
    """Per-user settings of My day (kept here so the accounts app stays untouched)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="my_day_preference")
    daily_digest = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Preferences of {self.user_id}"
