"""Tables of the job system beside django-tasks-db's queue: worker heartbeats, effect keys, scheduler slots."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    """A running ``rapport worker`` (database queue); a stale beat means its running job was lost."""

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now)


class JobEffect(models.Model):
    """One row per effect a job has made, keyed so that a redelivered job does not make it twice.

    Written in the same transaction as the effect itself (see ``rapport.jobs.once``).
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class PeriodicRun(models.Model):
    """One row per periodic job and time slot: the scheduler that inserts it is the one that enqueues."""

    name = models.CharField(max_length=100)
    slot = models.DateTimeField()
    enqueued_at = models.DateTimeField(default=timezone.now)
    job_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="periodic_run_once_per_slot")]
