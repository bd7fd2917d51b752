"""Per-user API rate limit: a fixed-window counter kept where every web process sees it.

By default the count lives in the database, one row per user, bumped by one atomic upsert per request
(`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on SQLite and PostgreSQL alike), so two workers cannot
each let the limit through. On PostgreSQL the table is unlogged (migration 0003): a count is worthless
after a crash, and a logged commit waited for the disk on every API request (~5.5 ms). With a shared cache
configured (`RAPPORT_CACHE_URL`, Redis) the count is an atomic cache increment instead. A per-process
count (Django's default local-memory cache) would let N workers through N times the limit.

DRF's SimpleRateThrottle keeps and re-pickles every request time of the window, which at thousands of
requests a minute costs more than the request itself.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .models import RateCounter

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


def _now() -> float:
    return time.time()


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


def _upsert_sql() -> str:
    sql = _UPSERT_SQL.get(connection.vendor)
    if sql is None:
        sql = _UPSERT_SQL[connection.vendor] = _build_upsert_sql()
    return sql


_UPSERT_SQL: dict[str, str] = {}


def _build_upsert_sql() -> str:
    q = connection.ops.quote_name
    table, key, window, count = (q(RateCounter._meta.db_table), q("key"), q("window_start"), q("count"))
    # A request from a newer window starts it at 1; one that arrives late from an older window (clocks of
    # two machines apart by a moment) counts in the current one rather than resetting it.
    newer = f"excluded.{window} > {table}.{window}"
    return (
        f"INSERT INTO {table} ({key}, {window}, {count}) VALUES (%s, %s, 1) "  # noqa: S608 (quoted names only)
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{count} = CASE WHEN {newer} THEN 1 ELSE {table}.{count} + 1 END, "
        f"{window} = CASE WHEN {newer} THEN excluded.{window} ELSE {table}.{window} END "
        f"RETURNING {count}, {window}"
    )


def count_in_database(key: str, window: int) -> tuple[int, int]:
    """Count one request under ``key`` in ``window``; returns (requests so far in the window, the window)."""
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), [key, window])
        count, counted_window = cursor.fetchone()
    return int(count), int(counted_window)


def count_in_cache(key: str, window: int, period: int) -> tuple[int, int]:
    key = f"rl:{key}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        return 1, window
    try:
        return int(cache.incr(key)), window
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1, window


class WindowRateThrottle(BaseThrottle):
    scope = "user"

    def __init__(self) -> None:
        self.wait_seconds = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return True
        limit, period = parse_rate(str(api_settings.DEFAULT_THROTTLE_RATES[self.scope]))
        now = _now()
        key = f"{self.scope}:{user.pk}"
        if getattr(settings, "RAPPORT_API_RATE_STORE", "database") == "cache":
            count, window = count_in_cache(key, int(now // period), period)
        else:
            count, window = count_in_database(key, int(now // period))
        if count > limit:
            self.wait_seconds = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float:
        return max(self.wait_seconds, 1.0)
