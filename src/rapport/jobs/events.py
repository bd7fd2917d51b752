"""Event dispatch (DESIGN.md §2): events written with a change are handed to consumers after commit.

Consumers (automation, webhooks, integrations) register a callable taking an Event; each is called at least
once per event, so it must be idempotent by event id. Delivery is the ``dispatch_events`` job: enqueued on
commit by ``schedule_dispatch()`` and, for anything missed (a crash between commit and enqueue, a failed
dispatch), by the periodic sweep, which picks up events still undispatched after a grace period.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from rapport.core.models import Event

Consumer = Callable[[Event], None]
BatchConsumer = Callable[[list[Event]], None]
CONSUMERS: list[Consumer] = []
BATCH_CONSUMERS: list[BatchConsumer] = []
BATCH = 500
DISPATCH_LIMIT = 5000  # events per dispatch job; the job queues the next one when it reached it


def register_consumer(consumer: Consumer) -> Consumer:
    CONSUMERS.append(consumer)
    return consumer


def register_batch_consumer(consumer: BatchConsumer) -> BatchConsumer:
    """A consumer called once per dispatch batch with its events (oldest first), in the batch's transaction: for
    work that is cheaper done for many events at once (automation makes a batch's rule runs with one INSERT).
    At least once per event, like the others."""
    BATCH_CONSUMERS.append(consumer)
    return consumer


def _enqueue_dispatch() -> None:
    from .tasks import dispatch_events

    dispatch_events.enqueue()


def _enqueued_with_the_write() -> None:
    """The on-commit marker of a transaction whose dispatch job row was written inside it (nothing to do)."""


def _queue_in_database(alias: str) -> bool:
    """Whether dispatch jobs are rows of this database (django-tasks-db's queue on the write's database)."""
    from django.db import router
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    return isinstance(task_backends["default"], DatabaseBackend) and router.db_for_write(DBTaskResult) == alias


def schedule_dispatch() -> None:
    """Call inside the write transaction that created events: dispatch them once it commits. The write
    services call it (core.services.on_events_written); one dispatch per transaction however many events.

    With the database queue the job's row is written in the write's own transaction, at its first event:
    it commits with the events (no worker can see it before them, and a rolled-back write leaves none)
    without a commit of its own, which on PostgreSQL cost a WAL flush per write (~5 ms on a busy 2-core
    machine, as much as the rest of an update's statements). With another queue (Redis) the job is enqueued
    after the commit, since its worker could otherwise run it before the events are visible."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        transaction.on_commit(_enqueue_dispatch, robust=True)  # at once, errors logged as before
        return
    marks = (_enqueue_dispatch, _enqueued_with_the_write)
    if any(entry[1] in marks for entry in connection.run_on_commit):
        return
    if _queue_in_database(connection.alias):
        _enqueue_dispatch()
        # Dropped with the job row if a savepoint around this write rolls back, so the next write enqueues again.
        transaction.on_commit(_enqueued_with_the_write)
    else:
        transaction.on_commit(_enqueue_dispatch, robust=True)


def dispatch_pending(*, older_than_seconds: float = 0, limit: int = 5000) -> int:
    """Hand undispatched events (oldest first) to every consumer, marking each dispatched; returns the count."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    done = 0
    while done < limit:
        with transaction.atomic():
            events = list(
                Event.objects.select_for_update(skip_locked=True)
                .filter(dispatched_at__isnull=True, occurred_at__lte=cutoff)
                .order_by("id")[: min(BATCH, limit - done)]
            )
            if not events:
                break
            for event in events:
                for consumer in CONSUMERS:
                    consumer(event)
            for batch_consumer in BATCH_CONSUMERS:
                batch_consumer(events)
            Event.objects.filter(id__in=[e.id for e in events]).update(dispatched_at=timezone.now())
        done += len(events)
    return done
