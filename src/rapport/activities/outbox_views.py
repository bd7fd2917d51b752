"""/settings/outbox/: the emails Rapport sends (reminders, digests) — waiting, failed with their error, sent —
for administrators, with a retry button for failed ones."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.core.listing import QueryError
from rapport.core.mail import sending_enabled
from rapport.web.common import error_page, object_page, settings_required

from . import outbox
from .models import OutgoingEmail

STATES = {"waiting": "Waiting", "failed": "Failed", "sent": "Sent"}


@settings_required
def outbox_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "waiting")
    if state not in STATES:
        state = "waiting"
    rows = OutgoingEmail.objects.defer("body", "html")
    # Keyset pages (the page size and cursor of every list): waiting ones oldest first, as they go out;
    # failed and sent ones newest first.
    try:
        if state == "waiting":
            pg = object_page(request, rows.filter(sent_at__isnull=True, failed_at__isnull=True), "id", descending=False)
        elif state == "failed":
            pg = object_page(request, rows.filter(sent_at__isnull=True, failed_at__isnull=False), "failed_at")
        else:
            pg = object_page(request, rows.filter(sent_at__isnull=False), "sent_at")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/settings/outbox/")
    enabled = sending_enabled()
    server = ""
    if enabled and settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
        scheme = "smtps" if settings.EMAIL_USE_SSL else "smtp"
        server = f"{scheme}://{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        if settings.EMAIL_USE_TLS:
            server += " (STARTTLS)"
    context = {
        "rows": pg.objects,
        "pager": pg,
        "state": state,
        "states": list(STATES.items()),
        "sending_enabled": enabled,
        "server": server,
        "max_attempts": outbox.max_attempts(),
    }
    return render(request, "activities/outbox.html", context)


@require_POST
@settings_required
def outbox_retry(request: HttpRequest, pk: int) -> HttpResponse:
    if not outbox.retry(pk):
        raise Http404("No failed email with this id")
    messages.success(request, "The email will be sent again on the next run (within a minute).")
    return redirect(reverse("settings-outbox") + "?state=failed")
