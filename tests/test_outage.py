"""Outages are answered, not crashed on: a database that cannot be reached, a row locked past the lock
time limit, a statement past its limit — 503 with Retry-After (the Error JSON under /api/, the "try again"
page elsewhere), and the next request after the outage works without a restart (rapport.core.outage)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import psycopg
import psycopg.errors
import pytest
from django.db import InterfaceError, OperationalError, connection, transaction
from django.test import Client, RequestFactory, override_settings

from rapport.accounts.models import ApiToken, Team
from rapport.core.outage import server_error, unavailable_kind
from rapport.deals.models import Deal

from . import schema_check
from .conftest import default_pipeline, make_user, write


def wrapped(driver_error: Exception, django_class: type[Exception] = OperationalError) -> Exception:
    """The driver's error as Django raises it: its own class, the driver's error as the cause."""
    exc = django_class(str(driver_error))
    exc.__cause__ = driver_error
    return exc


@pytest.mark.parametrize(
    ("driver_error", "kind"),
    [
        (sqlite3.OperationalError("database is locked"), "busy"),
        (sqlite3.OperationalError("unable to open database file"), "unavailable"),
        (sqlite3.OperationalError("disk I/O error"), "unavailable"),
        (sqlite3.OperationalError("no such table: contacts_person"), None),  # a bug, not an outage
        (psycopg.OperationalError("connection failed: Connection refused"), "unavailable"),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), "unavailable"),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), "unavailable"),
        (psycopg.errors.TooManyConnections("sorry, too many clients already"), "unavailable"),
        (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), "busy"),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), "busy"),
        (psycopg.errors.DeadlockDetected("deadlock detected"), "busy"),
        (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), None),
    ],
)
def test_which_database_errors_are_an_outage(driver_error, kind):
    assert unavailable_kind(wrapped(driver_error)) == kind


def test_a_closed_connection_is_an_outage_and_other_errors_are_not():
    assert unavailable_kind(InterfaceError("connection already closed")) == "unavailable"
    assert unavailable_kind(ValueError("boom")) is None
    assert unavailable_kind(None) is None


def test_any_other_failure_of_an_api_request_is_json_and_of_a_page_the_500_page():
    factory = RequestFactory()
    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        api = server_error(factory.get("/api/v1/people/"))
        page = server_error(factory.get("/people/"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
    assert json.loads(api.content)["error"] == "server_error"
    assert page.status_code == 500 and b"Something went wrong" in page.content


def _connection_settings() -> tuple[str, str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW lock_timeout")
            lock = cursor.fetchone()[0]
            cursor.execute("SHOW statement_timeout")
            statement = cursor.fetchone()[0]
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "off"  # no compiling of report queries on every run
            return lock, statement
        cursor.execute("PRAGMA busy_timeout")
        return str(cursor.fetchone()[0]), ""


@pytest.mark.django_db(transaction=True)
def test_every_new_connection_gets_the_configured_time_limits():
    connection.close()
    try:
        with override_settings(RAPPORT_DB_LOCK_TIMEOUT=0.25, RAPPORT_DB_STATEMENT_TIMEOUT=12):
            got = _connection_settings()
        connection.close()
        with override_settings(RAPPORT_DB_LOCK_TIMEOUT=0, RAPPORT_DB_STATEMENT_TIMEOUT=0):
            off = _connection_settings()
    finally:
        connection.close()  # the next test connects with the defaults again
    if connection.vendor == "postgresql":
        assert got == ("250ms", "12s")
        assert off == ("0", "0")
    else:
        assert got == ("250", "")
        assert off == (str(2**31 - 1), "")  # 0 = no limit: wait as long as it takes


@pytest.mark.django_db(transaction=True)
def test_defaults_are_the_documented_ones():
    from django.conf import settings

    if connection.vendor == "postgresql":
        assert (settings.RAPPORT_DB_LOCK_TIMEOUT, settings.RAPPORT_DB_STATEMENT_TIMEOUT) == (5.0, 60.0)
        connection.close()
        assert _connection_settings() == ("5s", "1min")
    else:
        assert settings.RAPPORT_DB_LOCK_TIMEOUT == 20.0
        connection.close()
        assert _connection_settings() == ("20000", "")


@pytest.mark.django_db(transaction=True)
def test_a_request_blocked_on_a_locked_deal_gives_up_with_503_after_the_lock_limit():
    """Another connection holds the deal's row (PostgreSQL: SELECT … FOR UPDATE; SQLite: its write lock):
    the PATCH waits no longer than RAPPORT_DB_LOCK_TIMEOUT, answers 503 + Retry-After, changes nothing,
    and succeeds once the lock is gone. A read of the same deal is not held up meanwhile (PostgreSQL)."""
    default_pipeline()
    user = make_user("closer", "admin", Team.objects.create(name="T"))
    deal = write("deals", {"title": "Locked", "amount": "100"}, actor=user)
    client = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name="t", scope="read-write")[1])
    client.raise_request_exception = False  # as a server: the exception becomes the answer
    schema_check.openapi()  # the answers are checked against the schema: built before any lock is taken
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Deal.objects.select_for_update().get(pk=deal.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    connection.close()
    try:
        with override_settings(RAPPORT_DB_LOCK_TIMEOUT=0.5):
            holder.start()
            assert locked.wait(10)
            if connection.vendor == "postgresql":
                started = time.monotonic()
                read = client.get(f"/api/v1/deals/{deal.pk}/")
                assert read.status_code == 200 and time.monotonic() - started < 0.4
            started = time.monotonic()
            response = client.patch(
                f"/api/v1/deals/{deal.pk}/", json.dumps({"title": "Mine"}), content_type="application/json"
            )
            waited = time.monotonic() - started
            release.set()
            holder.join(10)
            after = client.patch(
                f"/api/v1/deals/{deal.pk}/", json.dumps({"title": "Mine"}), content_type="application/json"
            )
    finally:
        release.set()
        holder.join(10)
        connection.close()
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5" and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"] == "busy"
    assert 0.45 <= waited < 3.0, waited
    assert after.status_code == 200 and after.json()["title"] == "Mine"
    deal.refresh_from_db()
    assert (deal.title, deal.version) == ("Mine", 2)  # the 503'd request wrote nothing


@pytest.mark.django_db(transaction=True)
def test_a_database_that_cannot_be_reached_is_a_503_json_for_the_api_and_a_page_for_people(monkeypatch):
    user = make_user("early", "admin", Team.objects.create(name="T"))
    api = Client(HTTP_AUTHORIZATION="Bearer " + ApiToken.issue(user, name="t", scope="read-write")[1])
    api.raise_request_exception = False
    pages = Client(raise_request_exception=False)
    pages.force_login(user)
    schema_check.openapi()  # built while the database answers
    refused = connection.Database.OperationalError("connection to server failed: Connection refused")
    if connection.vendor == "sqlite":
        refused = sqlite3.OperationalError("unable to open database file")

    def cannot_connect(*args: Any, **kwargs: Any) -> Any:
        raise refused

    connection.close()
    with monkeypatch.context() as patch:
        patch.setattr(connection, "get_new_connection", cannot_connect)
        listed = api.get("/api/v1/companies/")
        created = api.post("/api/v1/companies/", json.dumps({"name": "Down"}), content_type="application/json")
        page = pages.get("/companies/")
    connection.close()
    for response in (listed, created):
        assert response.status_code == 503
        assert response["Retry-After"] == "5" and response["Content-Type"] == "application/json"
        assert json.loads(response.content) == {
            "error": "unavailable",
            "message": "The database is not answering right now; try again in a moment.",
        }
        assert response["Cache-Control"] == "no-store"
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert page["Content-Type"].startswith("text/html")
    text = page.content.decode()
    assert "Try again in a moment" in text and "The database is not answering right now" in text
    assert "Content-Security-Policy" in page  # the security headers still apply
    # back without a restart
    assert api.get("/api/v1/companies/").status_code == 200
    assert pages.get("/companies/").status_code == 200
