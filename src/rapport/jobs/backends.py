"""Rapport's RQ backend (RAPPORT_BROKER_URL=redis://...); the database queue is django-tasks-db's as it is."""

from __future__ import annotations

from typing import Any

from django_tasks.base import Task, TaskResult
from django_tasks_rq.backend import RQBackend as _RQBackend

from .base import RapportTask


class RQBackend(_RQBackend):
    """django-tasks-rq with each job's retry policy handed to RQ as ``Retry``.

    RQ then schedules failed attempts after the backoff, and its StartedJobRegistry cleanup retries a job
    whose worker died (an "abandoned" job) while attempts are left.
    """

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        import django_rq
        from django_tasks.base import TASK_MAX_PRIORITY, TaskResultStatus
        from django_tasks.signals import task_enqueued
        from django_tasks.utils import get_random_id
        from django_tasks_rq.backend import Job, failed_callback, success_callback
        from rq import Retry
        from rq.job import Callback, JobStatus

        self.validate_task(task)
        result: TaskResult = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        max_attempts = task.max_attempts if isinstance(task, RapportTask) else 1
        retry = Retry(max=max_attempts - 1, interval=task.retry_intervals()) if max_attempts > 1 else None  # type: ignore[attr-defined]
        queue = django_rq.get_queue(task.queue_name, job_class=Job)
        rq_job = queue.create_job(
            task.module_path,
            args=args,
            kwargs=kwargs,
            job_id=result.id,
            status=JobStatus.SCHEDULED if task.run_after else JobStatus.QUEUED,
            on_failure=Callback(failed_callback),
            on_success=Callback(success_callback),
            meta={"backend_name": self.alias, "max_attempts": max_attempts},
            retry=retry,
        )
        if task.run_after is None:
            rq_job = queue.enqueue_job(rq_job, at_front=task.priority == TASK_MAX_PRIORITY)
        else:
            rq_job = queue.schedule_job(rq_job, task.run_after)
        object.__setattr__(result, "enqueued_at", rq_job.enqueued_at)
        task_enqueued.send(type(self), task_result=result)
        return result
