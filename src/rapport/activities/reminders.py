"""Reminders: set one per task or meeting, keep its fire time in step with the activity, deliver it once
(an in-app notification and an email), and the outbox the emails are sent from."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rapport.core import formatting
from rapport.core.errors import PermissionDenied
from rapport.core.services import record_event
from rapport.core.visibility import can
from rapport.jobs import once

from .models import Activity, Notification, OutgoingEmail, Reminder
from .outbox import flush_outbox

logger = logging.getLogger("rapport.activities")

# Offsets offered in forms; the API takes any number of minutes up to MAX_MINUTES.
CHOICES: list[tuple[int, str]] = [
    (0, "At the time"),
    (5, "5 minutes before"),
    (15, "15 minutes before"),
    (30, "30 minutes before"),
    (60, "1 hour before"),
    (120, "2 hours before"),
    (1440, "1 day before"),
    (2880, "2 days before"),
    (10080, "1 week before"),
]
MAX_MINUTES = 4 * 7 * 24 * 60


class ReminderError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def label_for(minutes: int) -> str:
    for value, label in CHOICES:
        if value == minutes:
            return label
    return f"{minutes} minutes before"


def expected_fire_at(activity: Activity, minutes: int) -> dt.datetime | None:
    """When a reminder ``minutes`` before the activity fires (UTC), or None if it should not fire at all."""
    when = activity.due_at or activity.start_at
    if when is None or activity.done or activity.deleted_at is not None or activity.kind == "note":
        return None
    return when - dt.timedelta(minutes=minutes)


def _apply(reminder: Reminder, activity: Activity) -> list[str]:
    """Bring ``reminder`` in step with ``activity`` in memory; return the changed field names."""
    fire_at = expected_fire_at(activity, reminder.minutes_before)
    changed: list[str] = []
    if fire_at is None:
        if reminder.status == Reminder.PENDING:
            reminder.status = Reminder.CANCELLED
            changed.append("status")
    elif fire_at != reminder.fire_at:
        # A new time (rescheduled, reopened): it may fire again, under a new once() key.
        reminder.fire_at = fire_at
        reminder.status = Reminder.PENDING
        reminder.sent_at = None
        changed += ["fire_at", "status", "sent_at"]
    elif reminder.status == Reminder.CANCELLED:
        reminder.status = Reminder.PENDING  # reopened at the same time
        changed.append("status")
    reminder.synced_version = activity.version
    return [*changed, "synced_version"]


def sync_reminders(activity: Activity) -> Reminder | None:
    """Move the activity's reminder with its time, cancel it when the activity is done or deleted."""
    reminder = Reminder.objects.filter(activity=activity).first()
    if reminder is None:
        return None
    reminder.save(update_fields=_apply(reminder, activity))
    return reminder


def reconcile_reminders() -> int:
    """Sync reminders whose activity was written since (any write path: API, import, bulk, other services)."""
    stale = Reminder.objects.exclude(synced_version=F("activity__version")).select_related("activity")
    count = 0
    for reminder in stale.exclude(status=Reminder.CANCELLED, activity__deleted_at__isnull=False)[:1000]:
        reminder.save(update_fields=_apply(reminder, reminder.activity))
        count += 1
    return count


def set_reminder(activity: Activity, minutes: int | None, *, actor: Any, source: str = "ui") -> Reminder | None:
    """Remind the assignee ``minutes`` before the activity (None removes the reminder)."""
    if not can(actor, activity, "change"):
        raise PermissionDenied("You may not change this activity.")
    if minutes is not None and not (0 <= minutes <= MAX_MINUTES):
        raise ReminderError("minutes", f"Choose between 0 and {MAX_MINUTES} minutes.")
    if minutes is not None and activity.kind == "note":
        raise ReminderError("minutes", "Notes have no time to be reminded of.")
    if minutes is not None and activity.due_at is None and activity.start_at is None:
        raise ReminderError("minutes", "Give the activity a due or start time first.")
    with transaction.atomic():
        current = Reminder.objects.select_for_update().filter(activity=activity).first()
        before = current.minutes_before if current else None
        if minutes is None:
            if current is not None:
                current.delete()
            reminder = None
        else:
            reminder = current or Reminder(activity=activity, minutes_before=minutes, created_by=actor)
            reminder.minutes_before = minutes
            reminder.fire_at = None  # recomputed below, so a changed offset may fire again
            _apply(reminder, activity)
            reminder.save()
        if before != minutes:
            record_event(activity, "reminder", actor=actor, source=source, changes={"reminder": [before, minutes]})
    return reminder


# --- delivery -----------------------------------------------------------------------------------
def _local(when: dt.datetime, recipient: Any) -> str:
    """The moment in the recipient's time zone and locale, with the zone's abbreviation:
    ``Dec 1, 2026, 9:00 AM CET`` (en-US), ``01.12.2026, 09:00 CET`` (de-DE)."""
    import zoneinfo

    try:
        tz = zoneinfo.ZoneInfo(recipient.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    with formatting.using(getattr(recipient, "locale", None)), timezone.override(tz):
        return f"{formatting.datetime(when)} {when.astimezone(tz).strftime('%Z')}"


def deliver_due_reminders(now: dt.datetime | None = None) -> int:
    """Deliver every reminder whose time has come, each once per fire time; return how many were delivered."""
    now = now or timezone.now()
    reconcile_reminders()
    due = (
        Reminder.objects.filter(status=Reminder.PENDING, fire_at__lte=now)
        .select_related("activity", "activity__assignee", "activity__owner")
        .order_by("fire_at", "id")
    )
    delivered = 0
    for reminder in due[:500]:
        activity = reminder.activity
        fire_at = expected_fire_at(activity, reminder.minutes_before)
        if fire_at != reminder.fire_at:
            reminder.save(update_fields=_apply(reminder, activity))
            if reminder.status != Reminder.PENDING or reminder.fire_at is None or reminder.fire_at > now:
                continue
        if _deliver(reminder, activity, now):
            delivered += 1
    flush_outbox()
    return delivered


def _deliver(reminder: Reminder, activity: Activity, now: dt.datetime) -> bool:
    recipient = activity.assignee or activity.owner
    assert reminder.fire_at is not None
    key = f"reminder:{reminder.pk}:{reminder.fire_at.isoformat()}"
    with once(key) as first:
        if first and recipient is not None and recipient.is_active:
            # The recipient must still be allowed to see it (the one visibility rule).
            if Activity.objects.visible_to(recipient).filter(pk=activity.pk).exists():
                when = activity.due_at or activity.start_at
                assert when is not None
                title = f"{activity.get_kind_display()}: {activity.subject}"
                body = f"{'Due' if activity.due_at else 'Starts'} {_local(when, recipient)}"
                Notification.objects.create(user=recipient, kind="reminder", title=title, body=body, activity=activity)
                if recipient.email:
                    OutgoingEmail.objects.create(
                        key=key,
                        to=recipient.email,
                        subject=f"Reminder: {title}",
                        body=f"{title}\n{body}\n\n{site_url()}/activities/{activity.pk}/\n",
                    )
        Reminder.objects.filter(pk=reminder.pk).update(status=Reminder.SENT, sent_at=now)
    return first


def site_url() -> str:
    return str(getattr(settings, "RAPPORT_SITE_URL", "") or "").rstrip("/")
