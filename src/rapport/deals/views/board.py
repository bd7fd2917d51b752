"""Sales pages: the deals board (columns, show more, moves), deals on person and company pages,
lead conversion, and the pipelines settings page."""

from __future__ import annotations

from functools import cached_property
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from rapport.accounts.models import Team
from rapport.api.errors import flatten
from rapport.contacts.models import Company, Person
from rapport.core import visibility
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.inputs import is_id
from rapport.forecasting.money import Rates, base_currency
from rapport.web.common import error_page, page, query_string, record_type, settings_required, signed_in
from rapport.web.forms import user_choices

from .. import board, leads, pipelines, queries, services
from ..models import Deal, LostReason, Pipeline, Stage

SECTION_DEALS = 10
CONFLICT_MESSAGE = "Someone else changed this deal; here is the current card."


def _messages_of(exc: ValidationError) -> str:
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    return "; ".join(" ".join(v) for v in flatten(detail).values())


class BoardContext:
    """What every card and column template of one board needs: stages, permissions, where to come back."""

    def __init__(self, user: Any, pipeline: Pipeline, stages: list[Stage] | None, params: str):
        self.user = user
        self.pipeline = pipeline
        if stages is not None:
            self.stages = stages
        self.params = params
        self.base = base_currency()
        self.closed_window = board.CLOSED_WINDOW_DAYS
        # Logging from a card needs the activities app and the right to add activities.
        self.can_log = apps.is_installed("rapport.activities") and user.scope_for("activities", "add") is not None
        # The board's own address (with its filters): where a card's full-page forms come back to.
        self.url = "/deals/board/" + (params or f"?pipeline={pipeline.pk}")

    @cached_property
    def stages(self) -> list[Stage]:
        """The pipeline's stages (read when first needed: a drag-and-drop answer renders only its card)."""
        return board.board_stages(self.pipeline)

    @cached_property
    def open_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.kind == "open"]

    @cached_property
    def won_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.kind == "won"), None)

    @cached_property
    def lost_stage(self) -> Stage | None:
        return next((s for s in self.stages if s.kind == "lost"), None)

    def render_cards(self, cards: list[board.Card]) -> str:
        """Cards of the board (``deals/board_cards.html``: the same markup for the page, "Show more",
        move answers and a card refreshed after logging); each card's permissions are set first."""
        if not cards:
            return ""
        for card in cards:
            card.can_change = self.can_change(card.team_id, card.owner_id)
            card.can_log = self.can_log
        return render_to_string("deals/board_cards.html", {"cards": cards, "ctx": self}).strip()

    def can_change(self, team_id: int | None, owner_id: int | None) -> bool:
        """The shared object-level rule, applied to a card's owner and team."""
        record = SimpleNamespace(record_type_key="deals", team_id=team_id, owner_id=owner_id, deleted_at=None)
        return visibility.can(self.user, record, "change")


def _board_params(request: HttpRequest) -> str:
    """The board's filters as a query string (without the column cursor)."""
    return query_string(request.GET, cursor=None)


def _pipeline(request: HttpRequest, available: list[Pipeline] | None = None) -> Pipeline:
    raw = request.GET.get("pipeline", "")
    available = board.pipelines() if available is None else available
    if raw:
        if not is_id(raw):
            raise board.QueryError("pipeline", f"{raw!r} is not a pipeline id.")
        chosen = next((p for p in available if p.pk == int(raw)), None)
        if chosen is None:
            archived = Pipeline.objects.filter(pk=int(raw)).first()
            if archived is None:
                raise board.QueryError("pipeline", f"there is no pipeline {raw}.")
            return archived
        return chosen
    if not available:
        raise board.QueryError("pipeline", "there is no pipeline in use; create one in the settings.")
    return available[0]


def _with_permissions(ctx: BoardContext, columns: list[board.Column]) -> None:
    """Render each column's cards (one template render per column, not one include per card: per-card
    includes cost most of the board's time)."""
    for column in columns:
        column.cards_html = mark_safe(ctx.render_cards(column.cards))  # type: ignore[attr-defined]


