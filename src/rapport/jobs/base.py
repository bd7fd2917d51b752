"""Declaring jobs: ``@job`` wraps Django's Tasks API with a retry policy; ``once`` makes effects idempotent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.version import PY311
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME
from django_tasks.base import Task

Backoff = Callable[[int], float]


def exponential_backoff(attempt: int, *, base: float = 10.0, cap: float = 3600.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 10 s, 20 s, 40 s... at most an hour."""
    return min(cap, base * 2 ** (attempt - 1))


@dataclass(frozen=True, slots=PY311, kw_only=True)  # type: ignore[literal-required]
class RapportTask(Task):
    """A django-tasks Task that carries its retry policy; the worker (or RQ) applies it."""

    max_attempts: int = 5
    backoff: Backoff = exponential_backoff

    def retry_delay(self, attempts_made: int) -> float:
        return float(self.backoff(attempts_made))

    def retry_intervals(self) -> list[int]:
        """The waits before attempts 2..max_attempts, for brokers that take the whole list up front (RQ)."""
        return [max(0, round(self.retry_delay(n))) for n in range(1, self.max_attempts)]


def job(
    function: Callable[..., Any] | None = None,
    *,
    max_attempts: int = 5,
    backoff: Backoff | float = exponential_backoff,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    priority: int = 0,
    takes_context: bool = False,
) -> Any:
    """Declare a background job: ``@job`` or ``@job(max_attempts=3, backoff=5)``.

    Enqueue it with ``my_job.enqueue(*json_args)``; it runs on whichever backend TASKS configures. A job that
    raises is attempted again after ``backoff(attempt)`` seconds (a number means a fixed wait) until
    ``max_attempts`` attempts were made; then it stays failed with its error on /settings/jobs/.
    Jobs can run more than once (retries, a worker lost mid-job): make their effects idempotent with ``once``.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    policy: Backoff = backoff if callable(backoff) else _fixed(float(backoff))

    def wrap(func: Callable[..., Any]) -> RapportTask:
        return RapportTask(
            func=func,
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            takes_context=takes_context,
            run_after=None,
            max_attempts=max_attempts,
            backoff=policy,
        )

    return wrap(function) if function is not None else wrap


@dataclass(frozen=True)
class _fixed:  # noqa: N801 - used like a function
    seconds: float

    def __call__(self, attempt: int) -> float:
        return self.seconds


def max_attempts_of(task: Any) -> int:
    return task.max_attempts if isinstance(task, RapportTask) else 1


def retry_delay_of(task: Any, attempts_made: int) -> timedelta:
    delay = task.retry_delay(attempts_made) if isinstance(task, RapportTask) else 0.0
    return timedelta(seconds=delay)


@contextmanager
def once(key: str) -> Iterator[bool]:
    """Run a job's effect at most once per ``key``, in one transaction with the key's record.

        with once(f"reminder-email:{reminder.pk}:{reminder.due_at:%s}") as first:
            if first:
                ...  # write the effect's rows here

    Yields True the first time (the effect's writes commit together with the key) and False when the key
    was already recorded by an earlier run. If the block raises, the key and the effect roll back together,
    so a retry does it again. For effects outside the database (SMTP, HTTP) the key is committed with the
    outgoing message's row (an outbox) and the sender delivers from there, or the remote side is given the key.
    """
    from .models import JobEffect

    with transaction.atomic():
        try:
            with transaction.atomic():
                JobEffect.objects.create(key=key[:200])
        except IntegrityError:
            yield False
            return
        yield True
