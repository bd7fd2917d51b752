"""Calendars: the personal iCalendar feed (secret URL, stored hashed), .ics meeting invites, and the
week/month grid of the calendar page. Every query goes through the visibility rule."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from rapport.accounts.models import User, hash_token
from rapport.core import formatting, inputs
from rapport.core.listing import QueryError

from .models import Activity, CalendarFeed

FEED_PAST = dt.timedelta(days=30)
FEED_FUTURE = dt.timedelta(days=365)
FEED_MAX_ITEMS = 2000  # bounds the size of a feed; calendar clients poll it every few hours
PAGE_MAX_ITEMS = 1000
MAX_SPAN = dt.timedelta(days=14)  # a meeting longer than this shows from its start only
TASK_MINUTES = 30  # a task without a duration shows as a half-hour slot at its due time
PRODID = "-//Rapport//Rapport CRM//EN"
TOKEN_PREFIX = "cal_"


# --- the secret feed URL ------------------------------------------------------------------------
def issue_feed(user: User) -> str:
    """Create the user's feed or give it a new token (the old URL stops working); returns the raw token,
    which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        CalendarFeed.objects.update_or_create(
            user=user, defaults={"digest": hash_token(raw), "created_at": timezone.now(), "last_used_at": None}
        )
    return raw


def revoke_feed(user: User) -> bool:
    deleted, _ = CalendarFeed.objects.filter(user=user).delete()
    return bool(deleted)


def feed_for_token(raw: str) -> CalendarFeed | None:
    """The live feed ``raw`` opens, or None (unknown, revoked, or its user deactivated)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    feed = CalendarFeed.objects.select_related("user", "user__role").filter(digest=hash_token(raw)).first()
    if feed is None or not feed.user.is_active:
        return None
    now = timezone.now()
    if feed.last_used_at is None or now - feed.last_used_at > dt.timedelta(hours=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)  # one write an hour at most
    return feed


# --- what a calendar shows ----------------------------------------------------------------------
def timed_q(start: dt.datetime, end: dt.datetime, *, spanning: bool = False) -> Q:
    """Tasks, meetings and calls that happen in [start, end): at their due time, or else at their start.
    With ``spanning``, also those that started up to MAX_SPAN earlier and are still going on at ``start``."""
    starts_inside = Q(start_at__gte=start, start_at__lt=end)
    if spanning:
        starts_inside |= Q(start_at__gte=start - MAX_SPAN, start_at__lt=start, end_at__gt=start)
    return ~Q(kind="note") & (Q(due_at__gte=start, due_at__lt=end) | (Q(due_at__isnull=True) & starts_inside))


def calendar_activities(
    user: User, start: dt.datetime, end: dt.datetime, *, team: bool = False, spanning: bool = False
) -> QuerySet[Activity]:
    """The user's own (assigned) tasks, meetings and calls in the range; with ``team``, those of their
    team's members too — always within what the user may see."""
    qs = Activity.objects.visible_to(user).filter(timed_q(start, end, spanning=spanning))
    if team and user.team_id is not None:
        qs = qs.filter(assignee__team_id=user.team_id)
    elif team:
        qs = qs.filter(assignee__isnull=False)
    else:
        qs = qs.filter(assignee=user)
    return qs


def when_of(activity: Activity) -> dt.datetime | None:
    return activity.due_at or activity.start_at


def end_of(activity: Activity, start: dt.datetime) -> dt.datetime:
    if activity.due_at is None and activity.end_at and activity.end_at > start:
        return activity.end_at
    return start + dt.timedelta(minutes=activity.duration_minutes or TASK_MINUTES)


def feed_activities(user: User, now: dt.datetime | None = None) -> list[Activity]:
    now = now or timezone.now()
    qs = calendar_activities(user, now - FEED_PAST, now + FEED_FUTURE).order_by(Coalesce("due_at", "start_at"), "id")
    return list(qs[:FEED_MAX_ITEMS])


# --- iCalendar ---------------------------------------------------------------------------------------
def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def site_host() -> str:
    """This installation's host name (from RAPPORT_SITE_URL), so UIDs from two installations never collide."""
    host = urlsplit(str(getattr(settings, "RAPPORT_SITE_URL", "") or "")).hostname
    return host or "localhost"


def activity_uid(activity: Activity) -> str:
    return f"activity-{activity.pk}@{site_host()}"


def activity_event(activity: Activity, *, url: str) -> Event | None:
    start = when_of(activity)
    if start is None:
        return None
    event = Event()
    event.add("uid", activity_uid(activity))
    summary = activity.subject
    if activity.kind == "task" and activity.done:
        summary = "✓ " + summary
    event.add("summary", summary)
    # The item's last change, not the time of the download: clients compare it to keep the newest copy.
    event.add("dtstamp", _utc(activity.updated_at))
    event.add("dtstart", _utc(start))
    event.add("dtend", _utc(end_of(activity, start)))
    event.add("last-modified", _utc(activity.updated_at))
    event.add("created", _utc(activity.created_at))
    event.add("sequence", max(0, activity.version - 1))  # clients replace their copy when it grows
    event.add("status", "CONFIRMED")
    event.add("categories", [activity.get_kind_display()])
    state = "Done" if activity.done else ("Overdue" if activity.overdue else "Open")
    lines = [f"{activity.get_kind_display()} · {state}"]
    if activity.body:
        lines += ["", activity.body]
    lines += ["", url]
    event.add("description", "\n".join(lines))
    event.add("url", url)
    if activity.kind == "task":
        event.add("transp", "TRANSPARENT")  # a task does not make its assignee busy
    return event


