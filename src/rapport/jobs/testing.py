"""Jobs used by the test suite's real worker processes (importable by any worker, harmless if enqueued)."""

from __future__ import annotations

import time

from django.utils import timezone

from rapport.core.models import Event

from .base import job, once
from .models import JobEffect


@job(max_attempts=3, backoff=0)
def fail_twice(key: str) -> str:
    """Fails on its first two attempts, counted by effect rows, and succeeds on the third."""
    attempts = JobEffect.objects.filter(key__startswith=f"{key}:attempt:").count() + 1
    JobEffect.objects.create(key=f"{key}:attempt:{attempts}")
    if attempts < 3:
        raise RuntimeError(f"attempt {attempts} fails on purpose")
    return f"succeeded on attempt {attempts}"


@job(max_attempts=3, backoff=lambda attempt: 30.0 * attempt)
def fail_twice_slowly(key: str) -> str:
    return fail_twice.call(key)


@job(max_attempts=2, backoff=0)
def always_fails() -> None:
    raise ValueError("this job always fails")


@job(max_attempts=3, backoff=0)
def send_test_email(key: str, sleep_first_attempt: float = 0) -> str:
    """An effect made once per key (a "sent email" event row), then slow work in the run that made it."""
    with once(f"test-email:{key}") as first:
        if first:
            Event.objects.create(
                type_key="jobs", record_id=0, kind="test_email", source="system", request_id=key[:64],
                occurred_at=timezone.now(), dispatched_at=timezone.now(),
            )  # fmt: skip
    if first and sleep_first_attempt:
        time.sleep(sleep_first_attempt)  # the test kills the worker here, after the effect committed
    return "sent" if first else "already sent"


@job(max_attempts=1)
def noop() -> None:
    return None
