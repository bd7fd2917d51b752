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
from django.db.utils import InterfaceError, OperationalError
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

# What a lost database looks like to a loop: it waits and reconnects (closing the broken connection) instead
# of exiting. Backoff between attempts: 0.5 s, doubling, at most OUTAGE_MAX_WAIT.
OUTAGE_ERRORS = (OperationalError, InterfaceError)
OUTAGE_FIRST_WAIT = 0.5
OUTAGE_MAX_WAIT = 30.0


def outage_wait(failures: int) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure to reach the database (1, 2, …)."""
    return min(OUTAGE_MAX_WAIT, OUTAGE_FIRST_WAIT * 2 ** max(0, failures - 1))


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
        self._in_hand: DBTaskResult | None = None  # the claimed job, until its outcome is written
        self._in_hand_error: BaseException | None = None
        self.outages = 0  # consecutive failures to reach the database

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
                except OUTAGE_ERRORS as exc:
                    logger.warning("worker %s: heartbeat failed, database unavailable: %s", self.worker_id, exc)
                    connection.close()  # reconnect on the next beat
                except Exception:
                    logger.exception("worker %s: heartbeat failed", self.worker_id)
        finally:
            connection.close()

    def start_heartbeat(self) -> threading.Thread:
        try:
            self.beat()
        except OUTAGE_ERRORS as exc:  # the loop waits for the database; the thread beats once it is back
            logger.warning("worker %s: first heartbeat failed, database unavailable: %s", self.worker_id, exc)
            connection.close()
        thread = threading.Thread(target=self._heartbeat_loop, name="rapport-heartbeat", daemon=True)
        thread.start()
        return thread

    def stop_heartbeat(self) -> None:
        self._beating.set()
        try:
            WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()
        except OUTAGE_ERRORS as exc:  # stopping during an outage: the beat goes stale on its own
            logger.warning("worker %s: could not remove its heartbeat: %s", self.worker_id, exc)

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
        recovered = False
        try:
            while self.running:
                try:
                    close_old_connections()
                    self._finish_interrupted()
                    if not recovered:
                        self.recover(force=True)
                        recovered = True
                    ran = self.poll()
                    if self.outages:
                        logger.warning("worker %s: database is back, working again", self.worker_id)
                        self.outages = 0
                except OUTAGE_ERRORS as exc:
                    self._wait_for_database(exc)
                    continue
                if not ran and self.running:
                    time.sleep(self.interval)
        finally:
            self.stop_heartbeat()
            logger.info("worker %s stopped", self.worker_id)

    def poll(self) -> bool:
        """Claim and run one ready job (True), or look for lost jobs when there is none (False)."""
        row = self.claim()
        if row is not None:
            self.execute(row)
            return True
        self.recover()
        return False

    def _wait_for_database(self, exc: BaseException) -> None:
        """The database went away: drop the broken connection, wait (growing backoff), try again."""
        self.outages += 1
        wait = outage_wait(self.outages)
        logger.warning(
            "worker %s: database unavailable (%s: %s); retrying in %.1f s",
            self.worker_id, type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "",
            wait,
        )  # fmt: skip
        if self._in_hand is not None and self._in_hand_error is None:
            self._in_hand_error = exc
        connection.close()
        deadline = time.monotonic() + wait
        while self.running and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _finish_interrupted(self) -> None:
        """A job whose outcome could not be written because the database went away goes back to the queue
        (as a failed attempt, with its retries and backoff) or fails when it was its last attempt. Its effects
        made with ``once()`` are not repeated; anything else it wrote was rolled back with its transaction."""
        row = self._in_hand
        if row is None:
            return
        exc = self._in_hand_error or OperationalError("the database went away during the job")
        attempt = len(row.worker_ids)
        try:
            task = row.task
            attempts_left = attempt < max_attempts_of(task)
            delay = retry_delay_of(task, attempt) if attempts_left else timedelta(0)
        except Exception:
            attempts_left, delay = False, timedelta(0)
        fields: dict[str, Any] = _error_fields(exc)
        if attempts_left:
            fields.update(status=TaskResultStatus.READY, run_after=timezone.now() + delay)
        else:
            fields.update(status=TaskResultStatus.FAILED, finished_at=timezone.now())
        # Only our own claim: a scheduler that took the job for lost meanwhile has already put it back.
        DBTaskResult.objects.filter(id=row.id, status=TaskResultStatus.RUNNING, started_at=row.started_at).update(
            **fields
        )
        logger.warning(
            "job %s %s interrupted by the database outage (attempt %d): %s",
            row.id, row.task_path, attempt, fields["status"],
        )  # fmt: skip
        self._in_hand = None
        self._in_hand_error = None

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
        self._in_hand = row
        self._execute(row)
        self._in_hand = None

    def _execute(self, row: DBTaskResult) -> None:
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
