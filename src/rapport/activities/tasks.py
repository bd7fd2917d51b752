"""Background jobs of My day: reminder delivery (every minute) and the daily digest (07:00 in each user's zone)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from rapport.jobs import job, once, periodic

from . import myday, reminders
from .models import OutgoingEmail

DIGEST_HOUR = 7
DIGEST_WINDOW_HOURS = 4  # a scheduler that was down until 10:59 local still sends today's digest
DIGEST_EVERY = dt.timedelta(minutes=15)


@job(max_attempts=5)
def deliver_reminders() -> int:
    """Notify and email every reminder that is due, once each (see reminders.deliver_due_reminders)."""
    return reminders.deliver_due_reminders()


def zones_due(zones: list[str], now: dt.datetime) -> list[str]:
    """The time zones whose local time is within the digest window (07:00 to 11:00) right now."""
    due = []
    for name in zones:
        try:
            local = now.astimezone(zoneinfo.ZoneInfo(name or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        if DIGEST_HOUR <= local.hour < DIGEST_HOUR + DIGEST_WINDOW_HOURS:
            due.append(name)
    return due


def digest_key(user: Any, day: dt.date) -> str:
    return f"digest:{user.pk}:{day.isoformat()}"


def digest_text(user: Any, items: list[Any], now: dt.datetime) -> str:
    tz = myday.user_zone(user)
    lines = [f"Good morning {user.first_name or user.username},", "", "Your day in Rapport:", ""]
    for activity in items:
        when = activity.when.astimezone(tz)
        label = "OVERDUE " if activity.due_at is not None and activity.due_at < now else ""
        lines.append(f"- {label}{when:%a %d %b %H:%M} {activity.get_kind_display()}: {activity.subject}")
    lines += ["", f"My day: {reminders.site_url()}/my-day/", "Turn this email off on /notifications/."]
    return "\n".join(lines) + "\n"


def send_digests_now(now: dt.datetime | None = None) -> int:
    """Queue the digest email of every user whose local morning has come and who has not had today's."""
    from rapport.jobs.models import JobEffect

    now = now or timezone.now()
    users_model = get_user_model()
    active = users_model.objects.filter(is_active=True).exclude(email="").exclude(my_day_preference__daily_digest=False)
    zones = zones_due(list(active.values_list("time_zone", flat=True).distinct()), now)
    candidates = list(active.filter(time_zone__in=zones).order_by("id"))
    keys = {user.pk: digest_key(user, now.astimezone(myday.user_zone(user)).date()) for user in candidates}
    done = set(JobEffect.objects.filter(key__in=list(keys.values())).values_list("key", flat=True))
    queued = 0
    for user in candidates:
        if keys[user.pk] in done:
            continue
        items = myday.digest_items(user, now)
        with once(keys[user.pk]) as first:
            if first and items:
                subject = f"Your day: {len(items)} open task{'s' if len(items) != 1 else ''} and meetings"
                OutgoingEmail.objects.create(
                    key=keys[user.pk], to=user.email, subject=subject, body=digest_text(user, items, now)
                )
                queued += 1
    reminders.flush_outbox()
    return queued


@job(max_attempts=5)
def send_digests() -> int:
    return send_digests_now()


@job(max_attempts=5)
def send_outbox() -> int:
    """Send the committed emails not sent yet (password-reset links, enqueued as soon as they are written;
    the reminder job sends whatever is left every minute)."""
    return reminders.flush_outbox()


periodic("deliver_reminders", deliver_reminders, every=dt.timedelta(minutes=1))
periodic("daily_digest", send_digests, every=DIGEST_EVERY)


@job(max_attempts=3)
def prune_messages() -> dict[str, int]:
    """Retention: read notifications after RAPPORT_NOTIFICATIONS_KEEP_DAYS, sent emails of the outbox after
    RAPPORT_OUTBOX_KEEP_DAYS (unread notifications and unsent mail are kept whatever their age)."""
    from django.conf import settings

    from .models import Notification

    now = timezone.now()
    notifications = Notification.objects.filter(
        read_at__isnull=False, created_at__lt=now - dt.timedelta(days=settings.RAPPORT_NOTIFICATIONS_KEEP_DAYS)
    ).delete()[0]
    emails = OutgoingEmail.objects.filter(
        sent_at__isnull=False, sent_at__lt=now - dt.timedelta(days=settings.RAPPORT_OUTBOX_KEEP_DAYS)
    ).delete()[0]
    return {"notifications": notifications, "emails": emails}


periodic("prune_messages", prune_messages, every=dt.timedelta(days=1), offset=dt.timedelta(hours=3, minutes=15))
