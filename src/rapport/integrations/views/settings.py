"""/settings/integrations/: integrations (list, form, new secret shown once, on/off, delete) and each one's
received deliveries with their outcome (keyset pages). Settings managers only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.accounts.models import Role
from rapport.api.errors import flatten
from rapport.core.listing import QueryError
from rapport.web.common import error_page, object_page, settings_required

from .. import queries, services
from ..models import KINDS, Integration
from ..serializers import IntegrationSerializer

STATES = {"all": "All", "processed": "Processed", "failed": "Failed", "ignored": "Ignored"}
SECRET_KEY = "integration_secret"  # the session key holding a new secret until its page shows it once


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=KINDS, label="Kind", help_text="What the sender posts and how it becomes records.")
    role = forms.ModelChoiceField(
        queryset=Role.objects.all(),
        required=False,
        label="Service user's role",
        help_text="What the integration may see and write. Administrator when left empty.",
    )
    active = forms.BooleanField(required=False, initial=True, label="Active (accepts deliveries)")
    create_unknown_callers = forms.BooleanField(
        required=False, label="Telephony: create a lead for a number nobody has"
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:  # the kind and the service user are fixed once made
            del self.fields["kind"]
            del self.fields["role"]


def _validated(form: IntegrationForm, *, partial: bool, instance: Integration | None) -> dict[str, Any] | None:
    if not form.is_valid():
        return None
    data = {k: v for k, v in form.cleaned_data.items() if not (k == "role" and v is None)}
    if "role" in data:
        data["role"] = data["role"].pk
    serializer = IntegrationSerializer(data=data, partial=partial, context={"instance": instance})
    if serializer.is_valid():
        return dict(serializer.validated_data)
    for name, errors in flatten(serializer.errors).items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    return None


@settings_required
def integration_list(request: HttpRequest) -> HttpResponse:
    return render(request, "integrations/list.html", {"rows": list(queries.integrations()), "kinds": dict(KINDS)})


@settings_required
def integration_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk) if pk else None
    initial = {}
    if integration is not None:
        initial = {k: getattr(integration, k) for k in ("name", "active", "create_unknown_callers")}
    form = IntegrationForm(request.POST or None, initial=initial or None, editing=integration is not None)
    if request.method == "POST":
        data = _validated(form, partial=integration is not None, instance=integration)
        if data is not None:
            if integration is None:
                integration, secret = services.create_integration(data, actor=request.user)
                request.session[SECRET_KEY] = {"id": integration.pk, "secret": secret}
                messages.success(request, f"Integration {integration.name} created.")
            else:
                services.update_integration(integration, data, actor=request.user)
                messages.success(request, f"Integration {integration.name} saved.")
            return redirect("settings-integration", pk=integration.pk)
    return render(request, "integrations/form.html", {"form": form, "integration": integration})


@settings_required
def integration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(queries.integrations(), pk=pk)
    state = request.GET.get("state", "all")
    if state not in STATES:
        state = "all"
    rows = queries.deliveries_of(integration)
    if state != "all":
        rows = rows.filter(status=state)
    try:
        pg = object_page(request, rows, "id")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=reverse("settings-integration", args=[pk]))
    shown = request.session.get(SECRET_KEY)
    secret = ""
    if isinstance(shown, dict) and shown.get("id") == integration.pk:
        secret = str(shown.get("secret", ""))
        del request.session[SECRET_KEY]  # shown once
    context = {
        "integration": integration,
        "secret": secret,
        "inbound_url": request.build_absolute_uri(integration.inbound_path),
        "kind_label": dict(KINDS)[integration.kind],
        "kind_help": services.KIND_HELP[integration.kind],
        "rows": pg.objects,
        "pager": pg,
        "state": state,
        "states": list(STATES.items()),
    }
    return render(request, "integrations/detail.html", context)


@require_POST
@settings_required
def integration_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration, pk=pk)
    secret = services.rotate_secret(integration, actor=request.user)
    request.session[SECRET_KEY] = {"id": integration.pk, "secret": secret}
    messages.success(request, "New secret made. The old one is accepted for 24 hours, while the sender switches.")
    return redirect("settings-integration", pk=pk)


@require_POST
@settings_required
def integration_delete(request: HttpRequest, pk: int) -> HttpResponse:
    integration = get_object_or_404(Integration.objects.select_related("service_user"), pk=pk)
    services.delete_integration(integration, actor=request.user)
    messages.success(request, f"Integration {integration.name} deleted with its delivery log.")
    return redirect("settings-integrations")
