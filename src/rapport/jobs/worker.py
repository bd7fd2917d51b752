"""The database-queue worker: claims ready jobs, runs them, retries with backoff, and requeues lost jobs.

django-tasks-db stores the queue (``DBTaskResult``); its own ``db_worker`` has no retries and leaves a job
RUNNING forever when its process dies, so Rapport runs this loop instead. Each worker keeps a heartbeat row;
a RUNNING job whose worker's heartbeat is stale is returned to the queue by the next worker or the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta
from traceback import format_exception
from typing import Any

from django.db import close_old_connections, connection, transaction
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import TaskContext, TaskResultStatus
from django_tasks.signals import task_finished, task_started
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from . import conf
from .base import max_attempts_of, retry_delay_of
from .models import WorkerHeartbeat

logger = logging.getLogger("rapport.jobs")


def _error_fields(exc: BaseException) -> dict[str, str]:
    return {
        "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "traceback": "".join(format_exception(exc)),
    }


def requeue_lost_jobs(*, backend_name: str = "default", now: datetime | None = None) -> int:
    """Return RUNNING jobs whose worker stopped beating to the queue (or fail them when out of attempts)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=conf.stale_after_seconds())
    running = list(
        DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, backend_name=backend_name).only(
            "id", "worker_ids", "started_at", "task_path", "priority", "queue_name", "run_after", "backend_name"
        )
    )
    if not running:
        return 0
    workers = {w.worker_id: w.beat_at for w in WorkerHeartbeat.objects.filter(worker_id__in=_last_workers(running))}
    requeued = 0
    for row in running:
        worker_id = row.worker_ids[-1] if row.worker_ids else ""
        beat = workers.get(worker_id)
        alive = beat is not None and beat >= cutoff
        if alive or (beat is None and row.started_at and row.started_at >= cutoff):
            continue
        message = f"Worker {worker_id or '?'} stopped while running this job (last heartbeat {beat or 'never'})."
        try:
            attempts_left = len(row.worker_ids) < max_attempts_of(row.task)
        except Exception:  # the task's code is gone: nothing to run again
            attempts_left = False
        fields: dict[str, Any] = {"exception_class_path": "rapport.jobs.worker.WorkerLost", "traceback": message}
        if attempts_left:
            fields.update(status=TaskResultStatus.READY, run_after=get_date_max())
        else:
            fields.update(status=TaskResultStatus.FAILED, finished_at=now)
        # Guarded on the claim we looked at, so a job that finished meanwhile is left alone.
        updated = DBTaskResult.objects.filter(
            id=row.id, status=TaskResultStatus.RUNNING, started_at=row.started_at
        ).update(**fields)
        if updated:
            requeued += 1
            logger.warning("job %s %s lost by worker %s: %s", row.id, row.task_path, worker_id, fields["status"])
    WorkerHeartbeat.objects.filter(beat_at__lt=now - timedelta(days=1)).delete()
    return requeued


def _last_workers(rows: list[DBTaskResult]) -> set[str]:
    return {row.worker_ids[-1] for row in rows if row.worker_ids}


