"""Sequence pages: the list, the editor (steps added, moved and removed with buttons, so it works from the
keyboard and without script), a sequence's page with per-step statistics and its enrolments, enrolling people
(from a person's page or a list's selection), and the enrolments section of a person's page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rapport.api.errors import flatten
from rapport.core import inputs
from rapport.core.models import SavedView
from rapport.web.common import error_page, object_page, page, safe_next, signed_in

from .. import mailer, queries, services
from ..models import STATES, STEP_KINDS, Enrolment, Sequence
from ..serializers import MAX_STEPS, SequenceSerializer


def _sequence(request: HttpRequest, pk: int) -> Sequence:
    sequence = queries.visible_sequences(signed_in(request)).filter(pk=pk).first()
    if sequence is None:
        raise Http404("No such sequence.")
    return sequence


@page
def sequence_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    rows = list(queries.visible_sequences(user).order_by("name", "id"))
    counts = queries.active_counts([s.pk for s in rows], user)
    return render(
        request,
        "sequences/list.html",
        {
            "rows": [(s, counts.get(s.pk, 0)) for s in rows],
            "may_create": queries.may_create_sequences(user),
        },
    )


# --- the editor ---------------------------------------------------------------------------------------------
def _posted_steps(post: Any) -> list[dict[str, Any]]:
    try:
        count = min(int(post.get("step_count", "0")), MAX_STEPS + 1)
    except ValueError:
        count = 0
    steps = []
    for i in range(count):
        prefix = f"step-{i}-"
        step: dict[str, Any] = {
            "kind": post.get(prefix + "kind", "email"),
            "delay_days": post.get(prefix + "delay_days", "0") or "0",
            "subject": post.get(prefix + "subject", ""),
            "body": post.get(prefix + "body", ""),
        }
        if inputs.is_id(post.get(prefix + "id", "")):
            step["id"] = int(post[prefix + "id"])
        if post.get(prefix + "template_id", "").strip():
            step["template_id"] = post[prefix + "template_id"].strip()
        steps.append(step)
    return steps


def _apply_button(post: Any, steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The editor's buttons: add a step, move one up or down, remove one. Returns the steps and where to focus."""
    for kind, _ in STEP_KINDS:
        if f"add_{kind}" in post:
            steps.append({"kind": kind, "delay_days": 0 if not steps else 2, "subject": "", "body": ""})
            return steps, f"step-{len(steps) - 1}"
    for key in post:
        action, _, index = key.partition(":")
        if action in ("up", "down", "remove") and inputs.is_id(index) and int(index) < len(steps):
            i = int(index)
            if action == "remove":
                steps.pop(i)
                return steps, "steps"
            j = i - 1 if action == "up" else i + 1
            if 0 <= j < len(steps):
                steps[i], steps[j] = steps[j], steps[i]
                return steps, f"step-{j}"
            return steps, f"step-{i}"
    return steps, None


def _form_values(sequence: Sequence | None) -> dict[str, Any]:
    if sequence is None:
        return {"name": "", "description": "", "shared": False, "active": True, "window_start": "09:00",
                "window_end": "17:00", "holidays": ""}  # fmt: skip
    return {
        "name": sequence.name,
        "description": sequence.description,
        "shared": sequence.shared,
        "active": sequence.active,
        "window_start": sequence.window_start.strftime("%H:%M"),
        "window_end": sequence.window_end.strftime("%H:%M"),
        "holidays": "\n".join(sequence.holidays or []),
    }


