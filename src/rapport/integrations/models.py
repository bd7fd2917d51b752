"""Integrations' tables: an inbound endpoint per integration (its kind decides how payloads map onto records)
and every delivery it received, with its outcome.

The signing secret is never stored: the row keeps a random salt, and the secret is HMAC-SHA256 of the salt
keyed with RAPPORT_SECRET_KEY (``secrets.secret_for``), derived again to check each signature; a copy of the
database alone does not give it. It is shown once, when made (create, rotate)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

GENERIC, INVOICE_NINJA, TELEPHONY = "generic", "invoiceninja", "telephony"
KINDS = [
    (GENERIC, "Generic JSON (records by type)"),
    (INVOICE_NINJA, "Invoice Ninja (invoices, payments, clients)"),
    (TELEPHONY, "Telephony (calls from a PBX)"),
]


class Integration(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)  # /api/v1/integrations/<slug>/inbound/
    kind = models.CharField(max_length=20, choices=KINDS, default=GENERIC)
    active = models.BooleanField(default=True)
    secret_salt = models.CharField(max_length=64)
    secret_hint = models.CharField(max_length=12, blank=True)  # the secret's last characters, to tell them apart
    # After a rotation the old secret is still accepted for a while, so the sender can switch without a gap.
    previous_salt = models.CharField(max_length=64, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    # The user the integration writes as: its records, events and history name it.
    service_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Telephony: a call from a number nobody has creates a lead (a person) when this is on.
    create_unknown_callers = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def inbound_path(self) -> str:
        return f"/api/v1/integrations/{self.slug}/inbound/"


class InboundDelivery(models.Model):
    PROCESSED, FAILED, IGNORED = "processed", "failed", "ignored"
    STATUSES = [(PROCESSED, "Processed"), (FAILED, "Failed"), (IGNORED, "Ignored")]

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100)  # the sender's webhook-id: one delivery, however often sent
    event_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES)
    http_status = models.PositiveSmallIntegerField()
    message = models.CharField(max_length=500, blank=True)
    fields = models.JSONField(default=dict, blank=True)  # {field path: [messages]} of a refused payload
    records = models.JSONField(default=list, blank=True)  # [{"type", "id", "action"}] written
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "delivery_id"], name="inbound_delivery_once"),
        ]
        indexes = [models.Index(fields=["integration", "-id"], name="inbound_log_idx")]

    def __str__(self) -> str:
        return f"{self.delivery_id} ({self.status})"


class ExternalLink(models.Model):
    """Which record an object of the other system became (an Invoice Ninja client → a company), so its next
    webhook updates the same record even after a rename."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=30)  # the other system's object: client, invoice, payment
    external_id = models.CharField(max_length=100)
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "kind", "external_id"], name="external_link_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_id} → {self.type_key} #{self.record_id}"
