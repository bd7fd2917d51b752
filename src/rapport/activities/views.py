"""Pages of the timeline and the quick forms ("Log a call", "Add a note", "Schedule a task", "Schedule a
meeting") shown on every person, company and deal page; they answer htmx fragments and never leave the page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from rapport.core import registry, services, visibility
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.models import Record
from rapport.web.common import page, record_type, safe_next
from rapport.web.forms import user_label

from . import services as activity_services
from . import timeline
from .models import OUTCOMES, Activity
from .serializers import ActivityWriteSerializer

TIMELINE_TYPES = ("people", "companies", "deals")
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True)
class QuickForm:
    key: str
    title: str
    button: str
    fields: tuple[str, ...]


FORMS = {
    "call": QuickForm("call", "Log a call", "Log call", ("subject", "outcome", "body", "start_at")),
    "note": QuickForm("note", "Add a note", "Add note", ("body",)),
    "task": QuickForm("task", "Schedule a task", "Schedule task", ("subject", "due_at", "assignee")),
    "meeting": QuickForm("meeting", "Schedule a meeting", "Schedule meeting", ("subject", "start_at", "duration")),
}


def _record(request: HttpRequest, type_key: str, pk: int) -> tuple[Any, Record]:
    if type_key not in TIMELINE_TYPES:
        raise Http404("No timeline here.")
    rtype = record_type(type_key, request.user)
    record = rtype.model.objects.visible_to(request.user).filter(pk=pk).first()
    if record is None:
        raise Http404("No such record.")
    return rtype, record


def _links(type_key: str, record: Record, user: Any) -> list[dict[str, Any]]:
    """The record itself, and for a person or a deal also its company when ``user`` may link to it."""
    links = [{"type": type_key, "id": record.pk}]
    company_id = getattr(record, "company_id", None)
    companies = registry.find("companies")
    # A company in the recycle bin or of another team is not linked (the link would be refused).
    if type_key in ("people", "deals") and company_id and companies is not None:
        if visibility.linkable(companies.model, user).filter(pk=company_id).exists():
            links.append({"type": "companies", "id": company_id})
    return links


# --- timeline ---------------------------------------------------------------------------------
def _timeline_context(request: HttpRequest, rtype: Any, record: Record, kind: str, cursor: str) -> dict[str, Any]:
    user: Any = request.user
    parsed = timeline.Cursor.decode(cursor) if cursor else None
    result = timeline.build(user, rtype.key, record, kind=kind, cursor=parsed)
    return {
        "rtype": rtype,
        "record": record,
        "page": result,
        "kind": kind,
        "kinds": list(timeline.KIND_LABELS.items()),
        "base_url": f"/{rtype.key}/{record.pk}/timeline/",
        "can_complete": user.scope_for("activities", "change") is not None,
    }


@page
def timeline_view(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    rtype, record = _record(request, type_key, pk)
    kind = request.GET.get("kind", "")
    if kind not in ("", *timeline.KIND_FILTERS):
        return HttpResponse(f"kind: one of {', '.join(timeline.KIND_FILTERS)}.", status=400, content_type="text/plain")
    cursor = request.GET.get("cursor", "")
    try:
        context = _timeline_context(request, rtype, record, kind, cursor)
    except timeline.BadCursor as exc:
        return HttpResponse(f"cursor: {exc}", status=400, content_type="text/plain")
    if cursor and request.headers.get("HX-Request"):
        return render(request, "activities/timeline_items.html", context)
    if request.headers.get("HX-Request"):
        return render(request, "activities/timeline.html", context)
    return render(request, "activities/timeline_page.html", context)


# --- quick forms ------------------------------------------------------------------------------
def _initial(form: QuickForm, user: Any) -> dict[str, Any]:
    now = timezone.localtime()
    if form.key == "call":
        return {"start_at": now.strftime(LOCAL_FORMAT), "outcome": "connected"}
    if form.key == "task":
        tomorrow = (now + dt.timedelta(days=1)).replace(hour=9, minute=0)
        return {"due_at": tomorrow.strftime(LOCAL_FORMAT), "assignee": str(user.pk)}
    if form.key == "meeting":
        soon = (now + dt.timedelta(hours=1)).replace(minute=0)
        return {"start_at": soon.strftime(LOCAL_FORMAT), "duration": "30"}
    return {}


def _data(form: QuickForm, posted: dict[str, str], links: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": form.key, "links": links}
    if form.key == "note":
        body = posted.get("body", "").strip()
        first = next((line.strip("#*_> \t") for line in body.splitlines() if line.strip()), "")
        data.update(subject=first[:80] or "Note", body=body)
        return data
    data["subject"] = posted.get("subject", "")
    if form.key == "call":
        data.update(done=True, body=posted.get("body", ""), start_at=posted.get("start_at") or None)
        if posted.get("outcome"):
            data["outcome"] = posted["outcome"]
    elif form.key == "task":
        data["due_at"] = posted.get("due_at") or None
        data["assignee"] = posted.get("assignee") or None
    elif form.key == "meeting":
        data["start_at"] = posted.get("start_at") or None
        data["duration_minutes"] = posted.get("duration") or None
    return data


def _errors(form: QuickForm, detail: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Serializer errors by the form's field names; the rest as general messages."""
    names = {"duration_minutes": "duration"}
    fields: dict[str, str] = {}
    general: list[str] = []
    for key, messages in detail.items():
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        name = names.get(key, key)
        if form.key == "note" and name == "subject":
            name = "body"
        if name in form.fields:
            fields[name] = text
        else:
            general.append(f"{key}: {text}" if key not in ("non_field_errors", "") else text)
    return fields, general


