"""The scheduler: a registry of periodic jobs, each enqueued once per time slot however many schedulers run.

Each tick, for every periodic job whose slot has started, a scheduler inserts PeriodicRun(name, slot) and
enqueues the job in the same transaction. The unique (name, slot) constraint lets exactly one scheduler win;
the others' insert fails and they enqueue nothing. So running a scheduler beside every web machine is safe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tasks.base import Task

logger = logging.getLogger("rapport.jobs")
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday at 00:00 UTC, so weekly slots start on Mondays


@dataclass(frozen=True)
class Periodic:
    name: str
    task: Task
    every: timedelta
    offset: timedelta = timedelta(0)

    def slot(self, now: datetime) -> datetime:
        """The start of the slot ``now`` falls in: EPOCH + offset + k * every."""
        elapsed = now - EPOCH - self.offset
        k = elapsed // self.every
        return EPOCH + self.offset + k * self.every


_registry: dict[str, Periodic] = {}


def periodic(name: str, task: Task, *, every: timedelta, offset: timedelta = timedelta(0)) -> Periodic:
    """Register ``task`` to be enqueued once per ``every`` (e.g. every=timedelta(days=1), offset=timedelta(hours=6)
    for 06:00 UTC daily). Call from an app's jobs module, imported by its AppConfig.ready()."""
    if every <= timedelta(0):
        raise ValueError("every must be positive")
    entry = Periodic(name=name, task=task, every=every, offset=offset)
    _registry[name] = entry
    return entry


def registered() -> list[Periodic]:
    return sorted(_registry.values(), key=lambda p: p.name)


def tick(now: datetime | None = None, entries: list[Periodic] | None = None) -> list[str]:
    """Enqueue every periodic job whose current slot nobody has claimed yet; return the names enqueued."""
    from .models import PeriodicRun

    now = now or timezone.now()
    enqueued = []
    for entry in entries if entries is not None else registered():
        slot = entry.slot(now)
        try:
            with transaction.atomic():
                run = PeriodicRun.objects.create(name=entry.name, slot=slot)
                result = entry.task.enqueue()
                PeriodicRun.objects.filter(pk=run.pk).update(job_id=str(result.id)[:64])
        except IntegrityError:
            continue  # another scheduler has this slot
        enqueued.append(entry.name)
        logger.info("scheduler: enqueued %s for slot %s", entry.name, slot.isoformat())
    return enqueued


class Scheduler:
    """The ``rapport scheduler`` loop: a tick every ``interval`` seconds until stopped."""

    def __init__(self, *, interval: float = 5.0) -> None:
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import close_old_connections, connection

        from . import conf
        from .worker import OUTAGE_ERRORS, outage_wait, requeue_lost_jobs

        logger.info("scheduler started: %s", ", ".join(p.name for p in registered()) or "no periodic jobs")
        outages = 0
        while not self.stopped.is_set():
            wait = self.interval
            try:
                close_old_connections()
                tick()
                if conf.uses_rq():
                    from .rq import recover_abandoned

                    recover_abandoned()
                else:
                    requeue_lost_jobs()
                if outages:
                    logger.warning("scheduler: database is back, ticking again")
                outages = 0
            except OUTAGE_ERRORS as exc:
                # The database went away: drop the broken connection and try again after a growing wait.
                # A slot missed meanwhile is enqueued by the first tick after (it is still the current slot)
                # or skipped when its time has passed, as when no scheduler ran.
                outages += 1
                wait = max(self.interval, outage_wait(outages))
                logger.warning("scheduler: database unavailable (%s); retrying in %.1f s", exc, wait)
                connection.close()
            except Exception:
                logger.exception("scheduler tick failed")
            self.stopped.wait(wait)
        logger.info("scheduler stopped")

    def stop(self) -> None:
        self.stopped.set()


def prune_runs(older_than: timedelta = timedelta(days=7)) -> int:
    from .models import PeriodicRun

    return PeriodicRun.objects.filter(slot__lt=timezone.now() - older_than).delete()[0]