@page
def sequence_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    user = signed_in(request)
    sequence = _sequence(request, pk) if pk else None
    if sequence is not None and not queries.may_edit(user, sequence):
        return error_page(request, "Only the sequence's owner or an administrator may change it.", status=403)
    if sequence is None and not queries.may_create_sequences(user):
        return error_page(request, "You may not create sequences.", status=403)
    errors: dict[str, list[str]] = {}
    focus = None
    if request.method == "POST":
        values: dict[str, Any] = {
            k: request.POST.get(k, "") for k in ("name", "description", "window_start", "window_end", "holidays")
        }
        values["shared"] = request.POST.get("shared") == "on"
        values["active"] = request.POST.get("active") == "on"
        steps, focus = _apply_button(request.POST, _posted_steps(request.POST))
        if focus is None:
            data: dict[str, Any] = {k: v for k, v in values.items() if k != "holidays"}
            data["holidays"] = [d.strip() for d in str(values["holidays"]).split() if d.strip()]
            data["steps"] = steps
            serializer = SequenceSerializer(data=data, context={"instance": sequence})
            if serializer.is_valid():
                validated = dict(serializer.validated_data)
                new_steps = [dict(s) for s in validated.pop("steps", [])]
                if sequence is None:
                    sequence = services.create_sequence(actor=user, steps=new_steps, **validated)
                    messages.success(request, f"Created the sequence “{sequence.name}”.")
                else:
                    services.update_sequence(sequence, actor=user, steps=new_steps, **validated)
                    messages.success(request, f"Saved the sequence “{sequence.name}”.")
                return redirect(f"/sequences/{sequence.pk}/")
            errors = flatten(serializer.errors)
    else:
        values = _form_values(sequence)
        steps = [
            {
                "id": s.pk,
                "kind": s.kind,
                "delay_days": s.delay_days,
                "subject": s.subject,
                "body": s.body,
                "template_id": s.template_id or "",
            }  # fmt: skip
            for s in (queries.steps_of(sequence) if sequence else [])
        ]
    rows = []
    for i, step in enumerate(steps):
        step_errors = {k.split(".", 1)[1]: v for k, v in errors.items() if k.startswith(f"steps[{i}].")}
        later_email = step.get("kind") == "email" and any(s.get("kind") == "email" for s in steps[:i])
        rows.append(
            {
                "index": i,
                "number": i + 1,
                "first": i == 0,
                "last": i == len(steps) - 1,
                "step": step,
                "errors": step_errors,
                "focus": focus == f"step-{i}",
                "later_email": later_email,
            }
        )
    return render(
        request,
        "sequences/form.html",
        {
            "sequence": sequence,
            "values": values,
            "steps": rows,
            "step_count": len(steps),
            "errors": {k: v for k, v in errors.items() if not k.startswith("steps[")},
            "step_kinds": STEP_KINDS,
            "merge_fields": mailer.MERGE_FIELDS,
            "focus": focus,
            "max_steps": MAX_STEPS,
        },
        status=400 if errors else 200,
    )


@page
@require_POST
def sequence_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    sequence = _sequence(request, pk)
    if not queries.may_edit(user, sequence):
        return error_page(request, "Only the sequence's owner or an administrator may delete it.", status=403)
    services.delete_sequence(sequence, actor=user)
    messages.success(request, f"Deleted the sequence “{sequence.name}”.")
    return redirect("/sequences/")


# --- a sequence's page --------------------------------------------------------------------------------------
@page
def sequence_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    sequence = _sequence(request, pk)
    steps = queries.steps_of(sequence)
    stats = queries.step_stats(sequence, steps)
    state = request.GET.get("state", "")
    rows = queries.visible_enrolments(user).filter(sequence=sequence)
    if state in dict(STATES):
        rows = rows.filter(state=state)
    pg = object_page(request, rows, "id")
    by_position = {s.position: s for s in steps}
    return render(
        request,
        "sequences/detail.html",
        {
            "sequence": sequence,
            "steps": [(s, stats.get(s.pk, {})) for s in steps],
            "counts": queries.state_counts(sequence, user),
            "enrolments": [(e, by_position.get(e.position)) for e in pg.objects],
            "page": pg,
            "state": state,
            "states": STATES,
            "may_edit": queries.may_edit(user, sequence),
            "may_enrol": sequence.active and user.scope_for("people", "change") is not None,
            "tracking": any(v.get("opened") is not None for v in stats.values()),
        },
    )


