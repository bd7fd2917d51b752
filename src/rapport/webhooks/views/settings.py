"""/settings/webhooks/: subscriptions (list, form, test send, secret), each one's delivery log (keyset pages)
and a delivery's payload and attempts, with redelivery by hand. Settings managers only."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.api.errors import flatten
from rapport.core import registry
from rapport.core.listing import QueryError
from rapport.web.common import error_page, object_page, settings_required

from .. import queries, services
from ..models import EVENT_TYPES, Delivery, Subscription
from ..serializers import SubscriptionSerializer

STATES = {"all": "All", "pending": "Pending", "failed": "Failed", "succeeded": "Succeeded"}


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(
        max_length=2048, label="URL", help_text="Where Rapport posts the events: an https:// address of the receiver."
    )
    event_types = forms.MultipleChoiceField(
        choices=EVENT_TYPES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Events",
        help_text="None ticked: every event.",
    )
    type_keys = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Record types",
        help_text="None ticked: every record type.",
    )
    active = forms.BooleanField(required=False, initial=True, label="Active (sends deliveries)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type_keys: Any = self.fields["type_keys"]
        type_keys.choices = [(t.key, t.label_plural) for t in registry.all_types()]


def _validated(form: SubscriptionForm) -> dict[str, Any] | None:
    if not form.is_valid():
        return None
    serializer = SubscriptionSerializer(data=dict(form.cleaned_data))
    if serializer.is_valid():
        return dict(serializer.validated_data)
    for name, errors in flatten(serializer.errors).items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    return None


@settings_required
def subscription_list(request: HttpRequest) -> HttpResponse:
    rows = list(queries.subscriptions())
    return render(request, "webhooks/subscriptions.html", {"rows": rows})


@settings_required
def subscription_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk) if pk else None
    initial = {}
    if subscription is not None:
        initial = {k: getattr(subscription, k) for k in ("name", "url", "event_types", "type_keys", "active")}
    form = SubscriptionForm(request.POST or None, initial=initial or None)
    if request.method == "POST":
        data = _validated(form)
        if data is not None:
            if subscription is None:
                subscription = services.create_subscription(data, actor=request.user)
                messages.success(request, f"Webhook {subscription.name} created. Send a test to check the receiver.")
            else:
                services.update_subscription(subscription, data, actor=request.user)
                messages.success(request, f"Webhook {subscription.name} saved.")
            return redirect("settings-webhook", pk=subscription.pk)
    return render(request, "webhooks/subscription_form.html", {"form": form, "subscription": subscription})


@settings_required
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription.objects.select_related("created_by"), pk=pk)
    state = request.GET.get("state", "all")
    if state not in STATES:
        state = "all"
    rows = queries.deliveries_of(subscription)
    if state != "all":
        rows = rows.filter(status=state)
    try:
        pg = object_page(request, rows, "id")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=reverse("settings-webhook", args=[pk]))
    context = {
        "subscription": subscription,
        "rows": pg.objects,
        "pager": pg,
        "state": state,
        "states": list(STATES.items()),
        "event_names": [label for key, label in EVENT_TYPES if key in subscription.event_types],
    }
    return render(request, "webhooks/subscription.html", context)


@settings_required
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery.objects.select_related("subscription"), pk=pk)
    attempts = list(delivery.attempt_rows.order_by("id"))
    return render(
        request,
        "webhooks/delivery.html",
        {
            "delivery": delivery,
            "attempts": attempts,
            "body": json.dumps(delivery.payload, indent=2, ensure_ascii=False),
        },
    )


@require_POST
@settings_required
def subscription_test(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    services.send_test(subscription, actor=request.user)
    messages.success(request, "A test event (ping) is on its way; it shows in the log below within seconds.")
    return redirect("settings-webhook", pk=pk)


@require_POST
@settings_required
def subscription_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    services.rotate_secret(subscription, actor=request.user)
    messages.success(request, "New secret made: give it to the receiver; deliveries are signed with it from now on.")
    return redirect("settings-webhook", pk=pk)


@require_POST
@settings_required
def subscription_delete(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = get_object_or_404(Subscription, pk=pk)
    services.delete_subscription(subscription, actor=request.user)
    messages.success(request, f"Webhook {subscription.name} deleted with its delivery log.")
    return redirect("settings-webhooks")


@require_POST
@settings_required
def delivery_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(Delivery, pk=pk)
    services.redeliver(delivery, actor=request.user)
    messages.success(request, "The delivery will be sent again within seconds.")
    return redirect("settings-webhook-delivery", pk=pk)
