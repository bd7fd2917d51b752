"""Settings pages: users, teams, roles and custom fields for administrators; API tokens for everyone."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rapport.core import audit, customfields, registry
from rapport.core.listing import QueryError
from rapport.core.models import CustomField
from rapport.core.registry import RecordType
from rapport.web.common import settings_required

from . import services
from .forms import CustomFieldForm, TeamForm, TokenForm, UserCreateForm, UserEditForm
from .models import ACTIONS, ApiToken, Role, Team, User
from .services import SCOPE_CHOICES

# The choices of the role grid: short, the page explains them once (models.SCOPES has the long words).
SCOPE_LABELS = (("none", "None"), ("own", "Own"), ("team", "Team's"), ("all", "All"))


@settings_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "settings/index.html")


# --- users ----------------------------------------------------------------------------------
@settings_required
def user_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.select_related("role", "team").order_by("-is_active", "username")
    return render(request, "settings/users.html", {"users": users})


def _user_fields(form: UserEditForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in UserEditForm.Meta.fields}


@settings_required
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.create_user(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            actor=request.user,
            **_user_fields(form),
        )
        messages.success(request, f"User {user.username} created.")
        return redirect("settings-users")
    return render(request, "settings/user_form.html", {"form": form, "creating": True})


@settings_required
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User.objects.select_related("role", "team"), pk=pk)
    form = UserEditForm(request.POST or None, instance=target)
    if request.method == "POST" and form.is_valid():
        role = form.cleaned_data["role"]
        if target.pk == request.user.pk and not target.is_superuser and not role.manage_settings:
            form.add_error("role", "You cannot take away your own access to settings; ask another administrator.")
        else:
            services.update_user(target, actor=request.user, **_user_fields(form))
            messages.success(request, f"User {target.username} saved.")
            return redirect("settings-users")
    return render(request, "settings/user_form.html", {"form": form, "target": target, "creating": False})


@require_POST
@settings_required
def user_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    if target.pk == request.user.pk:
        messages.error(request, "You cannot deactivate yourself.")
    else:
        services.deactivate_user(target, actor=request.user)
        messages.success(request, f"User {target.username} deactivated; their sessions and API tokens stopped.")
    return redirect("settings-users")


@require_POST
@settings_required
def user_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    services.reactivate_user(target, actor=request.user)
    messages.success(request, f"User {target.username} reactivated.")
    return redirect("settings-users")


# --- teams ----------------------------------------------------------------------------------
@settings_required
def team_list(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.create_team(name=form.cleaned_data["name"], actor=request.user)
        messages.success(request, f"Team {team.name} created.")
        return redirect("settings-teams")
    teams = Team.objects.annotate(member_count=Count("members")).order_by("name")
    return render(request, "settings/teams.html", {"teams": teams, "form": form})


@settings_required
def team_edit(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    form = TeamForm(request.POST or None, instance=team)
    if request.method == "POST" and form.is_valid():
        services.rename_team(team, name=form.cleaned_data["name"], actor=request.user)
        messages.success(request, f"Team renamed to {team.name}.")
        return redirect("settings-teams")
    members = team.members.order_by("username")
    return render(request, "settings/team_form.html", {"team": team, "form": form, "members": members})


@settings_required
def team_delete(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    member_count = team.members.count()
    if request.method == "POST":
        name = team.name
        moved = services.delete_team(team, actor=request.user)
        note = f"; {moved} member{'s' if moved != 1 else ''} moved to no team" if moved else ""
        messages.success(request, f"Team {name} deleted{note}.")
        return redirect("settings-teams")
    return render(request, "settings/team_delete.html", {"team": team, "member_count": member_count})


# --- roles ----------------------------------------------------------------------------------
@settings_required
def role_list(request: HttpRequest) -> HttpResponse:
    roles = Role.objects.annotate(user_count=Count("users")).order_by("id")
    return render(request, "settings/roles.html", {"roles": roles})


@settings_required
def role_edit(request: HttpRequest, pk: int) -> HttpResponse:
    role = get_object_or_404(Role, pk=pk)
    types = list(registry.all_types())
    matrix = services.grants_matrix(role, [t.key for t in types])
    errors: list[str] = []
    if request.method == "POST":
        submitted: dict[str, dict[str, str]] = {}
        for rtype in types:
            submitted[rtype.key] = {}
            for action in ACTIONS:
                value = request.POST.get(f"{rtype.key}.{action}", "")
                if value not in SCOPE_CHOICES:
                    errors.append(f"{rtype.label_plural} · {action}: choose one of {', '.join(SCOPE_CHOICES)}.")
                    value = matrix[rtype.key][action]
                submitted[rtype.key][action] = value
        matrix = submitted
        if not errors:
            services.set_role_grants(role, submitted, actor=request.user)
            messages.success(request, f"Permissions of {role.name} saved.")
            return redirect("settings-roles")
    rows = [
        {
            "type": rtype,
            "cells": [
                {"name": f"{rtype.key}.{action}", "action": action, "value": matrix[rtype.key][action]}
                for action in ACTIONS
            ],
        }
        for rtype in types
    ]
    return render(
        request,
        "settings/role_form.html",
        {"role": role, "rows": rows, "actions": ACTIONS, "scopes": SCOPE_LABELS, "errors": errors},
    )


# --- custom fields --------------------------------------------------------------------------
def _record_type(type_key: str) -> RecordType:
    rtype = registry.find(type_key)
    if rtype is None:
        raise Http404("No such record type.")
    return rtype


@settings_required
def field_index(request: HttpRequest) -> HttpResponse:
    counts = dict(CustomField.objects.values("record_type").annotate(n=Count("id")).values_list("record_type", "n"))
    types = [{"type": t, "count": counts.get(t.key, 0)} for t in registry.all_types()]
    return render(request, "settings/fields.html", {"types": types})


@settings_required
def field_list(request: HttpRequest, type_key: str) -> HttpResponse:
    rtype = _record_type(type_key)
    fields = CustomField.objects.filter(record_type=rtype.key).order_by("position", "id")
    return render(request, "settings/field_list.html", {"rtype": rtype, "fields": fields})


@settings_required
def field_create(request: HttpRequest, type_key: str) -> HttpResponse:
    rtype = _record_type(type_key)
    form = CustomFieldForm(request.POST or None, type_key=rtype.key)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        field = customfields.create_field(rtype.key, data["key"], data, actor=request.user)
        messages.success(request, f"Field {field.label} added to {rtype.label_plural}.")
        return redirect("settings-field-list", type_key=rtype.key)
    return render(request, "settings/field_form.html", {"rtype": rtype, "form": form, "field": None})


@settings_required
def field_edit(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    rtype = _record_type(type_key)
    field = get_object_or_404(CustomField, pk=pk, record_type=rtype.key)
    form = CustomFieldForm(request.POST or None, instance=field, type_key=rtype.key)
    if request.method == "POST" and form.is_valid():
        field = customfields.update_field(field, form.cleaned_data, actor=request.user)
        messages.success(request, f"Field {field.label} saved.")
        return redirect("settings-field-list", type_key=rtype.key)
    return render(request, "settings/field_form.html", {"rtype": rtype, "form": form, "field": field})


@settings_required
def field_delete(request: HttpRequest, type_key: str, pk: int) -> HttpResponse:
    rtype = _record_type(type_key)
    field = get_object_or_404(CustomField, pk=pk, record_type=rtype.key)
    if request.method == "POST":
        label = field.label
        customfields.delete_field(field, actor=request.user)
        messages.success(request, f"Field {label} deleted.")
        return redirect("settings-field-list", type_key=rtype.key)
    in_use = rtype.model.objects.filter(custom__has_key=field.key).exists()
    return render(request, "settings/field_delete.html", {"rtype": rtype, "field": field, "in_use": in_use})


# --- audit trail ---------------------------------------------------------------------------
def _page_url(params: Any, **changes: Any) -> str:
    query = {k: v for k, v in params.items() if v and k not in changes}
    query.update({k: v for k, v in changes.items() if v})
    return "?" + urlencode(query) if query else "?"


@settings_required
def audit_trail(request: HttpRequest) -> HttpResponse:
    """Who changed which setting, when, before → after; newest first, keyset by id."""
    from rapport.web import display

    params = request.GET
    error, status = "", 200
    try:
        entries, next_cursor = audit.audit_page(params)
    except QueryError as exc:
        entries, next_cursor, error, status = [], None, f"{exc.param}: {exc.message}", 400
    items = [{"entry": e, "when": display.local_datetime(e.occurred_at), **audit.describe(e)} for e in entries]
    context = {
        "items": items,
        "error": error,
        "kinds": list(audit.KINDS.items()),
        "kind": params.get("kind", ""),
        "actor": params.get("actor", ""),
        "actors": User.objects.order_by("first_name", "last_name", "username"),
        "next_url": _page_url(params, cursor=next_cursor) if next_cursor else "",
        "first_url": _page_url(params, cursor=None) if params.get("cursor") else "",
    }
    return render(request, "settings/audit.html", context, status=status)


# --- API tokens (every user, their own) ----------------------------------------------------
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    raw_token = None
    if request.method == "POST" and form.is_valid():
        token, raw_token = services.issue_token(
            request.user,  # type: ignore[arg-type]
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            days=form.cleaned_data["days"],
        )
        messages.success(request, f"Token {token.name} created. Copy it now: it will not be shown again.")
        form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user.pk).order_by("-created_at")
    return render(request, "settings/tokens.html", {"tokens": tokens, "form": form, "raw_token": raw_token})


@require_POST
@login_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user.pk)
    services.revoke_token(token, actor=request.user)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("settings-tokens")