@page
@require_POST
def enrolment_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = signed_in(request)
    enrolment = queries.visible_enrolments(user).filter(pk=pk).first()
    if enrolment is None or action not in ("pause", "resume", "stop"):
        raise Http404("No such enrolment.")
    done = {
        "pause": lambda: services.pause_enrolment(enrolment),
        "resume": lambda: services.resume_enrolment(enrolment),
        "stop": lambda: services.stop_enrolment(enrolment, reason="manual"),
    }[action]()
    name = enrolment.person.full_name
    if done:
        past = {"pause": "Paused", "resume": "Resumed", "stop": "Stopped"}[action]
        messages.success(request, f"{past} the sequence for {name}.")
    else:
        messages.error(request, f"The sequence for {name} is {enrolment.get_state_display().lower()} already.")
    return redirect(safe_next(request, f"/sequences/{enrolment.sequence_id}/"))


# --- enrolling ----------------------------------------------------------------------------------------------
def _ids(raw: str) -> list[int]:
    return list(dict.fromkeys(int(p) for p in raw.replace(" ", "").split(",") if inputs.is_id(p) and len(p) < 19))[:500]


@page
def enrol(request: HttpRequest) -> HttpResponse:
    """Enrol the people of ``?people=1,2,3`` (a person's page, a list's ticked rows) or a saved view's people."""
    user = signed_in(request)
    if user.scope_for("people", "change") is None:
        return error_page(request, "You may not enrol people in sequences.", status=403)
    source = request.POST if request.method == "POST" else request.GET
    people_ids = _ids(source.get("people", ""))
    people = list(queries.enrollable_people(user).filter(pk__in=people_ids).order_by("last_name", "first_name", "id"))
    sequences = [s for s in queries.visible_sequences(user).order_by("name", "id") if s.active]
    views = list(SavedView.objects.filter(record_type="people", owner=user).order_by("name", "id")) + list(
        SavedView.objects.filter(record_type="people", shared=True).exclude(owner=user).order_by("name", "id")
    )
    back = safe_next(request, f"/people/{people[0].pk}/" if len(people) == 1 else "/people/")
    error = ""
    if request.method == "POST":
        sequence = next((s for s in sequences if str(s.pk) == request.POST.get("sequence")), None)
        view_id = request.POST.get("saved_view", "")
        if sequence is None:
            error = "Choose a sequence."
        elif not people and not inputs.is_id(view_id):
            error = "Choose the people: tick them on the people list, or pick a saved view."
        else:
            try:
                result = services.enrol(
                    sequence,
                    actor=user,
                    people_ids=[p.pk for p in people] if people else None,
                    saved_view_id=int(view_id) if not people else None,
                )
            except ValidationError as exc:
                error = " ".join(m for ms in exc.message_dict.values() for m in ms)
            else:
                parts = [f"Enrolled {len(result.enrolled)} in “{sequence.name}”."]
                if result.already:
                    parts.append(f"{len(result.already)} already in it.")
                if result.no_email:
                    parts.append(f"{len(result.no_email)} without an email address left out.")
                messages.success(request, " ".join(parts))
                return redirect(back)
    return render(
        request,
        "sequences/enrol.html",
        {
            "people": people,
            "people_ids": ",".join(str(p.pk) for p in people),
            "sequences": sequences,
            "views": views,
            "back": back,
            "error": error,
            "chosen": request.POST.get("sequence", ""),
        },
        status=400 if error else 200,
    )


@page
def person_section(request: HttpRequest, pk: int) -> HttpResponse:
    """The Sequences card of a person's page (loaded by htmx): their enrolments the viewer may see."""
    user = signed_in(request)
    person = queries.enrollable_people(user).filter(pk=pk).first()
    visible = queries.visible_enrolments(user).filter(person_id=pk)
    if person is None and not visible.exists():
        from rapport.contacts.models import Person

        if not Person.objects.visible_to(user).filter(pk=pk).exists():
            raise Http404("No such person.")
    rows = list(visible.order_by("-enrolled_at", "-id")[:10])
    return render(
        request,
        "sequences/person_section.html",
        {"rows": rows, "person_id": pk, "may_enrol": person is not None, "now": dt.datetime.now(dt.UTC)},
    )


__all__ = ["Enrolment"]