def new_calendar(name: str, *, method: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    # An X- property is not escaped by icalendar unless given as text: a comma, semicolon or line break in
    # a name would otherwise break the file.
    cal.add("x-wr-calname", vText(name))
    return cal


def feed_ics(user: User, *, base_url: str, now: dt.datetime | None = None) -> bytes:
    now = now or timezone.now()
    cal = new_calendar(f"Rapport · {user.display_name}")
    cal.add("x-published-ttl", "PT1H")
    cal.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for activity in feed_activities(user, now):
        event = activity_event(activity, url=f"{base_url}/activities/{activity.pk}/")
        if event is not None:
            cal.add_component(event)
    return cal.to_ical()


def _address(user: User | None, role: str) -> vCalAddress | None:
    if user is None or not user.email:
        return None
    address = vCalAddress(f"mailto:{user.email}")
    address.params["cn"] = vText(user.display_name)
    if role == "attendee":
        address.params["role"] = vText("REQ-PARTICIPANT")
        address.params["partstat"] = vText("NEEDS-ACTION")
    return address


def invite_ics(meeting: Activity, *, base_url: str) -> bytes:
    """One meeting as an .ics file to import into any calendar (METHOD:PUBLISH: nobody is asked to reply)."""
    cal = new_calendar(meeting.subject, method="PUBLISH")
    event = activity_event(meeting, url=f"{base_url}/activities/{meeting.pk}/")
    assert event is not None  # the view only serves meetings with a start
    organizer = _address(meeting.owner, "organizer")
    if organizer is not None:
        event.add("organizer", organizer)
    attendee = _address(meeting.assignee, "attendee")
    if attendee is not None:
        event.add("attendee", attendee)
    cal.add_component(event)
    return cal.to_ical()


# --- the calendar page -------------------------------------------------------------------------------
VIEWS = ("week", "month")


@dataclass
class Day:
    date: dt.date
    in_month: bool
    today: bool
    items: list[Activity] = field(default_factory=list)
    continued: set[int] = field(default_factory=set)  # ids of items that started on an earlier day

    @property
    def weekday_name(self) -> str:
        return formatting.weekday_names()[self.date.weekday()]


@dataclass
class Grid:
    view: str
    anchor: dt.date
    start: dt.date  # first day shown (a Monday)
    end: dt.date  # day after the last day shown
    weeks: list[list[Day]]
    count: int = 0
    truncated: bool = False

    @property
    def previous(self) -> dt.date:
        if self.view == "week":
            return self.anchor - dt.timedelta(days=7)
        return (self.anchor.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> dt.date:
        if self.view == "week":
            return self.anchor + dt.timedelta(days=7)
        return (self.anchor.replace(day=28) + dt.timedelta(days=4)).replace(day=1)

    @property
    def title(self) -> str:
        """The period in the viewer's locale: ``December 2026``, or ``Dec 14 – 20, 2026`` for a week."""
        if self.view == "month":
            return formatting.month(self.anchor)
        return formatting.day_range(self.start, self.end - dt.timedelta(days=1))


def parse_view(value: str | None) -> str:
    if value in (None, ""):
        return "week"
    if value not in VIEWS:
        raise QueryError("view", "choose week or month.")
    return value


def parse_date(value: str | None, today: dt.date) -> dt.date:
    if value in (None, ""):
        return today
    try:
        return inputs.parse_day(value)
    except ValueError as exc:
        raise QueryError("date", str(exc)) from None


def grid_range(view: str, anchor: dt.date) -> tuple[dt.date, dt.date]:
    if view == "week":
        start = anchor - dt.timedelta(days=anchor.weekday())
        return start, start + dt.timedelta(days=7)
    first = anchor.replace(day=1)
    next_first = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    start = first - dt.timedelta(days=first.weekday())
    last = next_first - dt.timedelta(days=1)
    end = last + dt.timedelta(days=7 - last.weekday())
    return start, end


def build_grid(user: User, view: str, anchor: dt.date, *, team: bool = False, tz: Any = None) -> Grid:
    """The days of the week or month around ``anchor`` with the activities falling on each, in ``tz``."""
    tz = tz or timezone.get_current_timezone()
    if isinstance(tz, str):
        tz = zoneinfo.ZoneInfo(tz)
    start, end = grid_range(view, anchor)
    today = timezone.now().astimezone(tz).date()
    days: dict[dt.date, Day] = {}
    weeks: list[list[Day]] = []
    day = start
    while day < end:
        if day.weekday() == 0:
            weeks.append([])
        days[day] = Day(date=day, in_month=view == "week" or day.month == anchor.month, today=day == today)
        weeks[-1].append(days[day])
        day += dt.timedelta(days=1)
    lower = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    upper = dt.datetime.combine(end, dt.time.min, tzinfo=tz)
    qs = calendar_activities(user, lower, upper, team=team, spanning=True).select_related("assignee")
    rows = list(qs.order_by(Coalesce("due_at", "start_at"), "id")[: PAGE_MAX_ITEMS + 1])
    grid = Grid(view=view, anchor=anchor, start=start, end=end, weeks=weeks, truncated=len(rows) > PAGE_MAX_ITEMS)
    rows = rows[:PAGE_MAX_ITEMS]
    rows.sort(key=lambda a: (when_of(a) or upper, a.pk))
    last_day = end - dt.timedelta(days=1)
    for activity in rows:
        when = when_of(activity)
        if when is None:
            continue
        first = when.astimezone(tz).date()
        last = first
        if activity.due_at is None and activity.end_at and activity.end_at > when:
            last = (
                (activity.end_at - dt.timedelta(microseconds=1)).astimezone(tz).date()
            )  # ends at midnight: not the next day
        day = max(first, start)
        shown = False
        while day <= min(last, last_day):
            days[day].items.append(activity)
            if day != first:
                days[day].continued.add(activity.pk)
            shown = True
            day += dt.timedelta(days=1)
        grid.count += shown
    return grid
