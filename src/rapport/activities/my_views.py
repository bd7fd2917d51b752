"""Pages of My day and notifications: buckets with complete/reschedule/remind actions (htmx), the nav counters,
the notifications list with mark-read and the digest opt-out."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from rapport.accounts.models import User
from rapport.core import inputs
from rapport.core.errors import PermissionDenied, VersionConflict
from rapport.core.inputs import is_id
from rapport.core.visibility import can
from rapport.web.common import page

from . import myday, reminders, services
from .models import Activity, Notification, UserPreference


def _me(request: HttpRequest) -> User:
    return cast(User, request.user)  # every view here is behind @page (login required)


@functools.lru_cache(maxsize=64)
def _reminder_options(selected: int | None) -> str:
    """The reminder select's options with ``selected`` marked: built once per value, not per row."""
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if value == selected else "", text) for value, text in reminders.CHOICES),
    )


def _has_reminder(activity: Any) -> bool:
    try:
        activity.reminder  # noqa: B018  (select_related: no query)
    except Exception:  # RelatedObjectDoesNotExist
        return False
    return True


def _context(request: HttpRequest, error: str = "", done: str = "") -> dict[str, Any]:
    day = myday.build(request.user)
    for activity in [*day.overdue, *day.due_today, *day.upcoming]:
        activity.can_change = can(request.user, activity, "change")  # type: ignore[attr-defined]
        # Looked up once here: in the template a missing reminder raises (and is swallowed) per option.
        reminder = getattr(activity, "reminder", None) if _has_reminder(activity) else None
        activity.reminder_minutes = (  # type: ignore[attr-defined]
            reminder.minutes_before if reminder is not None and reminder.status != "cancelled" else None
        )
        activity.reminder_options = _reminder_options(activity.reminder_minutes)  # type: ignore[attr-defined]
    return {
        "day": day,
        "buckets": [
            ("overdue", "Overdue", day.overdue, "Nothing overdue. Well done.", day.more_overdue),
            ("today", "Today", day.due_today, "Nothing else due today.", day.more_today),
            (
                "upcoming",
                f"Next {myday.UPCOMING_DAYS} days",
                day.upcoming,
                "Nothing planned for the coming week.",
                day.more_upcoming,
            ),
        ],
        "reminder_choices": reminders.CHOICES,
        "error": error,
        "done": done,
    }


@page
def my_day(request: HttpRequest) -> HttpResponse:
    return render(request, "activities/my_day.html", _context(request))


def _respond(request: HttpRequest, error: str = "", done: str = "", status: int = 200) -> HttpResponse:
    if request.headers.get("HX-Request"):
        return render(request, "activities/my_day_buckets.html", _context(request, error, done), status=status)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = request.POST.get("next", "")
    if back.startswith("/") and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)  # e.g. the activity's page, whose reminder section posted here
    return redirect("/my-day/")


def _activity(request: HttpRequest, pk: int) -> Activity:
    activity = Activity.objects.visible_to(request.user).filter(pk=pk).first()
    if activity is None:
        raise Http404("No such activity.")
    return activity


def _version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


@page
@require_POST
def complete(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _activity(request, pk)
    try:
        services.complete_activity(activity, actor=request.user, source="ui", expected_version=_version(request))
    except VersionConflict:
        return _respond(request, error=f"“{activity.subject}” was changed by someone else; here is the latest.")
    except PermissionDenied:
        return _respond(request, error=f"You may not change “{activity.subject}”.", status=403)
    activity.refresh_from_db()
    reminders.sync_reminders(activity)
    return _respond(request, done=f"“{activity.subject}” is done.")


def parse_local(value: str, tz: Any) -> dt.datetime:
    """A datetime-local value ("2026-11-27T09:00") in the user's zone, as UTC; ValueError saying what
    to enter (years outside the bounds of ``core.inputs`` too)."""
    naive = inputs.parse_moment(value)
    if naive.tzinfo is not None:
        return naive.astimezone(dt.UTC)
    return naive.replace(tzinfo=tz).astimezone(dt.UTC)


@page
@require_POST
def reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _activity(request, pk)
    try:
        when = parse_local(request.POST.get("when", ""), myday.user_zone(request.user))
    except ValueError:
        years = f"{inputs.MIN_YEAR}–{inputs.MAX_YEAR}"
        return _respond(request, error=f"When: enter a date and time in {years}, e.g. 2026-11-27 09:00.", status=400)
    try:
        services.reschedule_activity(
            activity, when, actor=request.user, source="ui", expected_version=_version(request)
        )
    except VersionConflict:
        return _respond(request, error=f"“{activity.subject}” was changed by someone else; here is the latest.")
    except PermissionDenied:
        return _respond(request, error=f"You may not change “{activity.subject}”.", status=403)
    activity.refresh_from_db()
    reminders.sync_reminders(activity)
    local = when.astimezone(myday.user_zone(request.user))
    return _respond(request, done=f"“{activity.subject}” moved to {local:%a %d %b %H:%M}.")


@page
@require_POST
def remind(request: HttpRequest, pk: int) -> HttpResponse:
    activity = _activity(request, pk)
    raw = request.POST.get("minutes", "").strip()
    if raw and not is_id(raw):
        return _respond(request, error="Reminder: choose one of the offered times.", status=400)
    try:
        reminders.set_reminder(activity, int(raw) if raw else None, actor=request.user, source="ui")
    except reminders.ReminderError as exc:
        return _respond(request, error=f"Reminder: {exc.message}", status=400)
    except PermissionDenied:
        return _respond(request, error=f"You may not change “{activity.subject}”.", status=403)
    text = f"Reminder {reminders.label_for(int(raw))}" if raw else "Reminder removed"
    return _respond(request, done=f"{text} for “{activity.subject}”.")


@page
def nav(request: HttpRequest) -> HttpResponse:
    """The My day counter and the bell, loaded by htmx after the page so pages pay no query for them."""
    return render(request, "activities/my_nav.html", {"counts": myday.nav_counts(request.user)})


# --- notifications ------------------------------------------------------------------------------
@page
def notifications(request: HttpRequest) -> HttpResponse:
    qs = Notification.objects.filter(user=_me(request)).select_related("activity").order_by("-created_at", "-id")
    page_obj = Paginator(qs, 50).get_page(request.GET.get("page"))
    pref = UserPreference.objects.filter(user=_me(request)).first()
    return render(
        request,
        "activities/notifications.html",
        {"page_obj": page_obj, "daily_digest": pref.daily_digest if pref else True},
    )


@page
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    mine = Notification.objects.filter(user=_me(request), read_at__isnull=True)
    raw = request.POST.get("id", "")
    if raw:
        if not is_id(raw):
            raise Http404("No such notification.")
        mine = mine.filter(pk=int(raw))
    mine.update(read_at=timezone.now())
    return redirect("/notifications/")


@page
@require_POST
def notification_settings(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("daily_digest") == "on"
    UserPreference.objects.update_or_create(user=_me(request), defaults={"daily_digest": enabled})
    messages.success(request, "Daily digest email turned " + ("on." if enabled else "off."))
    return redirect("/notifications/")
