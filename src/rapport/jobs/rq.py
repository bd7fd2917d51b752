"""RQ specifics: recovering abandoned jobs and reading RQ's registries for the jobs page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django_rq
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.worker import SimpleWorker


class InProcessWorker(SimpleWorker):
    """``rapport worker --no-fork``: each job runs in the worker process instead of a forked work horse, so the
    database connection, the caches and core.http's kept connections serve every job (a fork per job cost a fifth
    of the workers' CPU in bench/automation.py throughput). A job that crashes the process takes the worker with it:
    run it under a supervisor that restarts it. Around each job the database connections are handled as Django
    does around a request: closed if broken or past their age."""

    def execute_job(self, job: Any, queue: Any) -> None:
        from django.db import close_old_connections

        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            close_old_connections()


def _queues() -> list[Any]:
    from django_tasks import task_backends
    from django_tasks_rq.backend import Job as TaskJob

    names = sorted(task_backends["default"].queues)
    return [django_rq.get_queue(name, job_class=TaskJob) for name in names]


def recover_abandoned(now: float | None = None) -> int:
    """Run RQ's cleanup of jobs whose worker died: retried while attempts are left, else failed.

    RQ considers a started job abandoned once its heartbeat lapses (at least 60 s after the worker's death);
    ``now`` lets a test look further ahead. Workers do the same every 10 minutes; the scheduler does it each tick.
    """
    count = 0
    for queue in _queues():
        registry = StartedJobRegistry(queue=queue, job_class=queue.job_class)
        count += len(registry.get_expired_job_ids(now if now is not None else time.time()))
        registry.cleanup(timestamp=now)
    return count


@dataclass
class RQRow:
    id: str
    task_name: str
    status: str
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    max_attempts: int
    error: str
    traceback: str


def _row(job: Job, status: str) -> RQRow:
    max_attempts = int(job.meta.get("max_attempts", 1))
    retries_left = job.retries_left if job.retries_left is not None else 0
    attempts = max_attempts - retries_left if status == "failed" else max_attempts - retries_left - 1
    latest = job.latest_result()
    exc = (latest.exc_string or "") if latest is not None and status == "failed" else ""
    return RQRow(
        id=job.id,
        task_name=(job.func_name or "?").rsplit(".", 1)[-1],
        status=status,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.ended_at,
        attempts=max(attempts, 0),
        max_attempts=max_attempts,
        error=exc.strip().splitlines()[-1] if exc.strip() else "",
        traceback=exc,
    )


def list_jobs(status: str, limit: int = 50) -> list[RQRow]:
    """Jobs of one state from RQ's queue and registries, newest first, at most ``limit``."""
    rows: list[RQRow] = []
    for queue in _queues():
        if status == "queued":
            ids = list(reversed(queue.get_job_ids(offset=max(0, queue.count - limit), length=limit)))
            ids += ScheduledJobRegistry(queue=queue).get_job_ids(0, limit - 1)
        elif status == "running":
            ids = StartedJobRegistry(queue=queue).get_job_ids(0, limit - 1)
        else:
            ids = FailedJobRegistry(queue=queue).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids[:limit], connection=queue.connection):
            if job is not None:
                rows.append(_row(job, status))
    return rows[:limit]


def retry_failed(job_id: str) -> bool:
    """Requeue a failed job with a fresh set of attempts."""
    for queue in _queues():
        registry = FailedJobRegistry(queue=queue)
        if job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=queue.connection)
            max_attempts = int(job.meta.get("max_attempts", 1))
            job.retries_left = max_attempts - 1 if max_attempts > 1 else None
            job.save()
            registry.requeue(job_id)
            return True
    return False
