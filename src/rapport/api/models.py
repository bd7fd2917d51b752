"""Idempotency keys: a retried create with the same key returns the first answer, not a duplicate."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    path = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.BinaryField()
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key")]


class RateCounter(models.Model):
    """The API requests of one user in the current rate-limit window, counted in the database so that
    every web process shares one count (api/throttle.py)."""

    key = models.CharField(max_length=100, primary_key=True)
    window_start = models.BigIntegerField()  # the window's number: epoch seconds // period
    count = models.PositiveIntegerField()
