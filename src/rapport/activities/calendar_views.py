"""Pages and files of the calendar: the week/month page with the feed settings, the secret .ics feed,
and a meeting's .ics invite."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from rapport.accounts.models import User
from rapport.core import formatting
from rapport.core.listing import QueryError
from rapport.web.common import error_page, page

from . import calendar
from .models import Activity, CalendarFeed

SHOWN_URL_KEY = "calendar_feed_url"  # the new feed URL, kept in the session until shown once


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _ics(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@page
@require_safe
def calendar_page(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    try:
        view = calendar.parse_view(request.GET.get("view"))
        anchor = calendar.parse_date(request.GET.get("date"), timezone.localdate())
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/calendar/")
    scope = request.GET.get("scope") or "mine"
    if scope not in ("mine", "team"):
        return error_page(request, "scope: choose mine or team.", back="/calendar/")
    grid = calendar.build_grid(user, view, anchor, team=scope == "team")
    feed = CalendarFeed.objects.filter(user=user).first()
    return render(
        request,
        "activities/calendar.html",
        {
            "grid": grid,
            "view": view,
            "scope": scope,
            "today": timezone.localdate(),
            "weekdays": formatting.weekday_names(),
            "feed": feed,
            "feed_url": request.session.pop(SHOWN_URL_KEY, None),
            "tz_name": timezone.get_current_timezone_name(),
        },
    )


@page
@require_POST
def feed_settings(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    action = request.POST.get("action", "")
    if action in ("create", "regenerate"):
        raw = calendar.issue_feed(user)
        request.session[SHOWN_URL_KEY] = f"{_base_url(request)}/calendar/feed/{raw}.ics"
        if action == "regenerate":
            messages.success(request, "New feed URL made. The old one no longer works: update your calendar app.")
        else:
            messages.success(request, "Feed URL made. Copy it now: it is shown only once.")
    elif action == "revoke":
        if calendar.revoke_feed(user):
            messages.success(request, "Calendar feed turned off. Its URL no longer works.")
    else:
        return error_page(request, "action: choose create, regenerate or revoke.", back="/calendar/")
    return redirect("/calendar/")


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The token is the credential: no session, no CSRF; anything but a live token answers 404."""
    found = calendar.feed_for_token(token)
    if found is None:
        raise Http404("No such calendar.")
    response = _ics(calendar.feed_ics(found.user, base_url=_base_url(request)), "rapport.ics")
    response["Cache-Control"] = "private, max-age=300"
    response["Referrer-Policy"] = "no-referrer"
    return response


@page
@require_safe
def invite(request: HttpRequest, pk: int) -> HttpResponse:
    meeting = get_object_or_404(
        Activity.objects.visible_to(request.user).select_related("owner", "assignee"),
        pk=pk,
        kind="meeting",
        start_at__isnull=False,
    )
    return _ics(calendar.invite_ics(meeting, base_url=_base_url(request)), f"meeting-{meeting.pk}.ics")
