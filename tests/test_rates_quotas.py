"""Exchange-rate and quota settings: pages and API, permissions and validation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from rapport.accounts.models import ApiToken
from rapport.forecasting.models import ExchangeRate, Quota

# --- exchange rates: API ---------------------------------------------------------------------------


def test_any_user_reads_rates_with_the_base_currency(users, api_client_for):
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.08"), valid_from=dt.date(2026, 1, 1))
    body = api_client_for(users["read-only"]).get("/api/v1/exchange-rates/").json()
    assert body["base_currency"] == "USD"
    assert body["results"][0]["currency"] == "EUR" and body["results"][0]["rate"] == "1.08000000"
    assert api_client_for(users["member"]).get("/api/v1/exchange-rates/?currency=gbp").json()["results"] == []


def test_anonymous_gets_401_or_403(db, client):
    assert client.get("/api/v1/exchange-rates/").status_code in (401, 403)
    assert client.get("/api/v1/forecast/").status_code in (401, 403)


def test_admin_adds_and_deletes_a_rate(users, api_client_for):
    client = api_client_for(users["admin"])
    response = client.post(
        "/api/v1/exchange-rates/",
        {"currency": "eur", "rate": "1.0825", "valid_from": "2026-03-01"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["currency"] == "EUR" and Decimal(body["rate"]) == Decimal("1.0825")
    rate = ExchangeRate.objects.get()
    assert rate.valid_from == dt.date(2026, 3, 1)
    assert client.delete(f"/api/v1/exchange-rates/{rate.pk}/").status_code == 204
    assert not ExchangeRate.objects.exists()
    assert client.delete(f"/api/v1/exchange-rates/{rate.pk}/").status_code == 404


@pytest.mark.parametrize("role", ["manager", "member", "read-only"])
def test_only_settings_managers_write_rates(users, api_client_for, role):
    rate = ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.1"), valid_from=dt.date(2026, 1, 1))
    client = api_client_for(users[role])
    response = client.post(
        "/api/v1/exchange-rates/",
        {"currency": "GBP", "rate": "1.3", "valid_from": "2026-01-01"},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert client.delete(f"/api/v1/exchange-rates/{rate.pk}/").status_code == 403
    assert ExchangeRate.objects.count() == 1


def test_read_only_token_cannot_write_rates(users, api_client_for):
    client = api_client_for(users["admin"], scope=ApiToken.SCOPE_READ)
    response = client.post(
        "/api/v1/exchange-rates/",
        {"currency": "GBP", "rate": "1.3", "valid_from": "2026-01-01"},
        content_type="application/json",
    )
    assert response.status_code == 403 and not ExchangeRate.objects.exists()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"currency": "EURO", "rate": "1.1", "valid_from": "2026-01-01"}, "currency"),
        ({"currency": "E1R", "rate": "1.1", "valid_from": "2026-01-01"}, "currency"),
        ({"currency": "USD", "rate": "1.1", "valid_from": "2026-01-01"}, "currency"),
        ({"currency": "EUR", "rate": "0", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "EUR", "rate": "-2", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "EUR", "rate": "abc", "valid_from": "2026-01-01"}, "rate"),
        ({"currency": "EUR", "rate": "1.1", "valid_from": "2026-02-30"}, "valid_from"),
        ({"currency": "EUR", "rate": "1.1"}, "valid_from"),
        ({"currency": "EUR", "rate": "1.2", "valid_from": "2025-12-31"}, "valid_from"),  # same day exists
    ],
)
def test_bad_rates_are_refused_naming_the_field(users, api_client_for, data, field):
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.1"), valid_from=dt.date(2025, 12, 31))
    response = api_client_for(users["admin"]).post("/api/v1/exchange-rates/", data, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert ExchangeRate.objects.count() == 1


# --- exchange rates: page --------------------------------------------------------------------------


def test_rates_page_lists_adds_refuses_a_duplicate_day_and_deletes(users, client):
    client.force_login(users["admin"])
    page = client.get("/settings/rates/")
    assert page.status_code == 200 and "Base currency: <strong>USD</strong>" in page.content.decode()
    response = client.post("/settings/rates/", {"currency": "gbp", "rate": "1.27", "valid_from": "2026-01-01"})
    assert response.status_code == 302
    html = client.get("/settings/rates/").content.decode()
    assert "GBP" in html and "1.27" in html and "In force" in html
    again = client.post("/settings/rates/", {"currency": "GBP", "rate": "1.3", "valid_from": "2026-01-01"})
    assert again.status_code == 400
    assert "GBP already has a rate from 2026-01-01" in again.content.decode()
    assert ExchangeRate.objects.count() == 1
    bad = client.post("/settings/rates/", {"currency": "GBP", "rate": "-1", "valid_from": "2026-02-01"})
    assert bad.status_code == 400 and "greater than 0" in bad.content.decode()
    rate = ExchangeRate.objects.get()
    assert client.post(f"/settings/rates/{rate.pk}/delete/").status_code == 302
    assert not ExchangeRate.objects.exists()


@pytest.mark.parametrize("role", ["manager", "member", "read-only"])
def test_rates_and_quotas_pages_are_for_settings_managers(users, client, role):
    rate = ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.1"), valid_from=dt.date(2026, 1, 1))
    client.force_login(users[role])
    assert client.get("/settings/rates/").status_code == 403
    assert client.get("/settings/quotas/").status_code == 403
    assert (
        client.post("/settings/rates/", {"currency": "GBP", "rate": "1", "valid_from": "2026-01-01"}).status_code == 403
    )
    assert client.post(f"/settings/rates/{rate.pk}/delete/").status_code == 403
    assert ExchangeRate.objects.count() == 1


def test_rate_values_are_escaped_on_the_page(users, client):
    client.force_login(users["admin"])
    response = client.post("/settings/rates/", {"currency": "<b>", "rate": "1", "valid_from": "2026-01-01"})
    assert response.status_code == 400 and "<b>" not in response.content.decode().split("<main")[1]


# --- quotas ----------------------------------------------------------------------------------------


def quota_payload(who: Any, **extra: Any) -> dict[str, Any]:
    return {"user": who.pk, "period": "quarter", "period_start": "2026-10-01", "amount": "50000", **extra}


def test_admin_sets_a_quota_and_setting_it_again_changes_the_amount(users, api_client_for):
    client = api_client_for(users["admin"])
    first = client.post("/api/v1/quotas/", quota_payload(users["member"]), content_type="application/json")
    assert first.status_code == 201, first.content
    assert first.json()["amount"] == "50000.00" and first.json()["currency"] == "USD"
    again = client.post(
        "/api/v1/quotas/", quota_payload(users["member"], amount="60000"), content_type="application/json"
    )
    assert again.status_code == 201 and Quota.objects.get().amount == Decimal("60000.00")


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"period": "year"}, "period"),
        ({"period_start": "2026-11-01"}, "period_start"),  # not a quarter start
        ({"period_start": "2026-10-02"}, "period_start"),
        ({"period": "month", "period_start": "2026-11-15"}, "period_start"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"user": 999999}, "user"),
    ],
)
def test_bad_quotas_are_refused_naming_the_field(users, api_client_for, extra, field):
    response = api_client_for(users["admin"]).post(
        "/api/v1/quotas/", quota_payload(users["member"], **extra), content_type="application/json"
    )
    assert response.status_code == 400 and field in response.json()["fields"]
    assert not Quota.objects.exists()


def test_members_read_their_own_quotas_and_admins_everyones(users, api_client_for):
    mine = Quota.objects.create(
        user=users["member"], period="month", period_start=dt.date(2026, 11, 1), amount=Decimal("1000")
    )
    theirs = Quota.objects.create(
        user=users["peer"], period="month", period_start=dt.date(2026, 11, 1), amount=Decimal("2000")
    )
    member = api_client_for(users["member"])
    assert [q["id"] for q in member.get("/api/v1/quotas/").json()["results"]] == [mine.pk]
    assert member.get(f"/api/v1/quotas/{theirs.pk}/").status_code == 404
    assert member.get(f"/api/v1/quotas/{mine.pk}/").status_code == 200
    assert member.delete(f"/api/v1/quotas/{mine.pk}/").status_code == 403
    assert (
        member.post("/api/v1/quotas/", quota_payload(users["member"]), content_type="application/json").status_code
        == 403
    )
    admin = api_client_for(users["admin"])
    assert len(admin.get("/api/v1/quotas/").json()["results"]) == 2
    assert [q["id"] for q in admin.get(f"/api/v1/quotas/?user={users['peer'].pk}").json()["results"]] == [theirs.pk]
    assert admin.get("/api/v1/quotas/?period=year").status_code == 400
    assert admin.delete(f"/api/v1/quotas/{theirs.pk}/").status_code == 204
    assert Quota.objects.count() == 1


def test_quotas_page_sets_validates_and_deletes(users, client):
    client.force_login(users["admin"])
    assert client.get("/settings/quotas/").status_code == 200
    bad = client.post(
        "/settings/quotas/",
        {"user": users["member"].pk, "period": "quarter", "period_start": "2026-11-01", "amount": "100"},
    )
    assert bad.status_code == 400 and "1 January, 1 April, 1 July or 1 October" in bad.content.decode()
    ok = client.post(
        "/settings/quotas/",
        {"user": users["member"].pk, "period": "quarter", "period_start": "2026-10-01", "amount": "125000"},
    )
    assert ok.status_code == 302
    html = client.get("/settings/quotas/").content.decode()
    assert "Q4 2026" in html and "125,000.00" in html and "Member" in html
    quota = Quota.objects.get()
    assert client.post(f"/settings/quotas/{quota.pk}/delete/").status_code == 302
    assert not Quota.objects.exists()


def test_schema_documents_the_endpoints(users, client):
    client.force_login(users["admin"])
    schema = client.get("/api/schema/?format=yaml").content.decode()
    for path in ("/api/v1/exchange-rates/:", "/api/v1/quotas/:", "/api/v1/forecast/:", "/api/v1/quotas/{id}/:"):
        assert path in schema


def test_rate_and_quota_lists_page_by_cursor_instead_of_stopping_silently(users, api_client_for):
    from rapport.forecasting import services as money_services

    admin = users["admin"]
    for month in range(1, 6):
        money_services.add_exchange_rate(
            {"currency": "EUR", "rate": Decimal("1.1"), "valid_from": dt.date(2025, month, 1)}, actor=admin
        )
        money_services.set_quota(
            {"user": users["member"], "period": "month", "period_start": dt.date(2025, month, 1), "amount": Decimal(1)},
            actor=admin,
        )
    client = api_client_for(admin)
    for path, key in (
        ("/api/v1/exchange-rates/?currency=eur&page_size=2", "valid_from"),
        ("/api/v1/quotas/?page_size=2", "period_start"),
    ):
        seen, url = [], path
        while url:
            body = client.get(url).json()
            assert len(body["results"]) <= 2
            seen += [row[key] for row in body["results"]]
            url = body["next"]
        # newest first, all five months, none twice
        assert seen == ["2025-05-01", "2025-04-01", "2025-03-01", "2025-02-01", "2025-01-01"]
    assert client.get("/api/v1/quotas/?cursor=nonsense").status_code == 400