class Worker:
    """One worker process's loop. ``run_pending`` drains the queue in the calling thread (tests, ``--batch``)."""

    def __init__(
        self,
        *,
        backend_name: str = "default",
        queue_names: list[str] | None = None,
        interval: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.backend_name = backend_name
        self.queue_names = queue_names
        self.interval = interval
        self.worker_id = worker_id or f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(8)}"
        self.running = True
        self._beating = threading.Event()
        self._last_recovery = 0.0

    # --- heartbeat ---------------------------------------------------------------------------
    def beat(self) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={"beat_at": timezone.now(), "hostname": socket.gethostname()[:255], "pid": os.getpid()},
        )

    def _heartbeat_loop(self) -> None:
        try:
            while not self._beating.wait(conf.heartbeat_seconds()):
                try:
                    self.beat()
                except Exception:
                    logger.exception("worker %s: heartbeat failed", self.worker_id)
        finally:
            connection.close()

    def start_heartbeat(self) -> threading.Thread:
        self.beat()
        thread = threading.Thread(target=self._heartbeat_loop, name="rapport-heartbeat", daemon=True)
        thread.start()
        return thread

    def stop_heartbeat(self) -> None:
        self._beating.set()
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()

    # --- the loop ----------------------------------------------------------------------------
    def claim(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if self.queue_names:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        try:
            with exclusive_transaction(tasks.db):
                row = tasks.get_locked()
                if row is not None:
                    row.claim(self.worker_id)
                return row
        except OperationalError as e:
            if is_locked_database_exception(e):
                return None
            raise

    def recover(self, force: bool = False) -> None:
        every = max(1.0, conf.stale_after_seconds() / 4)
        if force or time.monotonic() - self._last_recovery >= every:
            self._last_recovery = time.monotonic()
            requeue_lost_jobs(backend_name=self.backend_name)

    def run(self) -> None:
        logger.info("worker %s started (database queue)", self.worker_id)
        self.start_heartbeat()
        try:
            self.recover(force=True)
            while self.running:
                close_old_connections()
                row = self.claim()
                if row is not None:
                    self.execute(row)
                    continue
                self.recover()
                if self.running:
                    time.sleep(self.interval)
        finally:
            self.stop_heartbeat()
            logger.info("worker %s stopped", self.worker_id)

    def run_pending(self, max_jobs: int = 1000) -> int:
        """Run every job that is ready now, then return how many ran."""
        count = 0
        while count < max_jobs:
            row = self.claim()
            if row is None:
                break
            self.execute(row)
            count += 1
        return count

    def execute(self, row: DBTaskResult) -> None:
        started = time.monotonic()
        attempt = len(row.worker_ids)
        try:
            task = row.task
            result = row.task_result
        except Exception as exc:  # unknown task path: fail, never retry
            row.set_failed(exc)
            logger.error("job %s %s failed: %s", row.id, row.task_path, exc)
            return
        backend_type = type(task.get_backend())
        try:
            task_started.send(sender=backend_type, task_result=result)
            if task.takes_context:
                value = task.call(
                    TaskContext(task_result=result),  # type: ignore[arg-type]
                    *result.args,
                    **result.kwargs,
                )
            else:
                value = task.call(*result.args, **result.kwargs)
            row.set_successful(value)
        except Exception as exc:
            elapsed = (time.monotonic() - started) * 1000
            if attempt < max_attempts_of(task):
                delay = retry_delay_of(task, attempt)
                self._schedule_retry(row, exc, delay)
                logger.warning(
                    "job %s %s attempt %d failed in %.0f ms (%s: %s); retry in %.0f s",
                    row.id, task.name, attempt, elapsed, type(exc).__name__, exc, delay.total_seconds(),
                )  # fmt: skip
                return
            row.set_failed(exc)
            logger.error(
                "job %s %s failed after %d attempt(s) in %.0f ms: %s: %s",
                row.id, task.name, attempt, elapsed, type(exc).__name__, exc,
            )  # fmt: skip
            task_finished.send(sender=backend_type, task_result=row.task_result)
            return
        logger.info(
            "job %s %s ok (attempt %d) in %.0f ms", row.id, task.name, attempt, (time.monotonic() - started) * 1000
        )
        task_finished.send(sender=backend_type, task_result=row.task_result)

    def _schedule_retry(self, row: DBTaskResult, exc: BaseException, delay: timedelta) -> None:
        with transaction.atomic():
            DBTaskResult.objects.filter(id=row.id).update(
                status=TaskResultStatus.READY, run_after=timezone.now() + delay, **_error_fields(exc)
            )


def reset_for_retry(row_id: str) -> bool:
    """The admin's Retry: a failed job goes back to the queue with a fresh set of attempts."""
    return bool(
        DBTaskResult.objects.filter(id=row_id, status=TaskResultStatus.FAILED).update(
            status=TaskResultStatus.READY,
            run_after=get_date_max(),
            worker_ids=[],
            finished_at=None,
        )
    )
