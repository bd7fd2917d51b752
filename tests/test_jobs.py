"""The job system on the database queue: retries with backoff, lost workers, the scheduler, events, the admin page."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from rapport.core.models import Event
from rapport.jobs import once
from rapport.jobs.models import JobEffect, PeriodicRun
from rapport.jobs.scheduler import Periodic, tick
from rapport.jobs.tasks import dispatch_events, sweep_events
from rapport.jobs.testing import always_fails, fail_twice, fail_twice_slowly, noop, send_test_email
from rapport.jobs.worker import Worker, requeue_lost_jobs

from .conftest import write
from .jobs_helpers import kill_hard, output, start, stop, wait_for


def run_pending() -> int:
    return Worker(worker_id="test-worker").run_pending()


def row(result: Any) -> DBTaskResult:
    return DBTaskResult.objects.get(id=result.id)


# --- retries --------------------------------------------------------------------------------------
def test_a_job_that_fails_twice_succeeds_on_the_third_attempt(db: Any) -> None:
    result = fail_twice.enqueue("order-42")
    assert run_pending() == 3
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.attempts == 3
    assert result.return_value == "succeeded on attempt 3"


def test_backoff_postpones_the_next_attempt(db: Any) -> None:
    result = fail_twice_slowly.enqueue("order-44")
    assert run_pending() == 1  # the retry is not due yet
    db_row = row(result)
    assert db_row.status == TaskResultStatus.READY
    assert db_row.run_after > timezone.now() + timedelta(seconds=25)
    assert db_row.exception_class_path == "builtins.RuntimeError"
    assert "attempt 1 fails on purpose" in db_row.traceback


def test_after_the_last_attempt_the_job_stays_failed_with_its_error(db: Any) -> None:
    result = always_fails.enqueue()
    assert run_pending() == 2
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2
    assert "this job always fails" in result.errors[0].traceback


# --- idempotent effects ---------------------------------------------------------------------------
def test_once_lets_an_effect_happen_once_per_key(db: Any) -> None:
    with once("welcome-email:7") as first:
        assert first
    with once("welcome-email:7") as again:
        assert not again
    assert JobEffect.objects.filter(key="welcome-email:7").count() == 1


def test_an_effect_that_raises_rolls_back_its_key(db: Any) -> None:
    with pytest.raises(RuntimeError), once("welcome-email:8"):
        raise RuntimeError("SMTP down")
    with once("welcome-email:8") as first:
        assert first


def test_a_job_lost_with_its_worker_is_queued_again_and_its_effect_not_repeated(db: Any) -> None:
    result = send_test_email.enqueue("lost-1")
    dead = Worker(worker_id="dead-worker")
    claimed = dead.claim()
    assert claimed is not None
    # The first run made its effect before the "crash":
    with once("test-email:lost-1") as first:
        assert first
    # The dead worker never beat; once its claim is older than the stale limit, it is requeued.
    assert requeue_lost_jobs(now=timezone.now() + timedelta(minutes=5)) == 1
    assert row(result).status == TaskResultStatus.READY
    assert "stopped while running" in row(result).traceback
    assert run_pending() == 1
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "already sent"
    assert result.attempts == 2


def test_a_running_job_of_a_live_worker_is_left_alone(db: Any) -> None:
    noop.enqueue()
    live = Worker(worker_id="live-worker")
    live.beat()
    assert live.claim() is not None
    assert requeue_lost_jobs() == 0


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_job_another_worker_finishes_it_and_the_effect_happens_once(tmp_path: Any) -> None:
    """Real processes: SIGKILL a worker after the job's effect committed, while it is still running."""
    email = send_test_email.enqueue("kill-1", sleep_first_attempt=60)
    retried = fail_twice.enqueue("kill-2")
    first = start("worker", tmp_path, "--interval", "0.2")
    try:
        wait_for(lambda: Event.objects.filter(request_id="kill-1").exists(), what="the effect of the first attempt")
        assert row(email).status == TaskResultStatus.RUNNING
    finally:
        kill_hard(first)
    assert row(email).status == TaskResultStatus.RUNNING  # nobody said it stopped: only its heartbeat went quiet

    second = start("worker", tmp_path, "--interval", "0.2")
    try:
        wait_for(lambda: row(email).status == TaskResultStatus.SUCCESSFUL, what="the job to be finished by worker 2")
        wait_for(lambda: row(retried).status == TaskResultStatus.SUCCESSFUL, what="the flaky job to succeed")
    finally:
        assert stop(second) == 0, output(second)
    assert Event.objects.filter(request_id="kill-1").count() == 1
    email.refresh()
    assert email.attempts == 2
    assert email.return_value == "already sent"
    retried.refresh()
    assert retried.attempts == 3
    log = output(second)
    assert "lost by worker" in log
    assert "send_test_email ok (attempt 2)" in log
    assert "fail_twice ok (attempt 3)" in log


