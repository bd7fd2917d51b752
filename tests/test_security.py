"""Security headers on every kind of response, HSTS over HTTPS, no inline script in templates,
and a clean ``rapport check --deploy`` with production settings."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from rapport.accounts.models import User
from rapport.core import registry

from .test_api_generic import example

TEMPLATES = Path(__file__).resolve().parent.parent / "src" / "rapport" / "templates"


def directives(csp: str) -> dict[str, str]:
    out = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        out[name] = value
    return out


def assert_security_headers(response: Any) -> None:
    csp = response["Content-Security-Policy"]
    parsed = directives(csp)
    script_src = parsed.get("script-src", parsed.get("default-src", ""))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert "'unsafe-inline'" not in parsed.get("default-src", "")
    assert parsed.get("frame-ancestors") == "'none'"
    assert parsed.get("object-src") == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_headers_on_login_page() -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    assert_security_headers(response)


def test_headers_on_app_pages(users: dict[str, User]) -> None:
    client = logged_in(users["admin"])
    for path in ("/", "/settings/", "/settings/tokens/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)


def test_headers_on_api_responses(users: dict[str, User], api_client_for: Any) -> None:
    api = api_client_for(users["member"])
    assert_security_headers(api.get("/api/v1/people/"))
    assert_security_headers(Client().get("/api/v1/people/"))  # 401/403 too


@pytest.mark.django_db
def test_headers_on_404_and_redirects() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert_security_headers(response)
    response = Client().get("/settings/")
    assert response.status_code == 302
    assert_security_headers(response)


def test_headers_on_403_and_405(users: dict[str, User]) -> None:
    client = logged_in(users["member"])
    assert_security_headers(client.get("/settings/users/"))
    assert_security_headers(client.get("/logout/"))


def test_no_hsts_over_plain_http_by_default(db: Any) -> None:
    assert "Strict-Transport-Security" not in Client().get("/login/")


def test_hsts_on_https_when_https_is_on(db: Any, settings: Any) -> None:
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    response = Client().get("/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_security_headers(response)
    plain = Client().get("/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in plain


def test_session_and_csrf_cookies_are_httponly_and_lax(users: dict[str, User]) -> None:
    client = Client()
    client.get("/login/")
    response = client.post("/login/", {"username": "member", "password": "correct horse battery"})
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_or_style(template: Path) -> None:
    text = template.read_text()
    for pattern in (INLINE_SCRIPT, INLINE_STYLE, INLINE_HANDLER, JS_URL):
        match = pattern.search(text)
        assert match is None, f"{template.name}: {match.group(0) if match else ''} breaks the Content-Security-Policy"


# --- check --deploy -------------------------------------------------------------------------
def run_check(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
            "RAPPORT_DATA_DIR": str(tmp_path),
            "RAPPORT_HTTPS": "1",
            "RAPPORT_DEBUG": "0",
            "RAPPORT_SECRET_KEY": secrets.token_urlsafe(60),
            "RAPPORT_ALLOWED_HOSTS": "crm.example.com",
            **overrides,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "rapport", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path: Path) -> None:
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_plain_http_and_debug(tmp_path: Path) -> None:
    result = run_check(tmp_path, RAPPORT_HTTPS="0", RAPPORT_DEBUG="1")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "security.W004" in output  # no HSTS
    assert "security.W018" in output  # DEBUG on


@pytest.mark.parametrize("type_key", registry.keys())
def test_authenticated_api_responses_are_not_stored(type_key: str, users: dict[str, User], api_client_for: Any) -> None:
    """Every answer a token or session opens, success or error, says no-store; anonymous 401s need not."""
    api = api_client_for(users["member"])
    base = f"/api/v1/{type_key}/"
    created = api.post(base, json.dumps(example(type_key, 3)), content_type="application/json")
    assert created.status_code == 201, created.content
    detail = f"{base}{created.json()['id']}/"
    answers = [
        created,
        api.get(base),
        api.get(detail),
        api.get(detail, HTTP_IF_NONE_MATCH=created["ETag"]),  # 304
        api.get(f"{base}999999/"),  # 404
        api.get(base, {"no_such_filter": "1"}),  # 400
        api.get(f"{detail}history/"),
    ]
    session = Client()
    session.force_login(users["member"])
    answers.append(session.get(base))
    for response in answers:
        assert response.status_code < 500
        assert response["Cache-Control"] == "private, no-store", (response.status_code, response.request["PATH_INFO"])
    assert "no-store" not in Client().get(base).get("Cache-Control", "")


def test_token_page_is_not_stored(users: dict[str, User]) -> None:
    client = logged_in(users["member"])
    shown = client.post("/settings/tokens/", {"name": "laptop", "scope": "read"}, follow=True)
    assert shown.status_code == 200 and b"Copy it now" in shown.content
    assert shown["Cache-Control"] == "private, no-store"
    assert client.get("/settings/tokens/")["Cache-Control"] == "private, no-store"