# --- board ------------------------------------------------------------------------------------
@page
@require_GET
def board_page(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    record_type("deals", user)
    available = board.pipelines()
    try:
        pipeline = _pipeline(request, available)
        q = board.deal_filter(request.GET, user)
    except board.QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/deals/board/")
    stages = board.board_stages(pipeline)
    ctx = BoardContext(user, pipeline, stages, _board_params(request))
    columns = board.build_board(user, pipeline, q, stages=stages)
    _with_permissions(ctx, columns)
    filters = {k: request.GET.get(k, "") for k in ("owner", "team", "tag", "close_date__after", "close_date__before")}
    context = {
        "ctx": ctx,
        "pipeline": pipeline,
        "pipelines": available,
        "columns": columns,
        "reasons": LostReason.objects.filter(active=True).order_by("position", "name"),
        # Dragging and the card menu's moves: only for who may change some deal.
        "can_move": user.scope_for("deals", "change") is not None,
        "users": user_choices(),
        "teams": Team.objects.order_by("name"),
        "filters": filters,
        "active_filters": sum(1 for v in filters.values() if v),
        "base": base_currency(),
    }
    return render(request, "deals/board.html", context)


@page
@require_GET
def board_column(request: HttpRequest, stage_id: int) -> HttpResponse:
    """The next keyset page of one column's cards (the "Show more" link)."""
    user = signed_in(request)
    record_type("deals", user)
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=stage_id)
    params = request.GET.copy()
    params["pipeline"] = str(stage.pipeline_id)
    try:
        q = board.deal_filter(params, user)
        qs = board.visible_deals(user, stage.pipeline, q)
        cards, next_cursor = board.column_cards(qs, stage, request.GET.get("cursor") or None, user=user)
    except board.QueryError as exc:
        return HttpResponse(f"{exc.param}: {exc.message}", status=400, content_type="text/plain")
    stages = board.board_stages(stage.pipeline)
    ctx = BoardContext(user, stage.pipeline, stages, query_string(params, cursor=None))
    column = board.Column(stage=stage, totals=board.Totals(), cards=cards, next_cursor=next_cursor)
    _with_permissions(ctx, [column])
    return render(request, "deals/board_more.html", {"ctx": ctx, "column": column})


@page
@require_GET
def card(request: HttpRequest, pk: int) -> HttpResponse:
    """One deal's board card as it is now (the board fetches it after logging or planning from the
    card, to show the new next-activity mark in place)."""
    user = signed_in(request)
    record_type("deals", user)
    found = board.card_for(pk, user)
    if found is None:
        raise Http404("No such deal.")
    deal_card, stage = found
    params = request.GET.copy()
    params["pipeline"] = str(stage.pipeline_id)
    ctx = BoardContext(user, stage.pipeline, board.board_stages(stage.pipeline), query_string(params, cursor=None))
    return HttpResponse(ctx.render_cards([deal_card]))


def _board_filter(request: HttpRequest) -> Q:
    try:
        return board.deal_filter(request.GET, request.user)
    except board.QueryError:
        return Q()


def _move_response(
    request: HttpRequest,
    deal_id: int,
    stages: list[Stage],
    *,
    status: int = 200,
    error: str = "",
    deltas: dict[str, Any] | None = None,
) -> JsonResponse:
    """The moved (or, on a conflict, the current) card, and how the columns' figures change:
    ``deltas`` (the moved deal's own converted amounts, which the page adds to the column heads)
    after a move, the heads re-aggregated after a conflict (someone else's change is unknown)."""
    user = signed_in(request)
    found = board.card_for(deal_id, user, known=stages)
    if found is None:
        return JsonResponse({"error": "This deal is gone or no longer visible to you."}, status=404)
    card, stage = found
    pipeline = stage.pipeline
    ctx = BoardContext(user, pipeline, None, query_string(request.GET, cursor=None))
    html = ctx.render_cards([card])
    body: dict[str, Any] = {"card": html, "stage": stage.pk, "version": card.version}
    if deltas is not None:
        body["deltas"] = deltas
    else:
        qs = board.visible_deals(user, pipeline, _board_filter(request))
        wanted = [s for s in ctx.stages if s.pk in {stage.pk, *(s.pk for s in stages)}]
        totals = board.column_totals(qs, wanted)
        body["heads"] = {
            str(s.pk): render_to_string(
                "deals/board_head.html", {"column": board.Column(stage=s, totals=totals[s.pk]), "ctx": ctx}, request
            )
            for s in wanted
        }
    if error:
        body["error"] = error
    return JsonResponse(body, status=status)


