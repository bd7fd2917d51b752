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
from django.test import Client, RequestFactory

from rapport.accounts import services
from rapport.accounts.models import ApiToken, LoginFailure, Role, User
from rapport.accounts.throttle import DEVICE_COOKIE, attempt_login, client_address

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


def test_lock_is_per_account_and_address_case_insensitively(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    login(Client(REMOTE_ADDR="10.0.0.1"), "MEMBER", "x")
    login(Client(REMOTE_ADDR="10.0.0.1"), "Member", "x")
    response = login(Client(REMOTE_ADDR="10.0.0.1"), "member", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()
    # A stranger's guesses elsewhere do not lock the owner out of their own place.
    assert login(Client(REMOTE_ADDR="10.0.0.2"), "member", PASSWORD).status_code == 302


def test_guesses_spread_over_addresses_hit_the_account_wide_limit(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 2
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE = 6
    for i in range(6):
        login(Client(REMOTE_ADDR=f"198.51.100.{i}"), "member", "guess")
    assert LoginFailure.objects.filter(username="member").count() == 6
    # A new place is refused without a password check...
    response = login(Client(REMOTE_ADDR="198.51.100.77"), "member", PASSWORD)
    assert "Too many failed attempts" in response.content.decode()
    assert LoginFailure.objects.filter(username="member").count() == 6
    # ... another account is not.
    assert login(Client(REMOTE_ADDR="198.51.100.77"), "peer", PASSWORD).status_code == 302


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


def test_success_clears_this_places_failures_only(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    login(Client(), "member", "x")
    login(Client(), "member", "x")
    login(Client(REMOTE_ADDR="203.0.113.5"), "member", "x")  # a stranger elsewhere
    assert login(Client(), "member", PASSWORD).status_code == 302
    # The owner's success does not reset what the stranger tried (the account-wide count goes on).
    assert list(LoginFailure.objects.filter(username="member").values_list("address", flat=True)) == ["203.0.113.5"]


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


# --- the client address behind proxies ---------------------------------------------------------
@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "203.0.113.9", "", "203.0.113.9"),
        ([], "127.0.0.1", "198.51.100.1", "127.0.0.1"),  # no trusted proxy: the header is ignored
        (["127.0.0.1"], "127.0.0.1", "198.51.100.1", "198.51.100.1"),
        (["127.0.0.1"], "127.0.0.1", "", "127.0.0.1"),
        # a client's own X-Forwarded-For is kept on the left by the proxy: never believed
        (["127.0.0.1"], "127.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        (["127.0.0.1"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # an untrusted peer cannot choose
        # two proxies in a row (a load balancer in 10.0.0.0/8, then the local one), both skipped
        (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.2.3", "198.51.100.1"),
        (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "10.1.2.3", "10.1.2.3"),  # only proxies: the farthest
        (["127.0.0.1"], "127.0.0.1", "not-an-address", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "198.51.100.1:4711", "198.51.100.1"),
        (["::1"], "::1", "[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"),
        ([], "2001:db8:1:2:bbbb::9", "", "2001:db8:1:2::/64"),  # one IPv6 subscriber is one /64
        ([], "::ffff:192.0.2.1", "", "192.0.2.1"),
    ],
)
def test_client_address(settings: Any, trusted: list[str], peer: str, forwarded: str, expected: str) -> None:
    settings.RAPPORT_TRUSTED_PROXIES = trusted
    request = RequestFactory().post("/login/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_behind_a_proxy_one_users_failures_do_not_lock_everyone(users: dict[str, User], settings: Any) -> None:
    settings.RAPPORT_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 4
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE = 1000
    attacker = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.66")
    for name in ("a", "b", "c", "d"):
        login(attacker, name, "x")
    assert "Too many failed attempts" in login(attacker, "member", PASSWORD).content.decode()
    # Everyone else comes through the same proxy, from their own address.
    colleague = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert login(colleague, "member", PASSWORD).status_code == 302
    # Forging the header does not get the attacker a fresh address: the proxy appends the real one.
    forged = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.66")
    assert "Too many failed attempts" in login(forged, "peer", PASSWORD).content.decode()


def test_bad_trusted_proxy_setting_is_refused_at_start() -> None:
    import subprocess
    import sys

    env = {"RAPPORT_TRUSTED_PROXIES": "127.0.0.1,proxy.local", "PATH": "/usr/bin:/bin"}
    code = "import rapport.settings.base"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "RAPPORT_TRUSTED_PROXIES: 'proxy.local'" in run.stderr


# --- the device cookie: the owner's own browser is never locked by strangers -------------------
def test_device_cookie_exempts_the_owners_browser_from_strangers_lockout(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE = 5
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    owner = Client(REMOTE_ADDR="192.0.2.10")
    response = login(owner, "member", PASSWORD)
    cookie = response.cookies[DEVICE_COOKIE]
    assert cookie.value and cookie["httponly"] and cookie["max-age"] == 365 * 24 * 3600
    owner.post("/logout/")

    # Strangers everywhere, and one at the owner's own address, exhaust every limit of the account.
    for i in range(5):
        login(Client(REMOTE_ADDR=f"198.51.100.{i}"), "member", "guess")
    for _ in range(5):
        login(Client(REMOTE_ADDR="192.0.2.10"), "member", "guess")
    assert "Too many failed attempts" in login(Client(REMOTE_ADDR="192.0.2.10"), "member", PASSWORD).content.decode()

    # The owner's browser still gets in, and sets a fresh cookie.
    assert login(owner, "member", PASSWORD).status_code == 302
    owner.post("/logout/")
    # A tampered cookie is no cookie.
    forged = Client(REMOTE_ADDR="192.0.2.10")
    forged.cookies[DEVICE_COOKIE] = owner.cookies[DEVICE_COOKIE].value[:-2] + "xx"
    assert "Too many failed attempts" in login(forged, "member", PASSWORD).content.decode()


def test_wrong_passwords_with_a_device_cookie_lock_that_browser(users: dict[str, User], settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 3
    owner = Client()
    assert login(owner, "member", PASSWORD).status_code == 302
    owner.post("/logout/")
    for _ in range(3):
        login(owner, "member", "typo")
    assert LoginFailure.objects.filter(username="member").exclude(device="").count() == 3
    assert "Too many failed attempts" in login(owner, "member", PASSWORD).content.decode()
    # ... and only that browser: the owner's other one at the same address is not.
    assert login(Client(), "member", PASSWORD).status_code == 302
    # A cookie for one account is worth nothing for another: the peer's failures count as usual.
    for _ in range(3):
        login(owner, "peer", "typo")
    assert LoginFailure.objects.filter(username="peer", device="").count() == 3


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
def test_parallel_guesses_from_many_addresses_cannot_pass_the_account_wide_limit(settings: Any) -> None:
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE = 4
    User.objects.create_user(username="target", password=PASSWORD, role=Role.objects.get(key="member"))
    requests = [RequestFactory().post("/login/", REMOTE_ADDR=f"198.51.100.{i}") for i in range(10)]
    barrier = threading.Barrier(len(requests))
    results: list[bool] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            attempt = attempt_login(requests[i], "target", f"wrong-{i}")
            with lock:
                results.append(attempt.locked)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 10
    assert LoginFailure.objects.filter(username="target").count() == 4
    assert results.count(True) == 6


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
