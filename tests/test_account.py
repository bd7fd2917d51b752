"""One's own account: the user menu, profile, password change, and the password reset by email
(through the outgoing-mail outbox, a link that works once and for a limited time, no user enumeration,
throttled, ending every session)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from rapport.accounts.models import User
from rapport.activities import reminders
from rapport.activities.models import OutgoingEmail
from rapport.core.models import AuditEntry

from .conftest import write

PASSWORD = "correct horse battery"
NEW_PASSWORD = "plum tangerine 1987"


def signed_in(username: str, password: str = PASSWORD) -> Client:
    client = Client()
    assert client.post("/login/", {"username": username, "password": password}).status_code == 302
    return client


def menu(client: Client) -> str:
    body = client.get("/").content.decode()
    match = re.search(r'<div class="user-menu" data-user-menu>.*?</form>\s*</div>\s*</div>', body, re.S)
    assert match, "no user menu on the home page"
    return match.group(0)


# --- the user menu ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "settings_link"), [("admin", True), ("manager", False), ("member", False), ("read_only", False)]
)
def test_user_menu_links_per_role(users: dict[str, User], role: str, settings_link: bool) -> None:
    html = menu(signed_in(role))
    assert 'aria-expanded="false"' in html and 'aria-controls="user-menu"' in html and " hidden>" in html
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)
    expected = [
        ("/account/", "Profile"),
        ("/account/password/", "Password"),
        ("/settings/tokens/", "API tokens"),
        ("/notifications/#digest-settings", "Notification settings"),
    ]
    if settings_link:
        expected.append(("/settings/", "Settings"))
    assert links == expected
    assert 'action="/logout/" method="post"' in html and ">Sign out</button>" in html


@pytest.mark.parametrize("role", ["admin", "manager", "member", "read_only"])
def test_every_menu_link_opens_for_every_role(users: dict[str, User], role: str) -> None:
    client = signed_in(role)
    for href in re.findall(r'<a href="([^"#]+)', menu(client)):
        assert client.get(href).status_code == 200, href


def test_tokens_page_is_an_account_page_for_members(users: dict[str, User]) -> None:
    page = signed_in("member").get("/settings/tokens/").content.decode()
    assert 'aria-label="Your account"' in page and 'aria-label="Settings"' not in page


def test_anonymous_sees_no_menu_and_account_pages_ask_to_log_in(db: Any) -> None:
    assert "data-user-menu" not in Client().get("/login/").content.decode()
    for path in ("/account/", "/account/password/"):
        assert Client().get(path)["Location"].startswith("/login/?next=")


# --- profile ----------------------------------------------------------------------------------
def test_profile_saves_name_email_and_time_zone_with_an_audit_entry(users: dict[str, User]) -> None:
    client = signed_in("member")
    page = client.get("/account/").content.decode()
    assert '<optgroup label="Europe">' in page and 'value="Europe/Berlin"' in page
    assert "Etc/GMT+5" not in page  # aliases are not offered
    data = {"first_name": "Mia", "last_name": "Berg", "email": "mia@example.com", "time_zone": "Europe/Berlin"}
    data["locale"] = page_locale(page)  # kept as it is
    assert data["locale"] == "en-US"
    response = client.post("/account/", data)
    assert response.status_code == 302 and response["Location"] == "/account/"
    member = User.objects.get(username="member")
    assert (member.first_name, member.last_name, member.email, member.time_zone) == (
        "Mia",
        "Berg",
        "mia@example.com",
        "Europe/Berlin",
    )
    entry = AuditEntry.objects.get(kind="user", object_id=member.pk)
    assert entry.actor_id == member.pk
    assert entry.changes["time_zone"] == ["UTC", "Europe/Berlin"]
    assert entry.changes["email"] == ["", "mia@example.com"]
    # The role and team cannot be changed from here.
    client.post("/account/", {**data, "role": users["admin"].role_id, "team": ""})
    member.refresh_from_db()
    assert member.role.key == "member" and member.team_id == users["peer"].team_id


def test_profile_errors_name_the_field(users: dict[str, User]) -> None:
    client = signed_in("member")
    response = client.post("/account/", {"first_name": "M", "email": "not an email", "time_zone": "Mars/Base"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Email: Enter a valid email address." in body
    assert "Time zone: Select a valid choice." in body
    assert User.objects.get(username="member").first_name == "Member"


def test_choosing_a_locale_changes_how_the_pages_write_numbers_and_dates(users: dict[str, User]) -> None:
    client = signed_in("member")
    write("deals", {"title": "Big one", "amount": "1234567.5", "currency": "EUR"}, actor=users["member"])
    assert "€1,234,567.50" in client.get("/deals/").content.decode()
    data = {"first_name": "Mia", "last_name": "Berg", "email": "mia@example.com", "time_zone": "UTC"}
    assert client.post("/account/", {**data, "locale": "de-DE"}).status_code == 302
    assert User.objects.get(username="member").locale == "de-DE"
    page = client.get("/deals/").content.decode()
    assert "1.234.567,50\xa0€" in page and "€1,234,567.50" not in page
    assert client.post("/account/", {**data, "locale": "xx-XX"}).status_code == 400  # not one we offer


def page_locale(page: str) -> str:
    match = re.search(r'<select name="locale"[^>]*>.*?<option value="([^"]+)" selected', page, re.S)
    return match.group(1) if match else ""


# --- password change --------------------------------------------------------------------------
def test_wrong_current_password_is_refused_naming_the_field(users: dict[str, User]) -> None:
    client = signed_in("member")
    response = client.post(
        "/account/password/",
        {"old_password": "not it at all", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "Current password: This is not your current password." in response.content.decode()
    assert User.objects.get(username="member").check_password(PASSWORD)


def test_new_password_goes_through_the_validators(users: dict[str, User]) -> None:
    client = signed_in("member")
    response = client.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"}
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "This password is too short. It must contain at least 10 characters." in body
    response = client.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": "other one!"}
    )
    assert response.status_code == 400 and "match" in response.content.decode()
    assert User.objects.get(username="member").check_password(PASSWORD)


def test_password_change_keeps_this_session_and_ends_the_others(users: dict[str, User]) -> None:
    here, laptop, phone = signed_in("member"), signed_in("member"), signed_in("member")
    other_user = signed_in("peer")
    response = here.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert response.status_code == 200
    assert "Password changed. You were signed out on 2 other devices." in response.content.decode()
    assert here.get("/").status_code == 200  # still signed in here
    for elsewhere in (laptop, phone):
        assert elsewhere.get("/")["Location"].startswith("/login/")
    assert other_user.get("/").status_code == 200  # someone else's session is untouched
    member = User.objects.get(username="member")
    assert member.check_password(NEW_PASSWORD)
    assert Session.objects.count() == 2
    entry = AuditEntry.objects.get(kind="user", object_id=member.pk)
    assert entry.changes == {"password": ["", "(changed)"]} and entry.actor_id == member.pk
    signed_in("member", NEW_PASSWORD)


# --- password reset by email ------------------------------------------------------------------
def reset_link(body: str) -> str:
    match = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def ask_reset(client: Client, email: str) -> Any:
    return client.post("/password-reset/", {"email": email})


def test_login_page_offers_the_reset(db: Any) -> None:
    assert '<a href="/password-reset/">Forgot password?</a>' in Client().get("/login/").content.decode()


def test_reset_end_to_end_sends_a_link_that_works_once(
    users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    member = users["member"]
    member.email = "member@example.com"
    member.save(update_fields=["email"])
    elsewhere = signed_in("member")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = ask_reset(Client(), "Member@Example.com")
    assert response.status_code == 302 and response["Location"] == "/password-reset/sent/"
    assert len(callbacks) == 1  # the outbox job is enqueued after commit
    row = OutgoingEmail.objects.get()
    assert row.to == "member@example.com" and row.sent_at is None
    assert reminders.flush_outbox() == 1  # what the send_outbox job does
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["member@example.com"]
    path = reset_link(mail.outbox[0].body)
    assert "within 1 hour" in mail.outbox[0].body

    visitor = Client()
    form = visitor.get(path)  # the token moves into the session, out of the URL
    assert form.status_code == 302 and form["Location"].endswith("/set-password/")
    page = visitor.get(form["Location"])
    assert page.status_code == 200 and "Choose a new password" in page.content.decode()
    weak = visitor.post(form["Location"], {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == 400 and "This password is too common." in weak.content.decode()
    done = visitor.post(form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert elsewhere.get("/")["Location"].startswith("/login/")  # every session ended
    entry = AuditEntry.objects.get(kind="user", object_id=member.pk)
    assert entry.changes == {"password": ["", "(reset)"]}

    # The same link a second time: refused, in a fresh browser as in the same one.
    for again in (Client(), visitor):
        follow = again.get(path, follow=True)
        assert "This link no longer works" in follow.content.decode()
        assert "Choose a new password" not in follow.content.decode()
    signed_in("member", NEW_PASSWORD)


def test_expired_link_is_refused(users: dict[str, User], settings: Any) -> None:
    member = users["member"]
    member.email = "member@example.com"
    member.save(update_fields=["email"])
    ask_reset(Client(), "member@example.com")
    path = reset_link(OutgoingEmail.objects.get().body)
    settings.PASSWORD_RESET_TIMEOUT = -1  # the link's time is up
    page = Client().get(path, follow=True)
    assert "This link no longer works" in page.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_forged_link_is_refused(users: dict[str, User]) -> None:
    page = Client().get("/password-reset/MQ/abc-0123456789abcdef/", follow=True)
    assert page.status_code == 200 and "This link no longer works" in page.content.decode()


def test_unknown_email_gets_the_same_answer(users: dict[str, User]) -> None:
    users["member"].email = "member@example.com"
    users["member"].save(update_fields=["email"])
    known, unknown = ask_reset(Client(), "member@example.com"), ask_reset(Client(), "nobody@example.com")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    sent_page = Client().get(known["Location"]).content.decode()
    assert "If an account uses that address" in sent_page
    assert OutgoingEmail.objects.count() == 1  # only the real account got a link


def test_inactive_accounts_get_no_link(users: dict[str, User]) -> None:
    users["peer"].email = "peer@example.com"
    users["peer"].is_active = False
    users["peer"].save(update_fields=["email", "is_active"])
    assert ask_reset(Client(), "peer@example.com")["Location"] == "/password-reset/sent/"
    assert not OutgoingEmail.objects.exists()


def test_reset_requests_are_throttled(users: dict[str, User], settings: Any, monkeypatch: Any) -> None:
    users["member"].email = "member@example.com"
    users["member"].save(update_fields=["email"])
    # A second apart each (within one second the link, and so its email, would be the same one).
    ticks = iter(dt.datetime(2026, 11, 30, 9, 0, n) for n in range(60))
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: next(ticks))
    client = Client()
    for _ in range(settings.PASSWORD_RESET_MAX_PER_EMAIL + 2):
        assert ask_reset(client, "member@example.com").status_code == 302
    # Per email: silently no more links to that inbox this hour (the answer stays the same).
    assert OutgoingEmail.objects.count() == settings.PASSWORD_RESET_MAX_PER_EMAIL
    for n in range(settings.PASSWORD_RESET_MAX_PER_ADDRESS - settings.PASSWORD_RESET_MAX_PER_EMAIL - 2):
        assert ask_reset(client, f"someone{n}@example.com").status_code == 302
    # Per client address: answered 429 with a message.
    refused = ask_reset(client, "member@example.com")
    assert refused.status_code == 429 and "Too many reset requests" in refused.content.decode()
    assert ask_reset(Client(REMOTE_ADDR="10.0.0.9"), "other@example.com").status_code == 302


def test_reset_form_errors_name_the_field(db: Any) -> None:
    response = ask_reset(Client(), "not-an-email")
    assert response.status_code == 400 and "Email: Enter a valid email address." in response.content.decode()
    assert settings.PASSWORD_RESET_TIMEOUT == 3600
