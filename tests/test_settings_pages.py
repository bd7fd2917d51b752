"""Settings pages: access, users, teams, roles, custom fields and personal API tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from rapport.accounts.models import ApiToken, Role, Team, User, hash_token
from rapport.core import customfields
from rapport.core.models import CustomField

from .conftest import write

ADMIN_PAGES = [
    "/settings/",
    "/settings/users/",
    "/settings/users/new/",
    "/settings/teams/",
    "/settings/roles/",
    "/settings/fields/",
    "/settings/fields/people/",
    "/settings/fields/people/new/",
]


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin(users: dict[str, User]) -> Client:
    return client_for(users["admin"])


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_render(admin: Client, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 200
    assert "style=" not in response.content.decode()
    assert "<script>" not in response.content.decode()


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("role", ["manager", "member", "read-only"])
def test_non_admins_get_403(users: dict[str, User], path: str, role: str) -> None:
    assert client_for(users[role]).get(path).status_code == 403
    assert client_for(users[role]).post(path, {"name": "x"}).status_code == 403


def test_anonymous_is_sent_to_login(db: Any) -> None:
    response = Client().get("/settings/users/")
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=/settings/users/")
    assert Client().get("/settings/tokens/").status_code == 302


def test_superuser_without_role_may_manage(db: Any) -> None:
    root = User.objects.create_superuser("root", "r@example.com", "a long unusual passphrase")
    assert client_for(root).get("/settings/users/").status_code == 200


# --- users ----------------------------------------------------------------------------------
def test_user_list_query_count(admin: Client, users: Any, django_assert_max_num_queries: Any) -> None:
    for i in range(10):
        User.objects.create_user(f"extra{i}", role=Role.objects.get(key="member"), team=Team.objects.first())
    with django_assert_max_num_queries(8):
        response = admin.get("/settings/users/")
    assert b"extra9" in response.content


def test_create_user(admin: Client, teams: Any) -> None:
    response = admin.post(
        "/settings/users/new/",
        {
            "username": "grace",
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": "grace@example.com",
            "role": Role.objects.get(key="manager").pk,
            "team": teams["west"].pk,
            "time_zone": "Europe/Paris",
            "password1": "a long unusual passphrase",
            "password2": "a long unusual passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="grace")
    assert user.role.key == "manager" and user.team == teams["west"] and user.time_zone == "Europe/Paris"
    assert user.check_password("a long unusual passphrase")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password2": "something else entirely"}, "password2", "differ"),
        ({"username": "member"}, "username", "already exists"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not one of the available choices"),
        ({"role": ""}, "role", "required"),
    ],
)
def test_create_user_errors_name_the_field(
    admin: Client, users: Any, change: dict[str, str], field: str, message: str
) -> None:
    data = {
        "username": "newbie",
        "role": Role.objects.get(key="member").pk,
        "time_zone": "UTC",
        "password1": "a long unusual passphrase",
        "password2": "a long unusual passphrase",
        **change,
    }
    before = User.objects.count()
    response = admin.post("/settings/users/new/", data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert f'id="id_{field}_error"' in response.content.decode()
    assert User.objects.count() == before


def test_edit_user(admin: Client, users: Any, teams: Any) -> None:
    member = users["member"]
    response = admin.post(
        f"/settings/users/{member.pk}/",
        {
            "first_name": "Mem",
            "last_name": "Ber",
            "email": "m@example.com",
            "role": Role.objects.get(key="read-only").pk,
            "team": "",
            "time_zone": "Asia/Tokyo",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.first_name, member.role.key, member.team, member.time_zone) == (
        "Mem",
        "read-only",
        None,
        "Asia/Tokyo",
    )


def test_admin_cannot_remove_own_settings_access(admin: Client, users: Any) -> None:
    me = users["admin"]
    response = admin.post(f"/settings/users/{me.pk}/", {"role": Role.objects.get(key="member").pk, "time_zone": "UTC"})
    assert response.status_code == 200 and "role" in response.context["form"].errors
    me.refresh_from_db()
    assert me.role.key == "admin"


def test_deactivate_and_reactivate(admin: Client, users: Any) -> None:
    member = users["member"]
    member_client = client_for(member)
    assert admin.get(f"/settings/users/{member.pk}/deactivate/").status_code == 405
    response = admin.post(f"/settings/users/{member.pk}/deactivate/")
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert member_client.get("/").status_code == 302
    assert Session.objects.count() == 1  # the admin's own
    admin.post(f"/settings/users/{member.pk}/reactivate/")
    member.refresh_from_db()
    assert member.is_active


def test_cannot_deactivate_self(admin: Client, users: Any) -> None:
    response = admin.post(f"/settings/users/{users['admin'].pk}/deactivate/", follow=True)
    assert "You cannot deactivate yourself" in response.content.decode()
    users["admin"].refresh_from_db()
    assert users["admin"].is_active


def test_user_name_is_escaped(admin: Client, users: Any) -> None:
    users["peer"].first_name = "<script>alert(1)</script>"
    users["peer"].save()
    body = admin.get("/settings/users/").content.decode()
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)" in body


# --- teams ----------------------------------------------------------------------------------
def test_team_create_rename_delete(admin: Client, users: Any, teams: Any) -> None:
    assert admin.post("/settings/teams/", {"name": "North"}).status_code == 302
    north = Team.objects.get(name="North")
    response = admin.post("/settings/teams/", {"name": "North"})
    assert response.status_code == 200 and "name" in response.context["form"].errors
    assert admin.post(f"/settings/teams/{north.pk}/", {"name": "Nord"}).status_code == 302
    north.refresh_from_db()
    assert north.name == "Nord"
    assert admin.post(f"/settings/teams/{north.pk}/delete/").status_code == 302
    assert not Team.objects.filter(pk=north.pk).exists()


def test_team_with_members_asks_then_moves_them(admin: Client, users: Any, teams: Any) -> None:
    east = teams["east"]
    page = admin.get(f"/settings/teams/{east.pk}/delete/").content.decode()
    assert "Move members to no team" in page
    admin.post(f"/settings/teams/{east.pk}/delete/")
    assert not Team.objects.filter(pk=east.pk).exists()
    users["member"].refresh_from_db()
    assert users["member"].team is None


def test_team_list_query_count(admin: Client, teams: Any, django_assert_max_num_queries: Any) -> None:
    for i in range(10):
        Team.objects.create(name=f"T{i}")
    with django_assert_max_num_queries(7):
        assert admin.get("/settings/teams/").status_code == 200


# --- roles ----------------------------------------------------------------------------------
def test_role_matrix_shows_every_type_and_action(admin: Client) -> None:
    member = Role.objects.get(key="member")
    body = admin.get(f"/settings/roles/{member.pk}/").content.decode()
    for key in ("people", "companies"):
        for action in ("view", "add", "change", "delete", "export", "import"):
            assert f'name="{key}.{action}"' in body
    assert '<option value="own" selected>' in body  # member deletes own records


def test_role_matrix_saves_grants(admin: Client, users: Any) -> None:
    member_role = Role.objects.get(key="member")
    from rapport.core import registry

    keys = registry.keys()
    data = {f"{k}.{a}": "team" for k in keys for a in ("view", "add", "change", "delete")}
    data |= {f"{k}.{a}": "none" for k in keys for a in ("export", "import")}
    data["companies.view"] = "all"
    assert admin.post(f"/settings/roles/{member_role.pk}/", data).status_code == 302
    member = User.objects.get(pk=users["member"].pk)
    assert member.scope_for("companies", "view") == "all"
    assert member.scope_for("people", "export") is None
    assert member.scope_for("people", "delete") == "team"


def test_role_matrix_rejects_unknown_scope(admin: Client) -> None:
    role = Role.objects.get(key="member")
    before = dict(role.grants)
    response = admin.post(f"/settings/roles/{role.pk}/", {"people.view": "everything"})
    assert response.status_code == 200
    assert "People · view: choose one of" in response.content.decode()
    role.refresh_from_db()
    assert role.grants == before


# --- custom fields -------------------------------------------------------------------------
def add_field(admin: Client, type_key: str = "people", **data: Any) -> Any:
    payload = {"key": "tier", "label": "Tier", "field_type": "text", "position": 0, **data}
    return admin.post(f"/settings/fields/{type_key}/new/", payload)


@pytest.mark.parametrize("field_type", [t for t, _ in CustomField.TYPES])
def test_every_custom_field_type_can_be_added(admin: Client, field_type: str) -> None:
    extra = {}
    if field_type in ("choice", "multi_choice"):
        extra["choices_text"] = "Gold\n Silver \n\nGold\nBronze"
    if field_type == "reference":
        extra["reference_type"] = "companies"
    response = add_field(admin, field_type=field_type, **extra)
    assert response.status_code == 302, response.context["form"].errors
    field = CustomField.objects.get(record_type="people", key="tier")
    assert field.field_type == field_type
    if field_type in ("choice", "multi_choice"):
        assert field.choices == ["Gold", "Silver", "Bronze"]
    else:
        assert field.choices == []
    assert field.reference_type == ("companies" if field_type == "reference" else "")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"key": "Tier"}, "key", "lower-case"),
        ({"key": "1tier"}, "key", "lower-case"),
        ({"key": "ti-er"}, "key", "lower-case"),
        ({"field_type": "choice"}, "choices_text", "at least one choice"),
        ({"field_type": "reference"}, "reference_type", "Choose the record type"),
        ({"field_type": "reference", "reference_type": "aliens"}, "reference_type", "not one of"),
        ({"field_type": "colour"}, "field_type", "not one of"),
        ({"label": ""}, "label", "required"),
    ],
)
def test_custom_field_errors_name_the_field(admin: Client, data: dict[str, str], field: str, message: str) -> None:
    response = add_field(admin, **data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not CustomField.objects.exists()


def test_custom_field_key_unique_per_type(admin: Client) -> None:
    assert add_field(admin).status_code == 302
    response = add_field(admin)
    assert "already has a field" in " ".join(response.context["form"].errors["key"])
    assert add_field(admin, "companies").status_code == 302  # same key on another type is fine


def test_custom_field_edit_and_type_change_refused_when_values_exist(admin: Client, users: Any) -> None:
    # Definitions first: on PostgreSQL their expression index cannot be built in a transaction
    # that already wrote records (pending deferred constraint triggers).
    add_field(admin)
    field = CustomField.objects.get(key="tier")
    url = f"/settings/fields/people/{field.pk}/"
    assert admin.post(url, {"key": "other", "label": "Level", "field_type": "number", "position": 1}).status_code == 302
    field.refresh_from_db()
    assert (field.key, field.label, field.field_type) == ("tier", "Level", "number")  # key is fixed
    write("people", {"first_name": "Ada", "custom": {"tier": 3}}, actor=users["member"])
    response = admin.post(url, {"label": "Level", "field_type": "text", "position": 1})
    assert response.status_code == 200
    assert "cannot change" in " ".join(response.context["form"].errors["field_type"])
    field.refresh_from_db()
    assert field.field_type == "number"


def test_custom_field_delete(admin: Client) -> None:
    add_field(admin)
    field = CustomField.objects.get(key="tier")
    assert admin.get(f"/settings/fields/people/{field.pk}/delete/").status_code == 200
    assert admin.post(f"/settings/fields/people/{field.pk}/delete/").status_code == 302
    assert customfields.definitions("people") == []


def test_custom_field_unknown_type_or_wrong_type_is_404(admin: Client) -> None:
    add_field(admin)
    field = CustomField.objects.get(key="tier")
    assert admin.get("/settings/fields/aliens/").status_code == 404
    assert admin.get(f"/settings/fields/companies/{field.pk}/").status_code == 404


def test_custom_field_label_is_escaped(admin: Client) -> None:
    add_field(admin, label="<b>bold</b>")
    body = admin.get("/settings/fields/people/").content.decode()
    assert "<b>bold</b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body


# --- API tokens ----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["admin", "member", "read-only"])
def test_every_user_manages_own_tokens(users: Any, role: str) -> None:
    client = client_for(users[role])
    response = client.post("/settings/tokens/", {"name": "Zapier", "scope": "read", "days": "30"})
    assert response.status_code == 200
    raw = response.context["raw_token"]
    assert raw and raw in response.content.decode()
    token = ApiToken.objects.get(user=users[role])
    assert token.digest == hash_token(raw) and token.scope == "read" and token.expires_at is not None
    page = client.get("/settings/tokens/").content.decode()
    assert "Zapier" in page and raw not in page  # shown once only


def test_token_without_expiry_and_errors(users: Any) -> None:
    client = client_for(users["member"])
    response = client.post("/settings/tokens/", {"name": "", "scope": "admin", "days": "0"})
    errors = response.context["form"].errors
    assert set(errors) == {"name", "scope", "days"}
    assert not ApiToken.objects.exists()
    client.post("/settings/tokens/", {"name": "CLI", "scope": "read-write", "days": ""})
    assert ApiToken.objects.get().expires_at is None


def test_revoke_own_token_only(users: Any) -> None:
    mine, _ = ApiToken.issue(users["member"], name="mine", scope="read")
    theirs, _ = ApiToken.issue(users["peer"], name="theirs", scope="read")
    client = client_for(users["member"])
    assert client.post(f"/settings/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/settings/tokens/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and not mine.is_usable and theirs.revoked_at is None
    page = client.get("/settings/tokens/").content.decode()
    assert "theirs" not in page and "Revoked" in page


def test_token_list_query_count(users: Any, django_assert_max_num_queries: Any) -> None:
    for i in range(10):
        ApiToken.issue(users["member"], name=f"t{i}", scope="read")
    client = client_for(users["member"])
    with django_assert_max_num_queries(6):
        assert client.get("/settings/tokens/").status_code == 200