@page
@require_POST
def move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a deal to a stage with the card's version (If-Match): 409 with the fresh card when
    someone else changed it meanwhile, 403 without change permission, 400 for a lost stage
    without a reason. Answers JSON for the board's script, a redirect for a plain form."""
    user = signed_in(request)
    record_type("deals", user)
    wants_json = "application/json" in request.headers.get("Accept", "")
    deal = Deal.objects.visible_to(user).select_related("stage", "pipeline").filter(pk=pk).first()
    if deal is None:
        raise Http404("No such deal.")
    back = f"/deals/board/?pipeline={deal.pipeline_id}"

    def fail(message: str, status: int) -> HttpResponse:
        if wants_json:
            return JsonResponse({"error": message}, status=status)
        messages.error(request, message)
        return redirect(back)

    if not visibility.can(user, deal, "change"):
        return fail("You may not change this deal.", 403)
    stage_raw = request.POST.get("stage", "")
    stage = Stage.objects.select_related("pipeline").filter(pk=int(stage_raw)).first() if is_id(stage_raw) else None
    if stage is None or stage.archived or stage.pipeline_id != deal.pipeline_id:
        return fail("stage: choose a stage of this deal's pipeline.", 400)
    version_raw = request.POST.get("version", "")
    expected = int(version_raw) if is_id(version_raw) else None
    reason = None
    reason_raw = request.POST.get("lost_reason", "")
    if reason_raw:
        reason = LostReason.objects.filter(pk=int(reason_raw), active=True).first() if is_id(reason_raw) else None
        if reason is None:
            return fail("lost_reason: choose one of the listed reasons.", 400)
    if stage.kind == "lost" and reason is None:
        return fail("lost_reason: give a reason when a deal is lost.", 400)
    previous = deal.stage
    rates = Rates()
    before = board.deal_contribution(deal, rates)
    try:
        moved = services.move_deal(deal, stage, actor=user, source="ui", expected_version=expected, lost_reason=reason)
    except VersionConflict:
        if not wants_json:
            messages.error(request, CONFLICT_MESSAGE)
            return redirect(back)
        return _move_response(request, deal.pk, [previous, stage], status=409, error=CONFLICT_MESSAGE)
    except ValidationError as exc:
        return fail(_messages_of(exc), 400)
    except PermissionDenied as exc:
        return fail(str(exc), 403)
    except RecordGone as exc:
        return fail(str(exc), 410)
    if not wants_json:
        messages.success(request, f"Moved “{deal}” to {stage.name}.")
        return redirect(back)
    # The board counts the deal in its new column only if it still matches the board's filters (without
    # any, it does: a move changes neither the deal's owner and team, which decide whether the user sees
    # it, nor its pipeline).
    q = _board_filter(request)
    shown = not q or board.visible_deals(user, moved.pipeline, q).filter(pk=moved.pk).exists()
    after = board.deal_contribution(moved, rates) if shown else None
    deltas = board.move_deltas(before[1] if before else None, previous.pk, after)
    return _move_response(request, deal.pk, [previous, stage], deltas=deltas)


