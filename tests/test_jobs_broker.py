"""The job system on RQ with the real Redis (RAPPORT_TEST_REDIS_URL) and real ``rapport worker`` processes.

Skipped unless RAPPORT_TEST_REDIS_URL is set; .ci/run sets it to a scratch Redis database.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from django.test import override_settings
from django_tasks import TaskResultStatus, task_backends

from rapport.core.models import Event

from .jobs_helpers import kill_hard, output, start, stop, wait_for

REDIS_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "")
pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(not REDIS_URL, reason="set RAPPORT_TEST_REDIS_URL=redis://127.0.0.1:6379/15 to run"),
]
RQ_SETTINGS = {
    "TASKS": {"default": {"BACKEND": "rapport.jobs.backends.RQBackend", "QUEUES": ["default"]}},
    "RQ_QUEUES": {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900}},
}


@pytest.fixture
def rq(transactional_db: Any) -> Any:
    with override_settings(**RQ_SETTINGS):
        import django_rq

        connection = django_rq.get_connection("default")
        connection.flushdb()
        yield connection
        connection.flushdb()


def result_of(task: Any, result_id: str) -> Any:
    return task_backends["default"].get_result(result_id)


def test_rq_backend_is_selected_and_enqueues(rq: Any) -> None:
    from rapport.jobs import conf
    from rapport.jobs.testing import noop

    assert conf.uses_rq()
    result = noop.enqueue()
    assert result_of(noop, result.id).status == TaskResultStatus.READY


@pytest.mark.parametrize("fork", [(), ("--no-fork",)], ids=["fork", "no-fork"])
def test_a_job_that_fails_twice_succeeds_on_the_third_attempt(rq: Any, tmp_path: Any, fork: tuple[str, ...]) -> None:
    from rapport.jobs.models import JobEffect
    from rapport.jobs.testing import always_fails, fail_twice

    flaky = fail_twice.enqueue("rq-1")
    doomed = always_fails.enqueue()
    worker = start("worker", tmp_path, *fork, broker_url=REDIS_URL)
    try:
        wait_for(lambda: result_of(fail_twice, flaky.id).status == TaskResultStatus.SUCCESSFUL, 30, "the third attempt")
        wait_for(lambda: result_of(always_fails, doomed.id).status == TaskResultStatus.FAILED, 30, "the final failure")
    finally:
        assert stop(worker) == 0, output(worker)
    assert JobEffect.objects.filter(key__startswith="rq-1:attempt:").count() == 3
    assert result_of(fail_twice, flaky.id).return_value == "succeeded on attempt 3"

    # The failure is listed with its error on the admin page, and Retry queues it again.
    from rapport.jobs.rq import list_jobs, retry_failed

    failed = list_jobs("failed")
    assert [r.id for r in failed] == [doomed.id]
    assert "this job always fails" in failed[0].traceback
    assert failed[0].attempts == 2
    assert retry_failed(doomed.id)
    assert [r.id for r in list_jobs("queued")] == [doomed.id]


@pytest.mark.parametrize("fork", [(), ("--no-fork",)], ids=["fork", "no-fork"])
def test_worker_killed_mid_job_the_job_is_retried_and_its_effect_happens_once(
    rq: Any, tmp_path: Any, fork: tuple[str, ...]
) -> None:
    from rapport.jobs.rq import list_jobs, recover_abandoned
    from rapport.jobs.testing import send_test_email

    email = send_test_email.enqueue("rq-kill", sleep_first_attempt=60)
    first = start("worker", tmp_path, *fork, broker_url=REDIS_URL)
    try:
        wait_for(lambda: Event.objects.filter(request_id="rq-kill").exists(), 30, "the first attempt's effect")
        assert [r.id for r in list_jobs("running")] == [email.id]
    finally:
        kill_hard(first)  # worker and work horse, like a machine dying

    # RQ takes a started job for abandoned once its heartbeat lapses (>= 60 s); look that far ahead. A worker
    # without a work horse beats no heartbeat while its job runs: the job's entry lasts its timeout (900 s) + 60 s.
    early, ahead = (59, 180) if not fork else (179, 900 + 60 + 60)
    assert recover_abandoned(now=time.time() + early) == 0
    assert recover_abandoned(now=time.time() + ahead) == 1
    second = start("worker", tmp_path, *fork, broker_url=REDIS_URL)
    try:
        wait_for(lambda: result_of(send_test_email, email.id).status == TaskResultStatus.SUCCESSFUL, 30, "the retry")
    finally:
        assert stop(second) == 0, output(second)
    assert Event.objects.filter(request_id="rq-kill").count() == 1
    assert result_of(send_test_email, email.id).return_value == "already sent"


def test_two_scheduler_processes_enqueue_each_slot_once(rq: Any, tmp_path: Any) -> None:
    from rapport.jobs.models import PeriodicRun

    schedulers = [start("scheduler", tmp_path, "--interval", "0.2", broker_url=REDIS_URL) for _ in range(2)]
    try:
        time.sleep(3)
    finally:
        for proc in schedulers:
            assert stop(proc) == 0, output(proc)
    import django_rq

    from rapport.jobs.scheduler import registered

    function_of = {p.name: p.task.func.__name__ for p in registered()}
    queued = django_rq.get_queue("default").get_jobs()
    names = sorted(job.func_name.rsplit(".", 1)[-1] for job in queued)
    slots = list(PeriodicRun.objects.values_list("name", "slot"))
    # every claimed slot was enqueued exactly once, by one of the two schedulers
    assert len(slots) == len(set(slots))
    assert names == sorted(function_of[name] for name, _ in slots)
    # each periodic job got its current slot (a minute boundary may add one more per-minute slot)
    assert {name for name, _ in slots} == set(function_of)
