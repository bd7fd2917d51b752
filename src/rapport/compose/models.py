"""Sending email from the CRM: templates with merge fields, the outgoing messages (a send queue committed with
the change that wrote them), their attachments, tracking events, bounces and the suppression list, and the
per-sender daily counters that hold the daily cap."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

STATUSES = [
    ("scheduled", "Scheduled"),  # waits for send_at, or for its next attempt
    ("sending", "Sending"),  # claimed by a worker
    ("sent", "Sent"),
    ("failed", "Failed"),  # refused by the server, or given up after the attempts
    ("unconfirmed", "Not confirmed"),  # the worker stopped while the server was receiving it (docs/email.md)
    ("suppressed", "Not sent: suppressed"),  # every recipient unsubscribed or bounced
    ("cancelled", "Cancelled"),
]
TRACKING_KINDS = [("open", "Opened"), ("click", "Clicked"), ("bounce", "Bounced"), ("unsubscribe", "Unsubscribed")]
SUPPRESSION_REASONS = [("unsubscribed", "Unsubscribed"), ("hard_bounce", "Hard bounce"), ("manual", "Added by hand")]


class Template(models.Model):
    """A subject and a Markdown body with merge fields; personal (owner set) or the organisation's (no owner)."""

    name = models.CharField(max_length=150)
    subject = models.CharField(max_length=500)
    body = models.TextField(help_text='Markdown with merge fields such as {{ person.first_name|default:"there" }}.')
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="email_templates"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


EmailTemplate = Template  # the name the rest of the app reads best with


class OutgoingMessage(models.Model):
    """One email to send: committed with the caller's transaction, sent by a job that claims it first."""

    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="outgoing_messages")
    mailbox = models.ForeignKey(
        "mail.Mailbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="outgoing_messages"
    )
    from_address = models.CharField(max_length=254)
    from_name = models.CharField(max_length=300, blank=True)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    body_html = models.TextField(blank=True)
    body_text = models.TextField(blank=True)
    # The Message-ID header (without angle brackets), generated when queued and kept on the stored copy.
    message_id = models.CharField(max_length=998, unique=True)
    in_reply_to = models.ForeignKey(
        "mail.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies_queued"
    )
    in_reply_to_header = models.CharField(max_length=998, blank=True)
    references_header = models.TextField(blank=True)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    record_type = models.CharField(max_length=40, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    sequence_enrolment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    tracking = models.BooleanField(default=False)
    list_unsubscribe = models.BooleanField(default=False)
    # The links of the body, in order: a click redirect leads only to one of these (no open redirect).
    links = models.JSONField(default=list, blank=True)

    status = models.CharField(max_length=12, choices=STATUSES, default="scheduled")
    send_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Committed just before the message data goes to the server: a worker found dead after this point may have
    # delivered it, so it is never sent again automatically (docs/email.md, "The one window").
    data_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    refused = models.JSONField(default=dict, blank=True)  # recipients the server refused: {address: reason}
    stored_message = models.ForeignKey(
        "mail.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="outgoing"
    )
    appended_to_sent = models.BooleanField(default=False)

    opens = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="compose_out_due_idx"),
            models.Index(fields=["sender", "-created_at"], name="compose_out_sender_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


def attachment_path(instance: OutgoingAttachment, filename: str) -> str:
    now = timezone.now()
    return f"compose/{now:%Y/%m}/{instance.message_id}/{filename}"


class OutgoingAttachment(models.Model):
    message = models.ForeignKey(OutgoingMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to=attachment_path, max_length=255)

    class Meta:
        ordering = ["message", "id"]


class TrackingEvent(models.Model):
    outgoing = models.ForeignKey(OutgoingMessage, on_delete=models.CASCADE, related_name="tracking_events")
    kind = models.CharField(max_length=12, choices=TRACKING_KINDS)
    url = models.CharField(max_length=2000, blank=True)
    address = models.CharField(max_length=254, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["outgoing", "kind"], name="compose_tracking_idx")]


class Bounce(models.Model):
    """A delivery status notification recognised in synced mail, against the address it was about."""

    address = models.CharField(max_length=254, db_index=True)
    status = models.CharField(max_length=20, blank=True)  # the DSN's Status: 5.1.1
    action = models.CharField(max_length=20, blank=True)  # failed, delayed...
    hard = models.BooleanField(default=False)
    diagnostic = models.CharField(max_length=500, blank=True)
    message = models.ForeignKey(
        OutgoingMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="bounces"
    )
    report = models.ForeignKey("mail.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "address"], name="compose_bounce_once_per_report"),
        ]


class Suppression(models.Model):
    """An address no later send goes to: it unsubscribed, hard-bounced or was added by hand."""

    address = models.CharField(max_length=254, unique=True)  # lower-case
    reason = models.CharField(max_length=20, choices=SUPPRESSION_REASONS)
    detail = models.CharField(max_length=500, blank=True)
    message = models.ForeignKey(
        OutgoingMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="suppressions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.address


class DailySendCount(models.Model):
    """How many messages a sender's worker has claimed on a day (the sender's local day): the daily cap is one
    conditional UPDATE on this row, so parallel workers cannot pass it."""

    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sender", "day"], name="compose_daily_count_unique")]
