"""Per-user API rate limit: a fixed-window counter (one cache increment per request).

DRF's SimpleRateThrottle keeps and re-pickles every request time of the window, which at
thousands of requests a minute costs more than the request itself.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


class WindowRateThrottle(BaseThrottle):
    scope = "user"

    def __init__(self) -> None:
        self.wait_seconds = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return True
        limit, period = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[self.scope])
        now = time.time()
        window = int(now // period)
        key = f"rl:{self.scope}:{user.pk}:{window}"
        if cache.add(key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=period + 1)
                count = 1
        if count > limit:
            self.wait_seconds = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float:
        return max(self.wait_seconds, 1.0)