def _render_form(
    request: HttpRequest,
    rtype: Any,
    record: Record,
    form: QuickForm,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    general: list[str] | None = None,
    saved: Activity | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "rtype": rtype,
        "record": record,
        "form": form,
        "forms": FORMS.values(),
        "values": values,
        "errors": errors or {},
        "general": general or [],
        "saved": saved,
        "outcomes": OUTCOMES,
        "assignee_label": user_label(values.get("assignee")) if "assignee" in form.fields else "",
        "action": f"/{rtype.key}/{record.pk}/quicklog/{form.key}/",
        "back": safe_next(request, f"/{rtype.key}/{record.pk}/"),
        "next": safe_next(request, ""),
    }
    template = "activities/quicklog.html" if request.headers.get("HX-Request") else "activities/quicklog_page.html"
    response = render(request, template, context, status=status)
    if saved is not None:
        response["HX-Trigger"] = "activity-logged"
    return response


@page
def quicklog(request: HttpRequest, type_key: str, pk: int, form_key: str) -> HttpResponse:
    rtype, record = _record(request, type_key, pk)
    form = FORMS.get(form_key)
    if form is None:
        raise Http404("No such form.")
    user: Any = request.user
    if user.scope_for("activities", "add") is None:
        raise Forbidden("You may not add activities.")
    if request.method != "POST":
        return _render_form(request, rtype, record, form, _initial(form, user))
    posted = {name: request.POST.get(name, "") for name in form.fields}
    if form.key == "note" and not posted["body"].strip():
        return _render_form(request, rtype, record, form, posted, errors={"body": "Write the note."}, status=400)
    serializer = ActivityWriteSerializer(
        data=_data(form, posted, _links(rtype.key, record, request.user)), context={"actor": request.user}
    )
    if not serializer.is_valid():
        errors, general = _errors(form, serializer.errors)
        return _render_form(request, rtype, record, form, posted, errors=errors, general=general, status=400)
    try:
        saved: Any = services.create_record(Activity, serializer.validated_data, actor=user, source="ui")
    except ValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        errors, general = _errors(form, detail)
        return _render_form(request, rtype, record, form, posted, errors=errors, general=general, status=400)
    except PermissionDenied as exc:
        return _render_form(request, rtype, record, form, posted, general=[str(exc)], status=403)
    if not request.headers.get("HX-Request"):
        # The full-page form (no script, or opened in a tab) goes back where it came from (``next``).
        flash.success(request, f"Saved {saved.get_kind_display().lower()} “{saved.subject}”.")
        return redirect(safe_next(request, f"/{rtype.key}/{record.pk}/"))
    return _render_form(request, rtype, record, form, _initial(form, user), saved=saved)


@page
@require_POST
def complete(request: HttpRequest, type_key: str, pk: int, activity_pk: int) -> HttpResponse:
    """Mark an activity on the timeline done, and answer the refreshed timeline."""
    rtype, record = _record(request, type_key, pk)
    targets = timeline.targets(request.user, rtype.key, record)
    # Only an activity on this record's timeline can be completed from it.
    activity = timeline.activity_queryset(request.user, targets).filter(pk=activity_pk).first()
    if activity is None:
        raise Http404("No such activity.")
    if not visibility.can(request.user, activity, "change"):
        raise Forbidden("You may not change this activity.")
    try:
        activity_services.complete_activity(activity, actor=request.user, source="ui")
    except (PermissionDenied, RecordGone, VersionConflict) as exc:
        raise Forbidden(str(exc)) from exc
    if not request.headers.get("HX-Request"):
        return redirect(f"/{rtype.key}/{record.pk}/")
    kind = request.POST.get("kind", "")
    context = _timeline_context(request, rtype, record, kind if kind in timeline.KIND_FILTERS else "", "")
    return render(request, "activities/timeline.html", context)
