"""Pages: the forecast, and the exchange-rate and quota settings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework import serializers

from rapport.accounts.models import User
from rapport.api.errors import flatten
from rapport.core import formatting
from rapport.core.listing import QueryError
from rapport.web.common import error_page, object_page, page, settings_required

from .. import forecast, services
from ..models import ExchangeRate, Quota
from ..money import base_currency
from ..serializers import ExchangeRateSerializer, QuotaSerializer


def amount_text(value: Decimal | None, currency: str | None = None) -> str:
    """In the viewer's locale: with the currency's symbol when given (``€1,234.50``)."""
    if value is None:
        return ""
    return formatting.money(value, currency) if currency else formatting.number(value, 2)


# --- forecast ------------------------------------------------------------------------------------
@page
def forecast_page(request: HttpRequest) -> HttpResponse:
    try:
        period = forecast.parse_period(request.GET.get("period"))
        scope = forecast.parse_scope(request.GET.get("scope"), request.user)
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/forecast/")
    result = forecast.compute(request.user, period, scope)

    def shown(row: forecast.Row) -> dict[str, Any]:
        links = result.links(row)
        return {
            "name": row.name,
            "cells": [
                {
                    "figure": f,
                    "text": amount_text(row.figures[f], result.base_currency),
                    "count": row.counts[f],
                    "url": links[f],
                }
                for f in forecast.FIGURES
            ],
            "quota": amount_text(row.quota, result.base_currency),
            "attainment": row.attainment,
            "unconverted": row.unconverted,
        }

    chart = {
        "labels": [r.name for r in result.rows],
        "currency": result.base_currency,
        "series": {
            f: [float(r.figures[f]) for r in result.rows] for f in ("closed_won", "commit", "best_case", "pipeline")
        },
        "labels_by_series": {f: forecast.FIGURE_LABELS[f] for f in forecast.FIGURES},
        "quota": [float(r.quota) if r.quota is not None else None for r in result.rows],
    }
    scope_key = scope.key
    choices = forecast.scope_choices(request.user)
    if scope_key not in dict(choices):
        choices.append((scope_key, scope.label))
    return render(
        request,
        "forecasting/forecast.html",
        {
            "result": result,
            "rows": [shown(r) for r in result.rows],
            "total": shown(result.total),
            "figure_labels": [forecast.FIGURE_LABELS[f] for f in forecast.FIGURES],
            "chart": chart,
            "period": period,
            "previous": period.shifted(-1),
            "next": period.shifted(1),
            "switch": period.other_kind(),
            "current": forecast.make_period(period.kind, timezone.localdate()),
            "scope_choices": choices,
            "scope": scope,
        },
    )


# --- settings: shared form plumbing ---------------------------------------------------------------
def _validate(form: forms.Form, serializer_class: type[serializers.Serializer]) -> dict[str, Any] | None:
    """Run the API's serializer on a valid form, so the page and the API share one validator."""
    if not form.is_valid():
        return None
    data = {k: v for k, v in form.cleaned_data.items()}
    if "user" in data and data["user"] is not None:
        data["user"] = data["user"].pk
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    for name, errors in flatten(serializer.errors).items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)
    return None


# --- exchange rates ------------------------------------------------------------------------------
class RateForm(forms.Form):
    currency = forms.CharField(max_length=3, help_text="ISO 4217 code, such as EUR.")
    rate = forms.DecimalField(max_digits=18, decimal_places=8, help_text="Units of the base currency for one unit.")
    valid_from = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="In force from this day.")


@settings_required
def rate_list(request: HttpRequest) -> HttpResponse:
    form = RateForm(request.POST or None)
    if request.method == "POST":
        data = _validate(form, ExchangeRateSerializer)
        if data is not None:
            try:
                rate = services.add_exchange_rate(data, actor=request.user)
            except serializers.ValidationError as exc:
                for name, errors in flatten(exc.detail).items():
                    form.add_error(name or None, errors)
            else:
                messages.success(request, f"Rate for {rate.currency} from {rate.valid_from} added.")
                return redirect("settings-rates")
    currencies = list(ExchangeRate.objects.order_by("currency").values_list("currency", flat=True).distinct())
    qs = ExchangeRate.objects.all()
    currency = request.GET.get("currency", "")
    if currency:
        if currency not in currencies:
            return error_page(request, f"currency: there are no rates for {currency[:10]!r}.", back="/settings/rates/")
        qs = qs.filter(currency=currency)
    try:
        pg = object_page(request, qs, "valid_from")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/settings/rates/")
    # The rate in force today per currency on this page: the latest that has started.
    today = timezone.localdate()
    started = (
        ExchangeRate.objects.filter(currency__in={r.currency for r in pg.objects}, valid_from__lte=today)
        .values("currency")
        .annotate(day=Max("valid_from"))
    )
    in_force = {row["currency"]: row["day"] for row in started}
    rows = [{"rate": r, "in_force": in_force.get(r.currency) == r.valid_from} for r in pg.objects]
    status = 400 if form.errors else 200
    return render(
        request,
        "forecasting/rates.html",
        {
            "form": form,
            "rows": rows,
            "currencies": currencies,
            "currency": currency,
            "pager": pg,
            "base": base_currency(),
            "status": status,
        },
        status=status,
    )


@require_POST
@settings_required
def rate_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rate = get_object_or_404(ExchangeRate, pk=pk)
    services.delete_exchange_rate(rate, actor=request.user)
    messages.success(request, f"Rate for {rate.currency} from {rate.valid_from} deleted.")
    return redirect("settings-rates")


# --- quotas --------------------------------------------------------------------------------------
class QuotaForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("first_name", "username"))
    period = forms.ChoiceField(choices=[("quarter", "Quarter"), ("month", "Month")])
    period_start = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="First day of the month, or of the quarter (1 Jan, 1 Apr, 1 Jul, 1 Oct).",
    )
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["user"].label_from_instance = lambda u: u.display_name  # type: ignore[attr-defined]
        self.fields["amount"].help_text = f"In the base currency ({base_currency()}). Saving again changes it."


@settings_required
def quota_list(request: HttpRequest) -> HttpResponse:
    form = QuotaForm(request.POST or None)
    if request.method == "POST":
        data = _validate(form, QuotaSerializer)
        if data is not None:
            quota = services.set_quota(data, actor=request.user)
            messages.success(request, f"Quota of {quota.user.display_name} saved.")
            return redirect("settings-quotas")
    try:
        pg = object_page(request, Quota.objects.select_related("user"), "period_start")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/settings/quotas/")
    rows = [
        {"quota": q, "label": forecast.make_period(q.period, q.period_start).label, "amount": amount_text(q.amount)}
        for q in pg.objects
    ]
    return render(
        request,
        "forecasting/quotas.html",
        {"form": form, "rows": rows, "pager": pg, "base": base_currency()},
        status=400 if form.errors else 200,
    )


@require_POST
@settings_required
def quota_delete(request: HttpRequest, pk: int) -> HttpResponse:
    quota = get_object_or_404(Quota.objects.select_related("user"), pk=pk)
    services.delete_quota(quota, actor=request.user)
    messages.success(request, f"Quota of {quota.user.display_name} deleted.")
    return redirect("settings-quotas")
