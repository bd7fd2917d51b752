"""Settings endpoints share one rule (rapport.api.views.SettingsAPIView): anyone signed in reads, only
settings managers write. Checked over every endpoint built on it, found from the URLconf, so a new
settings endpoint is covered the day it is added."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from rapport.api.views import SettingsAPIView
from rapport.automation import services as automation
from rapport.core.models import Event
from rapport.deals.models import Pipeline, Stage
from rapport.forecasting.models import ExchangeRate, Quota

UNSAFE = ("post", "put", "patch", "delete")


def settings_endpoints() -> list[tuple[str, type, str]]:
    """(route, view class, method) for every unsafe method of every SettingsAPIView in the URLconf."""
    found: list[tuple[str, type, str]] = []

    def walk(patterns: Any, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                view = getattr(p.callback, "view_class", None)
                if view is not None and issubclass(view, SettingsAPIView):
                    found.extend((prefix + str(p.pattern), view, m) for m in UNSAFE if hasattr(view, m))

    walk(get_resolver().url_patterns, "/")
    return found


def test_the_settings_endpoints_are_found():
    routes = {(route, method) for route, _, method in settings_endpoints()}
    assert ("/api/v1/pipelines/", "post") in routes
    assert ("/api/v1/stages/<int:pk>/", "patch") in routes
    assert ("/api/v1/exchange-rates/<int:pk>/", "delete") in routes
    assert ("/api/v1/quotas/", "post") in routes


@pytest.mark.parametrize(("route", "view", "method"), settings_endpoints(), ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("role", ["manager", "member", "read-only"])
def test_only_settings_managers_write(users, api_client_for, route, view, method, role):
    pipeline = Pipeline.objects.first()
    stage = Stage.objects.first()
    rate = ExchangeRate.objects.create(currency="EUR", rate="1.1", valid_from="2026-01-01")
    quota = Quota.objects.create(user=users[role], period="month", period_start="2026-01-01", amount="1")
    rule = automation.create_rule(
        {"name": "Kept", "type_key": "people", "trigger": "created",
         "actions": [{"type": "add_tags", "params": {"tags": ["x"]}}]},
        actor=users["admin"],
    )  # fmt: skip
    pk = {"pipelines": pipeline.pk, "stages": stage.pk, "exchange-rates": rate.pk, "quotas": quota.pk, "rules": rule.pk}
    url = route.replace("<int:pk>", str(next(v for k, v in pk.items() if f"/{k}/" in route)))
    before = (Pipeline.objects.count(), Stage.objects.count(), ExchangeRate.objects.count(), Quota.objects.count())
    events = Event.objects.count()
    client = api_client_for(users[role])
    body = {"name": "Sneaky", "currency": "GBP", "rate": "2", "valid_from": "2026-02-01"}
    response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code == 403, (url, method, response.content)
    assert "Only administrators can change" in response.json()["message"]
    after = (Pipeline.objects.count(), Stage.objects.count(), ExchangeRate.objects.count(), Quota.objects.count())
    assert after == before and Event.objects.count() == events
    assert Pipeline.objects.get(pk=pipeline.pk).name == pipeline.name
    assert automation.Rule.objects.get(pk=rule.pk).name == "Kept"
