"""/healthz (the process answers, without the database) and /readyz (the database, the queue and a fresh
worker heartbeat), for load balancers and orchestrators: no login, no rate limit, JSON naming each check."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from rapport.jobs.models import WorkerHeartbeat


def beat(seconds_ago: float, worker_id: str = "w1") -> None:
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"beat_at": timezone.now() - timedelta(seconds=seconds_ago)}
    )


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")  # no db fixture: any query would fail the test
    assert response.status_code == 200 and response.json() == {"status": "alive"}
    assert "no-cache" in response["Cache-Control"]


@override_settings(RAPPORT_JOBS_STALE_AFTER=60)
def test_readyz_is_ready_with_a_fresh_worker_heartbeat(db, django_assert_num_queries):
    beat(5)
    beat(300, "w-dead")
    client = Client()  # no login: a load balancer's probe
    with django_assert_num_queries(3):  # SELECT 1, the queue, the heartbeats
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert list(body["checks"]) == ["database", "queue", "workers"]
    assert body["checks"]["database"]["ok"] and body["checks"]["database"]["vendor"] == connection.vendor
    assert body["checks"]["queue"]["ok"] and body["checks"]["queue"]["backend"] == "database"
    workers = body["checks"]["workers"]
    assert workers["ok"] and workers["alive"] == 1 and 4 <= workers["last_heartbeat_seconds_ago"] < 30


@override_settings(RAPPORT_JOBS_STALE_AFTER=60)
def test_readyz_reports_a_stale_worker_heartbeat_as_503(db):
    beat(61)
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"]
    workers = body["checks"]["workers"]
    assert workers["ok"] is False and workers["alive"] == 0
    assert 61 <= workers["last_heartbeat_seconds_ago"] < 90
    assert workers["error"] == "no worker heartbeat in the last 60 s: is `rapport worker` running?"


def test_readyz_without_any_worker_is_503(db):
    body = Client().get("/readyz").json()
    assert body["checks"]["workers"] == {
        "ok": False,
        "alive": 0,
        "error": "no worker is running: start `rapport worker`",
        "ms": body["checks"]["workers"]["ms"],
    }


@pytest.mark.django_db(transaction=True)
def test_during_an_outage_healthz_is_200_and_readyz_503_naming_the_database(monkeypatch):
    beat(1)
    refused: Exception = connection.Database.OperationalError("connection to server failed: Connection refused")
    if connection.vendor == "sqlite":
        refused = sqlite3.OperationalError("unable to open database file")

    def cannot_connect(*args: Any, **kwargs: Any) -> Any:
        raise refused

    client = Client()
    connection.close()
    with monkeypatch.context() as patch:
        patch.setattr(connection, "get_new_connection", cannot_connect)
        alive = client.get("/healthz")
        ready = client.get("/readyz")
    connection.close()
    assert alive.status_code == 200
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["error"] == f"OperationalError: {refused}"
    assert checks["workers"] == {"ok": False, "error": "not checked: the database is unavailable"}
    assert Client().get("/readyz").status_code == 200  # back, without a restart


def test_probes_need_no_login_and_only_read(db):
    for path in ("/healthz", "/readyz"):
        assert Client().get(path).status_code in (200, 503)  # an answer, not a redirect to the login page
        assert Client().post(path).status_code == 405