# --- deals on person and company pages ----------------------------------------------------------
@page
@require_GET
def related_deals(request: HttpRequest) -> HttpResponse:
    """The "Deals" section of a person's or a company's page (loaded by htmx)."""
    user = signed_in(request)
    company_raw, person_raw = request.GET.get("company", ""), request.GET.get("person", "")
    if user.scope_for("deals", "view") is None:
        return HttpResponse("")
    person = None
    if is_id(person_raw):
        person = Person.objects.visible_to(user).filter(pk=int(person_raw)).first()
        if person is None:
            raise Http404("No such person.")
        deals = queries.deals_of_person(user, person)
        new_url = f"/deals/new/?person={person.pk}" + (f"&company={person.company_id}" if person.company_id else "")
        all_url = ""
    elif is_id(company_raw):
        company = Company.objects.visible_to(user).filter(pk=int(company_raw)).first()
        if company is None:
            raise Http404("No such company.")
        deals = queries.deals_of_company(user, company)
        new_url = f"/deals/new/?company={company.pk}"
        all_url = f"/deals/?company={company.pk}"
    else:
        return HttpResponse("company or person: give the id of one.", status=400, content_type="text/plain")
    rows = queries.section_rows(deals, SECTION_DEALS + 1)
    context = {
        "rows": rows[:SECTION_DEALS],
        "more": len(rows) > SECTION_DEALS,
        "new_url": new_url,
        "all_url": all_url,
        "can_add": user.scope_for("deals", "add") is not None,
        "person": person,
        "can_convert": bool(
            person is not None
            and leads.is_lead(person)
            and visibility.can(user, person, "change")
            and user.scope_for("deals", "add") is not None
        ),
    }
    return render(request, "deals/board_related.html", context)


@page
@require_POST
def convert_lead(request: HttpRequest, person_id: int) -> HttpResponse:
    user = signed_in(request)
    person = Person.objects.visible_to(user).filter(pk=person_id).first()
    if person is None:
        raise Http404("No such person.")
    if user.scope_for("deals", "add") is None or not visibility.can(user, person, "change"):
        raise Forbidden("You may not convert this person into a deal.")
    try:
        deal = leads.convert_lead(person, actor=user, source="ui")
    except ValidationError as exc:
        messages.error(request, f"No deal was created. {_messages_of(exc)}")
        return redirect(f"/people/{person.pk}/")
    except (PermissionDenied, RecordGone) as exc:
        messages.error(request, f"No deal was created. {exc}")
        return redirect(f"/people/{person.pk}/")
    messages.success(request, f"Created the deal “{deal}”; {person} is now an opportunity.")
    return redirect(f"/deals/{deal.pk}/")


# --- pipelines settings -----------------------------------------------------------------------
def _settings_error(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, _messages_of(exc))


@settings_required
def pipeline_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            created = pipelines.create_pipeline(request.POST.get("name", ""), actor=request.user)
        except ValidationError as exc:
            _settings_error(request, exc)
            return redirect("/settings/pipelines/")
        messages.success(request, f"Created the pipeline “{created}”.")
        return redirect(f"/settings/pipelines/{created.pk}/")
    context = {
        "pipelines": Pipeline.objects.order_by("archived", "position", "id"),
        "reasons": LostReason.objects.order_by("-active", "position", "name"),
        "section": "pipelines",
    }
    return render(request, "deals/pipelines.html", context)


@settings_required
def pipeline_edit(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline, pk=pk)
    here = f"/settings/pipelines/{pipeline.pk}/"
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "rename":
                pipelines.rename_pipeline(pipeline, request.POST.get("name", ""), actor=request.user)
                messages.success(request, f"Renamed the pipeline to “{pipeline.name}”.")
            elif action in ("archive", "unarchive"):
                pipelines.set_pipeline_archived(pipeline, action == "archive", actor=request.user)
                messages.success(request, f"{'Archived' if action == 'archive' else 'Restored'} “{pipeline.name}”.")
            elif action == "add_stage":
                stage = pipelines.add_stage(
                    pipeline,
                    name=request.POST.get("name", ""),
                    probability=request.POST.get("probability", "0"),
                    rotting_days=request.POST.get("rotting_days", ""),
                    kind=request.POST.get("kind", "open"),
                    actor=request.user,
                )
                messages.success(request, f"Added the stage “{stage.name}”.")
            else:
                messages.error(request, "Unknown action.")
        except ValidationError as exc:
            _settings_error(request, exc)
        return redirect(here)
    stages = list(pipeline.stages.order_by("position", "id"))
    counts = dict(
        Deal.objects.live()
        .filter(pipeline=pipeline)
        .values("stage_id")
        .annotate(n=Count("id"))
        .values_list("stage_id", "n")
        .order_by()
    )
    for s in stages:
        s.deal_count = counts.get(s.pk, 0)  # type: ignore[attr-defined]
    context = {"pipeline": pipeline, "stages": stages, "kinds": pipelines.STAGE_KINDS, "section": "pipelines"}
    return render(request, "deals/pipeline_edit.html", context)


