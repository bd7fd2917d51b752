"""Liveness and readiness for load balancers and orchestrators.

``/healthz``: the process answers (no database, no session, no login): restart it when this fails.
``/readyz``: the process can do its work: the database answers, and every registered check passes (the job
queue is reachable, a worker's heartbeat is fresh — registered by ``rapport.jobs``). 200 when all pass, 503
when one fails; the JSON body names each check. Neither needs a login or counts toward the API rate limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

# A check returns details to show (a dict, with "ok": False when it fails) or raises when it fails.
Check = Callable[[], dict[str, Any]]
_checks: dict[str, tuple[Check, bool]] = {}


def readiness_check(name: str, check: Check, *, needs_database: bool = True) -> None:
    """Register a readiness check (from an app's ``ready()``); ``/readyz`` runs them in order of registration,
    those that need the database only when it answered."""
    _checks[name] = (check, needs_database)


def database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def _run(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # a failed check is an answer, not an error page
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
        if connection.errors_occurred:
            connection.close_if_unusable_or_obsolete()
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _run(database)}
    for name, (check, needs_database) in _checks.items():
        if needs_database and not checks["database"]["ok"]:
            checks[name] = {"ok": False, "error": "not checked: the database is unavailable"}
        else:
            checks[name] = _run(check)
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
