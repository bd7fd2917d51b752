"""When the database does not answer: per-connection time limits, and a 503 instead of a crash.

Every new database connection gets the limits of ``RAPPORT_DB_LOCK_TIMEOUT`` and
``RAPPORT_DB_STATEMENT_TIMEOUT`` (``apply_timeouts``, connected to ``connection_created``): on PostgreSQL
``lock_timeout`` and ``statement_timeout`` for the session, on SQLite the busy timeout (how long a writer
waits for the database's one write lock). So a request blocked behind a locked row gives up after the
limit instead of holding a server thread for as long as the lock is held.

A request that meets an unreachable database, a dropped connection, a lock or statement timeout or a
deadlock (``unavailable_kind``) is answered ``503`` with ``Retry-After`` by the ``handler500`` here: the
Error JSON under ``/api/``, the "try again in a moment" page elsewhere. Any other failure of an API
request is a JSON 500; of a page, the 500 page. Neither answer touches the database.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views.defaults import server_error as default_server_error

logger = logging.getLogger("rapport.outage")

# Seconds a client is asked to wait before trying again.
RETRY_AFTER = 5
# PostgreSQL error classes that say "not now" rather than "never": connection exceptions (08), insufficient
# resources such as too many connections (53), operator intervention such as a shutdown or a cancelled
# (timed-out) statement (57), system errors (58); and the single codes of lock timeouts, serialization
# failures and deadlocks.
_PG_TRANSIENT_CLASSES = ("08", "53", "57", "58")
_PG_BUSY_CODES = {"55P03": "lock", "57014": "statement", "40001": "serialization", "40P01": "deadlock"}
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_SQLITE_DOWN = ("unable to open database", "disk i/o error")


def unavailable_kind(exc: BaseException | None) -> str | None:
    """``"busy"`` (a lock or statement timeout, a deadlock), ``"unavailable"`` (the database cannot be
    reached or dropped the connection) or None (any other error, e.g. a missing table: a bug, not an outage)."""
    if isinstance(exc, InterfaceError):
        return "unavailable"
    if not isinstance(exc, OperationalError):
        return None
    cause = exc.__cause__
    if isinstance(cause, sqlite3.Error):
        message = str(cause).lower()
        if any(m in message for m in _SQLITE_BUSY):
            return "busy"
        return "unavailable" if any(m in message for m in _SQLITE_DOWN) else None
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        return "unavailable"  # no answer from the server at all: refused, reset, timed out connecting
    if sqlstate in _PG_BUSY_CODES:
        return "busy"
    return "unavailable" if sqlstate[:2] in _PG_TRANSIENT_CLASSES else None


MESSAGES = {
    "busy": "The data you asked for is being changed by another request that is taking long; try again in a moment.",
    "unavailable": "The database is not answering right now; try again in a moment.",
}


def unavailable_response(request: HttpRequest, kind: str) -> HttpResponse:
    """The 503 for an outage: the Error JSON under /api/, the "try again" page elsewhere."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": kind, "message": MESSAGES[kind]}, status=503)
    else:
        template = loader.get_template("503.html")
        response = HttpResponse(template.render({"message": MESSAGES[kind], "retry_after": RETRY_AFTER}), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage is a 503 with Retry-After; anything else a 500 (JSON under /api/)."""
    exc = sys.exc_info()[1]
    kind = unavailable_kind(exc)
    if kind is not None:
        return unavailable_response(request, kind)
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "server_error", "message": "Something went wrong on our side; the error has been logged."},
            status=500,
        )
    return default_server_error(request)


# --- per-connection time limits ------------------------------------------------------------------------
def lock_timeout() -> float:
    return float(getattr(settings, "RAPPORT_DB_LOCK_TIMEOUT", 5))


def statement_timeout() -> float:
    return float(getattr(settings, "RAPPORT_DB_STATEMENT_TIMEOUT", 0))


def apply_timeouts(sender: Any, connection: Any, **kwargs: Any) -> None:
    """connection_created receiver: set this connection's lock and statement time limits (0 = none).

    On PostgreSQL it also turns JIT compilation off, in the same statement: a report query whose estimated
    cost passes ``jit_above_cost`` (the funnel's per-stage counts at 200,000 deals) spent 120 of its 300 ms
    compiling itself, on every run — JIT pays off for analytical queries running for seconds, never for a web
    request's."""
    lock_ms = max(0, round(lock_timeout() * 1000))
    if connection.vendor == "postgresql":
        statement_ms = max(0, round(statement_timeout() * 1000))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false), "
                "set_config('jit', 'off', false)",
                [str(lock_ms), str(statement_ms)],
            )
    elif connection.vendor == "sqlite":
        # 0 = wait as long as it takes (SQLite's own 0 would mean "do not wait at all").
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(lock_ms or 2**31 - 1)}")
