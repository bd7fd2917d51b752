"""Every process survives a database outage: the worker and the scheduler wait and reconnect instead of
exiting, a job interrupted by the outage goes back to the queue and its effect happens once, and
``rapport up`` starts a killed child again while the site keeps answering."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.db import OperationalError, connection
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from rapport.core.models import Event
from rapport.jobs import scheduler as scheduler_module
from rapport.jobs import worker as worker_module
from rapport.jobs.models import PeriodicRun, WorkerHeartbeat
from rapport.jobs.scheduler import Periodic, Scheduler
from rapport.jobs.testing import noop, send_test_email
from rapport.jobs.worker import Worker, outage_wait

from .jobs_helpers import output, start, stop, wait_for

DOWN = "server closed the connection unexpectedly"


def test_the_wait_between_attempts_doubles_up_to_a_limit():
    assert [outage_wait(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def run_in_thread(loop: Any) -> threading.Thread:
    def target() -> None:
        try:
            loop()
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_the_worker_survives_a_database_outage_in_its_poll_loop_and_works_on(monkeypatch, caplog):
    monkeypatch.setattr(worker_module, "OUTAGE_FIRST_WAIT", 0.05)
    real_claim = Worker.claim
    failures = {"left": 3}

    def claim(self: Worker) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError(DOWN)
        return real_claim(self)

    monkeypatch.setattr(Worker, "claim", claim)
    result = noop.enqueue()
    worker = Worker(worker_id="survivor", interval=0.05)
    caplog.set_level(logging.WARNING, logger="rapport.jobs")
    thread = run_in_thread(worker.run)
    try:
        wait_for(lambda: DBTaskResult.objects.get(id=result.id).status == TaskResultStatus.SUCCESSFUL, what="the job")
    finally:
        worker.running = False
        thread.join(10)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records if r.name == "rapport.jobs"]
    unavailable = [m for m in messages if "database unavailable" in m]
    assert len(unavailable) == 3
    assert "retrying in 0.1 s" in unavailable[1] and "retrying in 0.2 s" in unavailable[2]  # backoff doubles
    assert any("database is back" in m for m in messages)
    assert worker.outages == 0


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_end_the_outage_interrupted_is_queued_again_and_its_effect_happens_once(monkeypatch):
    """The job ran and made its effect; then the database went away before its success (and its retry) could
    be written. Once the database is back, the worker puts its own claim back in the queue; the next attempt
    finds the effect made and does not make it again."""
    monkeypatch.setattr(worker_module, "OUTAGE_FIRST_WAIT", 0.05)
    real_success = DBTaskResult.set_successful
    real_retry = Worker._schedule_retry
    down = {"success": 1, "retry": 1}

    def set_successful(self: DBTaskResult, value: Any) -> None:
        if down["success"]:
            down["success"] -= 1
            raise OperationalError(DOWN)
        real_success(self, value)

    def schedule_retry(self: Worker, *args: Any) -> None:
        if down["retry"]:
            down["retry"] -= 1
            raise OperationalError(DOWN)
        real_retry(self, *args)

    monkeypatch.setattr(DBTaskResult, "set_successful", set_successful)
    monkeypatch.setattr(Worker, "_schedule_retry", schedule_retry)
    result = send_test_email.enqueue("outage-1")
    worker = Worker(worker_id="interrupted", interval=0.05)
    thread = run_in_thread(worker.run)
    try:
        wait_for(lambda: DBTaskResult.objects.get(id=result.id).status == TaskResultStatus.SUCCESSFUL, what="the job")
    finally:
        worker.running = False
        thread.join(10)
    result.refresh()
    assert result.attempts == 2 and result.return_value == "already sent"
    assert Event.objects.filter(request_id="outage-1").count() == 1
    assert down == {"success": 0, "retry": 0}


@pytest.mark.django_db(transaction=True)
def test_the_scheduler_survives_a_database_outage_and_enqueues_once_it_is_back(monkeypatch, caplog):
    monkeypatch.setattr(worker_module, "OUTAGE_FIRST_WAIT", 0.05)
    entries = [Periodic(name="survival-every-hour", task=noop, every=scheduler_module.timedelta(hours=1))]
    real_tick = scheduler_module.tick
    failures = {"left": 2}

    def tick(*args: Any, **kwargs: Any) -> list[str]:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError(DOWN)
        return real_tick(entries=entries)

    monkeypatch.setattr(scheduler_module, "tick", tick)
    caplog.set_level(logging.WARNING, logger="rapport.jobs")
    scheduler = Scheduler(interval=0.05)
    thread = run_in_thread(scheduler.run)
    try:
        wait_for(lambda: PeriodicRun.objects.filter(name="survival-every-hour").exists(), what="the periodic job")
    finally:
        scheduler.stop()
        thread.join(10)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records if r.name == "rapport.jobs"]
    assert sum("scheduler: database unavailable" in m for m in messages) == 2
    assert any("scheduler: database is back" in m for m in messages)
    assert PeriodicRun.objects.filter(name="survival-every-hour").count() == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def pid_of(log: str, name: str, after: int = 0) -> int | None:
    found = [int(p) for p in re.findall(rf"rapport up: {name} (?:started|restarted) \(pid (\d+)", log)]
    return found[after] if len(found) > after else None


@pytest.mark.django_db(transaction=True)
def test_rapport_up_restarts_a_killed_child_and_the_site_keeps_answering(tmp_path):
    """Real processes: `rapport up` with gunicorn, a worker and the scheduler; SIGKILL the worker (as the kernel's
    out-of-memory killer would): it is started again, the site answers all along, /readyz sees the new worker."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = start(
        "up",
        tmp_path,
        "--port",
        str(port),
        RAPPORT_WEB_WORKERS="1",
        RAPPORT_WEB_THREADS="2",
        RAPPORT_JOBS_STALE_AFTER="10",  # a loaded machine may delay a beat: only the new worker's row is asked for
    )
    try:
        first = wait_for(lambda: pid_of(output(up), "worker"), timeout=30, what="the worker to start")
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30, what="the site to answer")
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, timeout=30, what="the worker's heartbeat")
        os.kill(int(first), signal.SIGKILL)  # type: ignore[arg-type]
        answered = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pid_of(output(up), "worker", after=1) is None:
            answered.append(get(f"{base}/healthz")[0])
            time.sleep(0.1)
        second = pid_of(output(up), "worker", after=1)
        assert second is not None, output(up)
        assert second != first
        os.kill(second, 0)  # it runs
        assert answered and set(answered) == {200}  # the site answered while the worker was down
        wait_for(lambda: WorkerHeartbeat.objects.filter(pid=second).exists(), timeout=30, what="its heartbeat")
        status, body = get(f"{base}/readyz")
        assert status == 200 and body["checks"]["workers"]["ok"], body
    finally:
        code = stop(up)
    log = output(up)
    assert f"rapport up: worker (pid {first}) killed by SIGKILL" in log, log
    assert "restarting in 1 s" in log
    assert code == 0, log


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
