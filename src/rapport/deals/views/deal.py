"""The selling actions of a deal's page: move it along the stage bar, mark it won or lost (with a
reason), reopen it, and the "next activity" card the page refreshes after quick logging. Every
move goes through services.move_deal with the page's version, so a stale page changes nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from rapport.core import visibility
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.inputs import is_id
from rapport.web.common import page, record_type, signed_in

from .. import queries, services
from ..models import Deal, LostReason, Stage

STALE = (
    "Someone else changed this deal while you had it open, so nothing was changed. "
    "The page has been reloaded with the current state: check it and try again."
)


def _deal(request: HttpRequest, pk: int) -> Deal:
    user = signed_in(request)
    record_type("deals", user)
    deal = Deal.objects.visible_to(user).select_related("stage", "pipeline").filter(pk=pk).first()
    if deal is None:
        raise Http404("No such deal.")
    return deal


def _version(request: HttpRequest) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if is_id(raw) else None


def _messages_of(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def _act(request: HttpRequest, deal: Deal, action: str, **kwargs: Any) -> HttpResponse:
    """Run one move of the deal for the page and come back to it with what happened."""
    user = signed_in(request)
    back = f"/deals/{deal.pk}/"
    if not visibility.can(user, deal, "change"):
        messages.error(request, "You may not change this deal.")
        return redirect(back)
    if _version(request) is None:
        messages.error(request, "version: this form is missing the deal's version; reload the page.")
        return redirect(back)
    version = _version(request)
    try:
        if action == "won":
            moved = services.mark_won(deal, actor=user, source="ui", expected_version=version)
        elif action == "lost":
            moved = services.mark_lost(deal, reason=kwargs["reason"], actor=user, source="ui", expected_version=version)
        else:
            moved = services.move_deal(deal, kwargs["stage"], actor=user, source="ui", expected_version=version)
    except VersionConflict:
        messages.error(request, STALE)
        return redirect(back)
    except ValidationError as exc:
        messages.error(request, _messages_of(exc))
        return redirect(back)
    except (PermissionDenied, RecordGone) as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if action == "won":
        messages.success(request, f"“{moved}” is won. Well done!")
    elif action == "lost":
        messages.success(request, f"“{moved}” is marked as lost ({kwargs['reason']}).")
    elif action == "reopen":
        messages.success(request, f"“{moved}” is open again, in {moved.stage.name}.")
    else:
        messages.success(request, f"Moved “{moved}” to {moved.stage.name}.")
    return redirect(back)


@page
@require_POST
def move_to_stage(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal(request, pk)
    raw = request.POST.get("stage", "")
    stage = Stage.objects.select_related("pipeline").filter(pk=int(raw)).first() if is_id(raw) else None
    if stage is None or stage.archived or stage.pipeline_id != deal.pipeline_id or stage.kind != "open":
        messages.error(request, "stage: choose one of the stages on the bar.")
        return redirect(f"/deals/{deal.pk}/")
    if stage.pk == deal.stage_id:
        messages.info(request, f"“{deal}” is already in {stage.name}.")
        return redirect(f"/deals/{deal.pk}/")
    return _act(request, deal, "move", stage=stage)


@page
@require_POST
def mark_won(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, _deal(request, pk), "won")


@page
@require_POST
def mark_lost(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal(request, pk)
    raw = request.POST.get("lost_reason", "")
    reason = LostReason.objects.filter(pk=int(raw), active=True).first() if is_id(raw) else None
    if reason is None:
        messages.error(request, "Lost reason: choose why the deal was lost.")
        return redirect(f"/deals/{deal.pk}/")
    return _act(request, deal, "lost", reason=reason)


@page
@require_POST
def reopen(request: HttpRequest, pk: int) -> HttpResponse:
    deal = _deal(request, pk)
    if deal.status == "open":
        messages.info(request, f"“{deal}” is already open.")
        return redirect(f"/deals/{deal.pk}/")
    stage = queries.reopen_stage(deal)
    if stage is None:
        messages.error(request, f"The pipeline {deal.pipeline.name} has no open stage to reopen the deal in.")
        return redirect(f"/deals/{deal.pk}/")
    return _act(request, deal, "reopen", stage=stage)


@page
@require_GET
def next_activity(request: HttpRequest, pk: int) -> HttpResponse:
    """The "next activity" card, refreshed by the page after an activity is logged or planned."""
    deal = _deal(request, pk)
    user = signed_in(request)
    context = {
        "deal": deal,
        "next_activity": queries.next_activity(user, deal) if deal.status == "open" else None,
    }
    return render(request, "deals/deal_next.html", context)
