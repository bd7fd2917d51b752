"""Login, logout, throttling (including under real concurrency), session rotation, deactivation
and the createuser command."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from rapport.accounts import services
from rapport.accounts.models import ApiToken, LoginFailure, Role, User
from rapport.accounts.throttle import attempt_login

from .conftest import make_user

PASSWORD = "correct horse battery"


def login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/login/", {"username": username, "password": password}, **extra)


@pytest.mark.django_db
def test_login_page_renders_with_named_fields() -> None:
    response = Client().get("/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert "csrfmiddlewaretoken" in body


def test_login_success_redirects_and_rotates_session(users: dict[str, User]) -> None:
    client = Client()
    client.get("/login/")
    session = client.session
    session["probe"] = 1
    session.save()
    before = session.session_key
    response = login(client, "member", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.get("/").status_code == 200


def test_login_wrong_password_shows_error_and_counts(users: dict[str, User]) -> None:
    response = login(Client(), "member", "wrong password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert LoginFailure.objects.filter(username="member").count() == 1


def test_next_is_followed_only_when_safe(users: dict[str, User]) -> None:
    assert login(Client(), "member", PASSWORD, QUERY_STRING="next=/settings/tokens/")["Location"] == (
        "/settings/tokens/"
    )
    response = Client().post("/login/?next=https://evil.example/", {"username": "member", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    response = Client().post("/login/", {"username": "member", "password": PASSWORD, "next": "//evil.example/x"})
    assert response["Location"] == "/"


def test_logout_is_post_only(users: dict[str, User]) -> None:
    client = Client()
    client.force_login(users["member"])
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_account_is_locked_after_limit_without_checking_password(
    users: dict[str, User], settings: Any, django_assert_max_num_queries: Any
) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    client = Client()
    for _ in range(3):
        login(client, "member", "nope nope nope")
    response = login(client, "member", PASSWORD)
    assert response.status_code == 200
    assert "Too many failed attempts; try again in 15 minutes" in response.content.decode()
    assert LoginFailure.objects.filter(username="member").count() == 3  # refusals are not checks
    # Another account from another address is not affected.
    assert login(Client(REMOTE_ADDR="10.0.0.9"), "peer", PASSWORD).status_code == 302


def test_lock_is_per_account_case_insensitively(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    login(Client(REMOTE_ADDR="10.0.0.1"), "MEMBER", "x")
    login(Client(REMOTE_ADDR="10.0.0.2"), "Member", "x")
    response = login(Client(REMOTE_ADDR="10.0.0.3"), "member", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()


def test_address_is_locked_across_accounts(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    client = Client(REMOTE_ADDR="192.0.2.7")
    for name in ("a", "b", "c"):
        login(client, name, "x")
    response = login(client, "member", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()
    assert login(Client(REMOTE_ADDR="192.0.2.8"), "member", PASSWORD).status_code == 302


def test_failures_outside_window_do_not_count(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    import datetime as dt

    from django.utils import timezone

    old = timezone.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 5)
    LoginFailure.objects.bulk_create([LoginFailure(username="member", address="x", at=old) for _ in range(5)])
    assert login(Client(), "member", "wrong again").status_code == 200
    assert LoginFailure.objects.filter(username="member").count() == 1  # the old ones were purged
    assert login(Client(), "member", PASSWORD).status_code == 302


def test_success_clears_account_failures(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    login(Client(), "member", "x")
    login(Client(), "member", "x")
    assert login(Client(), "member", PASSWORD).status_code == 302
    assert not LoginFailure.objects.filter(username="member").exists()


def test_inactive_user_cannot_log_in(users: dict[str, User]) -> None:
    services.deactivate_user(users["member"], actor=users["admin"])
    response = login(Client(), "member", PASSWORD)
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_deactivation_ends_sessions_and_tokens(users: dict[str, User], api_client_for: Any) -> None:
    member = users["member"]
    browser = Client()
    assert login(browser, "member", PASSWORD).status_code == 302
    other = Client()
    other.force_login(users["peer"])
    api = api_client_for(member)
    assert api.get("/api/v1/people/").status_code in (200, 404)  # the API may not be wired yet
    services.deactivate_user(member, actor=users["admin"])
    assert Session.objects.count() == 1  # only the peer's session is left
    assert browser.get("/").status_code == 302
    assert other.get("/").status_code == 200
    assert ApiToken.objects.filter(user=member).exists()
    response = api.get("/api/v1/people/")
    assert response.status_code in (401, 403, 404)
    if response.status_code != 404:
        assert "deactivated" in response.content.decode()


# --- real concurrency ----------------------------------------------------------------------
def _parallel_wrong_logins(n: int) -> list[bool]:
    barrier = threading.Barrier(n)
    results: list[bool] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            attempt = attempt_login(None, "target", f"wrong-{i}")
            with lock:
                results.append(attempt.locked)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_cannot_pass_the_limit(settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 100
    User.objects.create_user(username="target", password=PASSWORD, role=Role.objects.get(key="member"))
    results = _parallel_wrong_logins(12)
    assert len(results) == 12
    assert LoginFailure.objects.filter(username="target").count() == 5
    assert results.count(True) == 7  # refused without a password check
    assert attempt_login(None, "target", PASSWORD).locked


# --- createuser -----------------------------------------------------------------------------
def run_createuser(*args: str, stdin: str = "") -> str:
    import sys

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        call_command("createuser", *args, stdout=out)
    finally:
        sys.stdin = old
    return out.getvalue()


def test_createuser_with_password_from_stdin(teams: Any) -> None:
    out = run_createuser(
        "grace",
        "--email",
        "grace@example.com",
        "--role",
        "manager",
        "--team",
        "East",
        "--password-stdin",
        stdin="a long unusual passphrase\n",
    )
    user = User.objects.get(username="grace")
    assert user.role.key == "manager" and user.team.name == "East" and user.email == "grace@example.com"
    assert user.check_password("a long unusual passphrase")
    assert "Created user grace" in out and "manager" in out


def test_createuser_admin_flag(db: Any) -> None:
    run_createuser("root", "--admin", "--password-stdin", stdin="another long passphrase\n")
    user = User.objects.get(username="root")
    assert user.is_superuser and user.role.key == "admin" and user.can_manage_settings()


def test_createuser_prompts_with_getpass(db: Any, monkeypatch: Any) -> None:
    answers = iter(["prompted long secret", "prompted long secret"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    run_createuser("lin")
    assert User.objects.get(username="lin").check_password("prompted long secret")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["weak", "--password-stdin"], "short\n", "too short"),
        (["weak", "--password-stdin"], "1234567890123\n", "entirely numeric"),
        (["x", "--role", "boss", "--password-stdin"], "a long unusual passphrase\n", "boss"),
        (["x", "--team", "Nowhere", "--password-stdin"], "a long unusual passphrase\n", "Nowhere"),
        (["member", "--password-stdin"], "a long unusual passphrase\n", "already exists"),
    ],
)
def test_createuser_refuses_bad_input(users: Any, args: list[str], stdin: str, message: str) -> None:
    before = User.objects.count()
    with pytest.raises(CommandError, match=message):
        run_createuser(*args, stdin=stdin)
    assert User.objects.count() == before


def test_make_user_helper_still_works(teams: Any) -> None:
    assert make_user("zed", "member", teams["east"]).role.key == "member"
