"""Webhooks' tables: subscriptions, one delivery per (subscription, event), every attempt of a delivery."""

from __future__ import annotations

import base64
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# What a subscription can listen to: the event's kind, plus what a deal's update means.
EVENT_TYPES = [
    ("created", "Created"),
    ("updated", "Updated"),
    ("deleted", "Deleted"),
    ("restored", "Restored"),
    ("merged", "Merged"),
    ("stage_changed", "Deal stage changed"),
    ("won", "Deal won"),
    ("lost", "Deal lost"),
    ("order", "Order (a deal won, with its line items, company and contact)"),
]
EVENT_TYPE_KEYS = [key for key, _ in EVENT_TYPES]


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Subscription(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2048)
    # Empty lists mean every event type / every record type.
    event_types = models.JSONField(default=list, blank=True)
    type_keys = models.JSONField(default=list, blank=True)
    secret = models.CharField(max_length=100, default=new_secret)
    active = models.BooleanField(default=True)
    # Flagged: a delivery was given up (the subscription still sends). Disabled (active=False with a reason):
    # after RAPPORT_WEBHOOK_DISABLE_AFTER deliveries given up in a row; re-enabled by hand.
    flagged_at = models.DateTimeField(null=True, blank=True)
    failed_in_a_row = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, type_key: str, kinds: list[str]) -> str | None:
        """The event type this subscription receives an event as (the most specific it listens to), or None."""
        if self.type_keys and type_key not in self.type_keys:
            return None
        if "won" in kinds and "order" in self.event_types:
            return "order"  # asked for by name only: a subscription to every event keeps getting deal.won
        for kind in kinds:
            if not self.event_types or kind in self.event_types:
                return kind
        return None


class Delivery(models.Model):
    PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
    STATUSES = [(PENDING, "Pending"), (SUCCEEDED, "Succeeded"), (FAILED, "Failed")]

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField(null=True, blank=True)  # null for test pings
    message_id = models.CharField(max_length=64, unique=True)  # the webhook-id header, the same on every attempt
    event_type = models.CharField(max_length=80)  # "person.updated", "deal.won", "ping"
    type_key = models.CharField(max_length=40, blank=True)
    record_id = models.BigIntegerField(default=0)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"],
                name="webhook_delivery_once_per_event",
                condition=models.Q(event_id__isnull=False),
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "id"], name="webhook_due_idx", condition=models.Q(status="pending")
            ),
            models.Index(fields=["subscription", "type_key", "record_id", "id"], name="webhook_record_order_idx"),
            models.Index(fields=["subscription", "-id"], name="webhook_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id}"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=500, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