# --- scheduler ------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_enqueue_each_periodic_job_once_per_slot() -> None:
    entries = [
        Periodic(name="every-minute", task=noop, every=timedelta(minutes=1)),
        Periodic(name="every-5-minutes", task=noop.using(priority=1), every=timedelta(minutes=5)),
    ]
    start_at = datetime(2025, 3, 30, 0, 0, 30, tzinfo=UTC)
    ticks = [start_at + timedelta(seconds=20 * i) for i in range(30)]  # 00:00:30 to 00:10:10, 3 ticks a minute
    barrier = threading.Barrier(2)
    enqueued: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def scheduler(n: int) -> None:
        try:
            for now in ticks:
                barrier.wait(timeout=10)
                enqueued[n] += tick(now=now, entries=entries)
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    all_enqueued = enqueued[0] + enqueued[1]
    assert all_enqueued.count("every-minute") == 11  # 00:00 ... 00:10
    assert all_enqueued.count("every-5-minutes") == 3  # 00:00, 00:05, 00:10
    assert PeriodicRun.objects.filter(name="every-minute").count() == 11
    assert DBTaskResult.objects.filter(task_path="rapport.jobs.testing.noop").count() == 14


def test_slots_follow_the_interval_and_offset() -> None:
    daily = Periodic(name="digest", task=noop, every=timedelta(days=1), offset=timedelta(hours=6))
    assert daily.slot(datetime(2025, 6, 2, 5, 59, tzinfo=UTC)) == datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
    assert daily.slot(datetime(2025, 6, 2, 6, 0, tzinfo=UTC)) == datetime(2025, 6, 2, 6, 0, tzinfo=UTC)


def test_the_built_in_periodic_jobs_are_registered(db: Any) -> None:
    names = tick()
    assert {"sweep_events", "prune_jobs"} <= set(names)
    assert tick() == []  # same slot: nothing again
    assert run_pending() >= 2


# --- events ---------------------------------------------------------------------------------------
def test_dispatch_marks_new_events_dispatched_and_the_sweep_waits_for_its_grace(users: Any) -> None:
    write("companies", {"name": "Initech"}, actor=users["member"])
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 1
    # The write's own dispatch job (written in its transaction) never runs, as after a crash: left to the sweep.
    DBTaskResult.objects.filter(task_path=dispatch_events.module_path).delete()
    sweep_events.enqueue()
    run_pending()
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 1  # younger than the sweep's grace
    Event.objects.update(occurred_at=timezone.now() - timedelta(minutes=5))
    sweep_events.enqueue()
    run_pending()
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 0


def test_dispatch_calls_consumers_once_per_event(users: Any, monkeypatch: Any) -> None:
    from rapport.jobs import events

    seen: list[int] = []
    monkeypatch.setattr(events, "CONSUMERS", [lambda event: seen.append(event.id)])
    company = write("companies", {"name": "Initech"}, actor=users["member"])
    write("companies", {"name": "Initrode"}, actor=users["member"], instance=company)
    dispatch_events.enqueue()
    dispatch_events.enqueue()
    run_pending()
    assert sorted(seen) == sorted(Event.objects.values_list("id", flat=True))


