"""The product catalogue is the organisation's: every built-in role sees every product, on the
list and detail pages, the API and the export (where the role may export), and the deal's line
editor offers the same products the product pages show."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from rapport.accounts.models import Role

from .conftest import make_user, write
from .test_quotes import make_deal

ROLES = ["admin", "manager", "member", "read-only", "outsider"]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def catalogue(users):
    """Two products no East user owns: one by an administrator without a team, one by a West member."""
    boss = make_user("boss", "admin")
    seat = write(
        "products",
        {"name": "Cloud seat", "sku": "SEAT", "prices": [{"currency": "EUR", "unit_price": "220"}]},
        actor=boss,
    )
    setup = write(
        "products",
        {"name": "Onboarding day", "sku": "ONB", "prices": [{"currency": "EUR", "unit_price": "1500"}]},
        actor=users["outsider"],
    )
    assert seat.team_id is None and setup.team_id == users["outsider"].team_id != users["member"].team_id
    return {"seat": seat, "setup": setup}


def test_the_migrations_leave_the_built_in_roles_seeing_the_catalogue(db):
    grants = {role.key: role.grants.get("products") for role in Role.objects.all()}
    assert grants == {
        "admin": None,  # everything, everywhere already
        "manager": {"view": "all", "export": "all"},
        "member": {"view": "all", "export": "all"},
        "read-only": {"view": "all"},
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_every_product(role, users, catalogue, api_client_for):
    user = users[role]
    seat, setup = catalogue["seat"], catalogue["setup"]
    pages = client_for(user)
    listing = pages.get("/products/").content.decode()
    assert "Cloud seat" in listing and "Onboarding day" in listing
    for product in (seat, setup):
        detail = pages.get(f"/products/{product.pk}/")
        assert detail.status_code == 200
        assert product.name in detail.content.decode()
    api = api_client_for(user)
    ids = sorted(row["id"] for row in api.get("/api/v1/products/").json()["results"])
    assert ids == sorted([seat.pk, setup.pk])
    assert api.get(f"/api/v1/products/{setup.pk}/").json()["name"] == "Onboarding day"
    found = {(h["type"], h["id"]) for h in api.get("/api/v1/search/", {"q": "Onboarding"}).json()["results"]}
    assert ("products", setup.pk) in found


@pytest.mark.parametrize(
    ("role", "exports"), [("admin", True), ("manager", True), ("member", True), ("read-only", False)]
)
def test_export_of_the_catalogue_follows_the_export_grant(role, exports, users, catalogue, api_client_for):
    response = api_client_for(users[role]).get("/api/v1/products/export/", {"format": "csv"})
    if not exports:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    ids = sorted(int(line.split(",")[0]) for line in text.splitlines()[1:])
    assert ids == sorted([catalogue["seat"].pk, catalogue["setup"].pk])


def test_seeing_the_catalogue_is_not_editing_it(users, catalogue, api_client_for):
    # A member sees the administrator's product but may not change or delete it, and is not offered to.
    seat = catalogue["seat"]
    api = api_client_for(users["member"])
    assert (
        api.patch(f"/api/v1/products/{seat.pk}/", {"name": "Mine now"}, content_type="application/json").status_code
        == 403
    )
    assert api.delete(f"/api/v1/products/{seat.pk}/").status_code == 403
    page = client_for(users["member"]).get(f"/products/{seat.pk}/").content.decode()
    assert f"/products/{seat.pk}/edit/" not in page and "Delete" not in page
    seat.refresh_from_db()
    assert seat.name == "Cloud seat" and seat.deleted_at is None


@pytest.mark.parametrize("role", ["member", "manager"])
def test_the_line_editor_offers_the_products_the_catalogue_shows(role, users, catalogue):
    deal = make_deal(users[role])
    c = client_for(users[role])
    page = c.get(f"/deals/{deal.pk}/line-items/").content.decode()
    # each line's product picker searches the catalogue, priced in the deal's currency
    assert 'data-type="products" data-query="currency=EUR"' in page
    offered = {
        r["label"]: r["data"]["note"]
        for q in ("cloud", "onboarding")
        for r in c.get(f"/autocomplete/?type=products&q={q}&currency=EUR").json()["results"]
    }
    assert offered == {"Cloud seat": "€220.00", "Onboarding day": "€1,500.00"}
