"""The embedded default: SQLite in WAL mode with immediate transactions; PostgreSQL by URL."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite settings")
    with connection.cursor() as cur:
        cur.execute("PRAGMA journal_mode")
        assert cur.fetchone()[0] == "wal"
        cur.execute("PRAGMA foreign_keys")
        assert cur.fetchone()[0] == 1
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_database_url_selects_the_engine(monkeypatch):
    import dj_database_url

    parsed = dj_database_url.parse("postgres://postgres@127.0.0.1:5432/rapport")
    assert parsed["ENGINE"] == "django.db.backends.postgresql" and parsed["NAME"] == "rapport"
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0  # persistent connections (DESIGN.md 12)