def test_a_dispatch_that_reaches_its_limit_queues_the_next_one(users: Any, monkeypatch: Any) -> None:
    from rapport.jobs import events

    monkeypatch.setattr(events, "DISPATCH_LIMIT", 3)
    monkeypatch.setattr(events, "BATCH", 2)
    for n in range(7):
        write("companies", {"name": f"Burst {n}"}, actor=users["member"])
    DBTaskResult.objects.filter(task_path=dispatch_events.module_path).delete()  # one job for the whole burst
    dispatch_events.enqueue()
    # 7 events, 3 per job: the first job takes 3 (in batches of 2 and 1) and queues a second, which takes 3 and
    # queues a third, which takes the last one and queues none — no event is left to the sweep
    assert run_pending() == 3
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 0
    assert not DBTaskResult.objects.filter(task_path=dispatch_events.module_path, status="READY").exists()


# --- admin page -----------------------------------------------------------------------------------
def test_jobs_page_is_for_administrators_only(client: Any, users: Any) -> None:
    client.force_login(users["member"])
    assert client.get("/settings/jobs/").status_code == 403
    client.force_login(users["manager"])
    assert client.get("/settings/jobs/").status_code == 403
    client.logout()
    assert client.get("/settings/jobs/").status_code == 302


def test_jobs_page_lists_failed_jobs_with_their_error_and_retries_them(
    client: Any, users: Any, django_assert_max_num_queries: Any
) -> None:
    failed = always_fails.enqueue()
    run_pending()
    for _ in range(3):
        noop.enqueue()
    client.force_login(users["admin"])
    with django_assert_max_num_queries(12):
        page = client.get("/settings/jobs/?state=failed")
    html = page.content.decode()
    assert page.status_code == 200
    assert "always_fails" in html and "this job always fails" in html and "2 / 2" in html
    queued = client.get("/settings/jobs/?state=queued").content.decode()
    assert queued.count(">noop<") == 3
    assert client.get("/settings/jobs/?state=bogus").status_code == 200

    response = client.post(f"/settings/jobs/{failed.id}/retry/")
    assert response.status_code == 302
    assert row(failed).status == TaskResultStatus.READY
    assert row(failed).worker_ids == []
    assert client.post(f"/settings/jobs/{failed.id}/retry/").status_code == 404  # no longer failed
    assert client.post("/settings/jobs/not-a-uuid/retry/").status_code == 404
    client.force_login(users["member"])
    assert client.post(f"/settings/jobs/{failed.id}/retry/").status_code == 403


def test_jobs_page_escapes_errors(client: Any, users: Any) -> None:
    result = noop.enqueue()
    DBTaskResult.objects.filter(id=result.id).update(
        status=TaskResultStatus.FAILED, traceback="Traceback\nValueError: <script>alert(1)</script>"
    )
    client.force_login(users["admin"])
    html = client.get("/settings/jobs/?state=failed").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_the_database_queue_writes_the_row_django_tasks_db_writes_in_one_statement(db: Any) -> None:
    """rapport.jobs.dbqueue: the job row by one INSERT built once, the same row as django-tasks-db's own
    backend makes (through the ORM and its pre_save handler), read back and run as before."""
    from django.test.utils import CaptureQueriesContext
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend as Original
    from django_tasks_db.models import get_date_max

    from rapport.jobs.dbqueue import DatabaseBackend

    backend = task_backends["default"]
    assert isinstance(backend, DatabaseBackend)
    original = Original("default", {"QUEUES": ["default"]})
    later = timezone.now() + timedelta(hours=1)
    for task, args in ((dispatch_events, [2]), (dispatch_events.using(run_after=later, priority=5), [])):
        with CaptureQueriesContext(connection) as queries:
            ours = backend.enqueue(task, args, {})
        assert len(queries) == 1 and queries[0]["sql"].startswith('INSERT INTO "django_tasks_database_dbtaskresult"')
        theirs = original.enqueue(task, args, {})
        mine, other = (
            {f.attname: getattr(row(r), f.attname) for f in DBTaskResult._meta.concrete_fields} for r in (ours, theirs)
        )
        assert mine.pop("id") != other.pop("id")
        assert abs(mine.pop("enqueued_at") - other.pop("enqueued_at")) < timedelta(seconds=5)
        assert mine == other
        assert row(ours).run_after == (later if task.run_after else get_date_max())
        assert backend.get_result(ours.id).status == TaskResultStatus.READY
    assert run_pending() == 2  # the two without a run_after
    assert row(ours).status == TaskResultStatus.READY  # run_after an hour from now: not yet
