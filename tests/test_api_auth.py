"""Token authentication reads the token, its user and role on every request: a revoked or expired token,
a deactivated user and a changed role count from the very next request, even for a token the process has
just seen (api/auth.py reuses converted values of a row it read before, never the row itself)."""

from __future__ import annotations

import datetime as dt
import json

from django.test import Client
from django.utils import timezone

from rapport.accounts.models import ApiToken, Role, User, hash_token
from rapport.api import auth


def _client(raw: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_the_token_row_is_checked_on_every_request(users):
    member = users["member"]
    token, raw = ApiToken.issue(member, name="t", scope=ApiToken.SCOPE_WRITE)
    client = _client(raw)
    assert client.get("/api/v1/people/").status_code == 200
    assert client.get("/api/v1/people/").status_code == 200  # the same row again

    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/people/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=None, expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get("/api/v1/people/").status_code == 401
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + dt.timedelta(days=1))
    assert client.get("/api/v1/people/").status_code == 200
    User.objects.filter(pk=member.pk).update(is_active=False)
    assert client.get("/api/v1/people/").status_code == 401
    User.objects.filter(pk=member.pk).update(is_active=True)
    assert client.get("/api/v1/people/").status_code == 200


def test_a_changed_role_counts_on_the_next_request(users):
    member = users["member"]
    _, raw = ApiToken.issue(member, name="t", scope=ApiToken.SCOPE_WRITE)
    client = _client(raw)
    body = json.dumps({"first_name": "Ada"})
    assert client.post("/api/v1/people/", body, content_type="application/json").status_code == 201
    role = Role.objects.create(key="viewer", name="Viewer", grants={"*": {"view": "team"}})
    User.objects.filter(pk=member.pk).update(role=role)
    assert client.post("/api/v1/people/", body, content_type="application/json").status_code == 403
    assert client.get("/api/v1/people/").status_code == 200
    Role.objects.filter(pk=role.pk).update(grants={"*": {}})
    assert client.get("/api/v1/people/").json()["results"] == []  # nothing visible any more


def test_read_tokens_only_read(users):
    _, raw = ApiToken.issue(users["admin"], name="r", scope=ApiToken.SCOPE_READ)
    client = _client(raw)
    assert client.get("/api/v1/people/").status_code == 200
    refused = client.post("/api/v1/people/", json.dumps({"first_name": "X"}), content_type="application/json")
    assert refused.status_code == 403


def test_the_user_is_built_as_the_orm_builds_it(users, django_assert_num_queries):
    manager = users["manager"]
    token, raw = ApiToken.issue(manager, name="t", scope=ApiToken.SCOPE_READ)
    for _ in range(2):  # the second time from the converted values kept for this row
        with django_assert_num_queries(1):
            found_token, user = auth._lookup(hash_token(raw))
            assert found_token.user is user
            role = user.role  # cached with the row: no query
        loaded = User.objects.select_related("role").get(pk=manager.pk)
        for field in User._meta.concrete_fields:
            assert getattr(user, field.attname) == getattr(loaded, field.attname), field.name
        for field in ApiToken._meta.concrete_fields:
            assert getattr(found_token, field.attname) == getattr(token, field.attname), field.name
        assert role == loaded.role and role.grants == loaded.role.grants
        assert role.manage_settings is loaded.role.manage_settings is False  # a bool, as the ORM reads it
        assert not user._state.adding and user._state.db == "default"
        assert user.last_login is None or user.last_login.tzinfo is not None
        assert found_token.created_at == token.created_at and found_token.created_at.tzinfo is not None
        assert user.is_authenticated and user.scope_for("people", "view") == "team"
        role.grants["people"] = {"view": "all"}  # a view changing the grants in place changes only its copy
    assert auth._lookup(hash_token(raw))[1].role.grants == loaded.role.grants
    assert auth._lookup(hash_token("rap_unknown")) is None


def test_the_renderer_is_chosen_by_accept_as_before(users):
    """The kept negotiation (api.views.KeptNegotiation) answers as DRF's: JSON for */* or JSON, 406 for
    a type no renderer gives, each time it is asked."""
    import pytest
    from django.test import RequestFactory
    from rest_framework.exceptions import NotAcceptable
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import JSONRenderer, TemplateHTMLRenderer
    from rest_framework.request import Request

    from rapport.api.views import KeptNegotiation

    _, raw = ApiToken.issue(users["admin"], name="r", scope=ApiToken.SCOPE_READ)
    client = _client(raw)
    for _ in range(2):
        for accept in ("*/*", "application/json", "application/json; q=0.5, text/html; q=0.9", "application/*"):
            answer = client.get("/api/v1/people/", HTTP_ACCEPT=accept)
            assert answer.status_code == 200 and answer["Content-Type"] == "application/json", accept
    for _ in range(2):
        for accept in ("text/html", "text/html, application/json; indent=4", "text/csv", "*/*"):
            request = Request(RequestFactory().get("/", HTTP_ACCEPT=accept))
            renderers = [JSONRenderer(), TemplateHTMLRenderer()]
            try:
                expected = DefaultContentNegotiation().select_renderer(request, renderers)
            except NotAcceptable:
                with pytest.raises(NotAcceptable):
                    KeptNegotiation().select_renderer(request, renderers)
                continue
            chosen = KeptNegotiation().select_renderer(request, renderers)
            assert (chosen[0] is expected[0], chosen[1]) == (True, expected[1]), accept
    request = Request(RequestFactory().get("/", HTTP_ACCEPT="text/csv"))
    with pytest.raises(NotAcceptable):
        KeptNegotiation().select_renderer(request, [JSONRenderer()])