@settings_required
@require_POST
def stage_action(request: HttpRequest, pk: int) -> HttpResponse:
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    here = f"/settings/pipelines/{stage.pipeline_id}/"
    action = request.POST.get("action", "")
    try:
        if action == "update":
            pipelines.update_stage(
                stage,
                name=request.POST.get("name", ""),
                probability=request.POST.get("probability", ""),
                rotting_days=request.POST.get("rotting_days", ""),
                kind=request.POST.get("kind") or None,
                actor=request.user,
            )
            messages.success(request, f"Saved the stage “{stage.name}”.")
        elif action in ("up", "down"):
            pipelines.move_stage(stage, -1 if action == "up" else 1, actor=request.user)
        elif action in ("archive", "unarchive"):
            pipelines.set_stage_archived(stage, action == "archive", actor=request.user)
            messages.success(request, f"{'Archived' if action == 'archive' else 'Restored'} “{stage.name}”.")
        else:
            messages.error(request, "Unknown action.")
    except ValidationError as exc:
        _settings_error(request, exc)
    return redirect(here)


@settings_required
def stage_delete(request: HttpRequest, pk: int) -> HttpResponse:
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=pk)
    here = f"/settings/pipelines/{stage.pipeline_id}/"
    held = Deal.objects.live().filter(stage=stage).count()
    targets = list(stage.pipeline.stages.filter(archived=False).exclude(pk=stage.pk).order_by("position", "id"))
    error = ""
    if request.method == "POST":
        target_raw = request.POST.get("target", "")
        target = next((t for t in targets if str(t.pk) == target_raw), None)
        if target_raw and target is None:
            error = "target: choose a stage in use in the same pipeline."
        else:
            try:
                moved = pipelines.delete_stage(stage, target=target, actor=request.user)
            except ValidationError as exc:
                error = _messages_of(exc)
            except (PermissionDenied, RecordGone) as exc:
                error = f"Nothing was deleted: {exc}"
            else:
                suffix = f"; {moved} deal{'s' if moved != 1 else ''} moved to {target.name}" if target else ""
                messages.success(request, f"Deleted the stage “{stage.name}”{suffix}.")
                return redirect(here)
    context = {"stage": stage, "held": held, "targets": targets, "error": error, "section": "pipelines"}
    return render(request, "deals/pipeline_stage_delete.html", context, status=400 if error else 200)


@settings_required
@require_POST
def lost_reason_action(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    action = request.POST.get("action", "")
    try:
        if pk is None:
            reason = pipelines.add_lost_reason(request.POST.get("name", ""), actor=request.user)
            messages.success(request, f"Added the lost reason “{reason.name}”.")
        else:
            reason = get_object_or_404(LostReason, pk=pk)
            if action == "rename":
                pipelines.rename_lost_reason(reason, request.POST.get("name", ""), actor=request.user)
                messages.success(request, f"Renamed the lost reason to “{reason.name}”.")
            elif action in ("activate", "deactivate"):
                pipelines.set_lost_reason_active(reason, action == "activate", actor=request.user)
                messages.success(
                    request, f"{'Reactivated' if action == 'activate' else 'Deactivated'} “{reason.name}”."
                )
            else:
                messages.error(request, "Unknown action.")
    except ValidationError as exc:
        _settings_error(request, exc)
    return redirect("/settings/pipelines/#lost-reasons")
