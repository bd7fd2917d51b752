"""My day: a user's overdue, today's and upcoming tasks and meetings, bucketed in the user's time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from .models import Activity, Notification

UPCOMING_DAYS = 7
LIMIT = 15  # per bucket; the page links to the full list beyond that (a page of 45 rows renders fast)


def user_zone(user: Any) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def day_bounds(user: Any, now: dt.datetime) -> tuple[dt.date, dt.datetime, dt.datetime]:
    """The user's local date and the UTC instants its day starts and ends (23 or 25 hours on DST days)."""
    tz = user_zone(user)
    today = now.astimezone(tz).date()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return today, start, end


@dataclass
class MyDay:
    today: dt.date
    overdue: list[Activity] = field(default_factory=list)
    due_today: list[Activity] = field(default_factory=list)
    upcoming: list[Activity] = field(default_factory=list)
    more_overdue: bool = False
    more_today: bool = False
    more_upcoming: bool = False

    @property
    def empty(self) -> bool:
        return not (self.overdue or self.due_today or self.upcoming)


def my_activities(user: Any) -> Any:
    return (
        Activity.objects.visible_to(user)
        .filter(assignee=user, done=False)
        .exclude(kind="note")
        .select_related("reminder")
    )


def build(user: Any, now: dt.datetime | None = None) -> MyDay:
    """Each bucket from its own bounded queries (activity_my_day_idx for tasks by due time, the
    start-time index for meetings and calls), so a long overdue list never hides today's work."""
    now = now or timezone.now()
    today, start, end = day_bounds(user, now)
    tz = user_zone(user)
    horizon = dt.datetime.combine(today + dt.timedelta(days=UPCOMING_DAYS + 1), dt.time(0), tzinfo=tz)
    base = my_activities(user)
    day = MyDay(today=today)

    def take(*querysets: Any) -> tuple[list[Activity], bool]:
        items: list[Activity] = []
        for qs in querysets:
            items += list(qs[: LIMIT + 1])
        items.sort(key=lambda a: (a.when, a.pk))
        return items[:LIMIT], len(items) > LIMIT

    by_due = base.filter(due_at__isnull=False).order_by("due_at", "id")
    by_start = base.filter(due_at__isnull=True).order_by("start_at", "id")
    day.overdue, day.more_overdue = take(by_due.filter(due_at__lt=now))
    day.due_today, day.more_today = take(
        by_due.filter(due_at__gte=now, due_at__lt=end), by_start.filter(start_at__gte=start, start_at__lt=end)
    )
    day.upcoming, day.more_upcoming = take(
        by_due.filter(due_at__gte=end, due_at__lt=horizon), by_start.filter(start_at__gte=end, start_at__lt=horizon)
    )
    return day


def overdue_count(user: Any, now: dt.datetime | None = None) -> int:
    return my_activities(user).filter(due_at__lt=now or timezone.now()).count()


def nav_counts(user: Any) -> dict[str, int]:
    """Overdue tasks and unread notifications: two indexed counts, fetched by htmx after the page."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    return {"overdue": overdue_count(user), "unread": unread}


def digest_items(user: Any, now: dt.datetime | None = None) -> list[Activity]:
    """What the daily digest lists: the user's visible open tasks and meetings that are overdue or today."""
    now = now or timezone.now()
    _, start, end = day_bounds(user, now)
    base = my_activities(user).select_related(None)
    items = list(base.filter(due_at__lt=end)) + list(
        base.filter(due_at__isnull=True, start_at__gte=start, start_at__lt=end)
    )
    return sorted(items, key=lambda a: (a.when, a.pk))
