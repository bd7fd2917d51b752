"""Connected mailboxes and the mail they hold: folders with their sync state, threads, messages, attachments.

A message is one row however many folders hold it (INBOX and Sent, or moved between folders): each copy on the
server is a ``MessageLocation`` (folder, UID). Messages are deduplicated per mailbox by Message-ID. A message
that disappears from the server keeps its row (``gone_from_server_at``). Bodies are stored sanitised.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None (loopback only)")]
AUTH_METHODS = [("password", "Password"), ("xoauth2", "OAuth2 access token (XOAUTH2)")]
OAUTH_PROVIDERS = [("", "None"), ("google", "Google"), ("microsoft", "Microsoft")]
FOLDER_ROLES = [("inbox", "Inbox"), ("sent", "Sent"), ("other", "Other")]
DIRECTIONS = [("in", "Received"), ("out", "Sent")]


class Mailbox(models.Model):
    """A connected mailbox: personal (owner set) or shared (e.g. sales@, visible to a team or everyone)."""

    name = models.CharField(max_length=100)
    address = models.EmailField(max_length=254)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="mailboxes"
    )
    shared = models.BooleanField(default=False)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The mailbox the CRM polls for mail BCC'd or forwarded to it (plus-addressed per user).
    is_dropbox = models.BooleanField(default=False)

    imap_host = models.CharField(max_length=253)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(max_length=10, choices=SECURITY, default="ssl")
    smtp_host = models.CharField(max_length=253, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(max_length=10, choices=SECURITY, default="starttls")
    username = models.CharField(max_length=254)
    auth_method = models.CharField(max_length=10, choices=AUTH_METHODS, default="password")
    oauth_provider = models.CharField(max_length=10, choices=OAUTH_PROVIDERS, default="", blank=True)
    # Encrypted with mail.crypto (a key from the environment); never shown back.
    secret_encrypted = models.TextField(blank=True)
    oauth_refresh_encrypted = models.TextField(blank=True)
    oauth_expires_at = models.DateTimeField(null=True, blank=True)

    sync_from = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    messages_synced = models.PositiveBigIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Per-mailbox lease so two workers never sync one mailbox at once (mail.sync.claim).
    sync_locked_by = models.CharField(max_length=100, blank=True)
    sync_locked_until = models.DateTimeField(null=True, blank=True)
    # Set by the Re-sync button: the next run forgets every folder's UIDs and reads everything again.
    resync_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class MailFolder(models.Model):
    """A folder of a mailbox and where its incremental sync stands (UIDVALIDITY, last UID, MODSEQ)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=300)
    role = models.CharField(max_length=10, choices=FOLDER_ROLES, default="other")
    selected = models.BooleanField(default=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    highest_modseq = models.BigIntegerField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["mailbox", "name"]
        constraints = [models.UniqueConstraint(fields=["mailbox", "name"], name="mail_folder_unique")]

    def __str__(self) -> str:
        return self.name


class Thread(models.Model):
    """A conversation: messages joined by Message-ID / In-Reply-To / References, or by subject as a fallback."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="threads")
    subject = models.CharField(max_length=998, blank=True)
    # The subject without Re:/Fwd:/AW: prefixes, lower-cased: the fallback key.
    subject_key = models.CharField(max_length=300, blank=True, db_index=True)
    first_at = models.DateTimeField(default=timezone.now)
    last_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField(default=0)
    private = models.BooleanField(default=False)
    private_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deals = models.ManyToManyField("deals.Deal", blank=True, related_name="mail_threads")

    class Meta:
        ordering = ["-last_at", "-id"]
        indexes = [models.Index(fields=["mailbox", "-last_at"], name="mail_thread_recent_idx")]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class Message(models.Model):
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=DIRECTIONS, default="in")
    # The Message-ID header without angle brackets (or a digest of the headers when a message has none).
    message_id = models.CharField(max_length=998)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    subject = models.CharField(max_length=998, blank=True)
    from_address = models.CharField(max_length=254, blank=True, db_index=True)
    from_name = models.CharField(max_length=300, blank=True)
    # Lists of {"name": ..., "address": ...}
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    bcc = models.JSONField(default=list, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    snippet = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    # Sanitised with nh3 when stored; remote images are kept out until the viewer asks for them.
    body_html = models.TextField(blank=True)
    has_remote_images = models.BooleanField(default=False)
    size = models.PositiveIntegerField(default=0)
    # The body or an attachment was over the limits and was cut or left out (the page says so).
    truncated = models.BooleanField(default=False)
    is_bounce = models.BooleanField(default=False)
    gone_from_server_at = models.DateTimeField(null=True, blank=True)
    # Mail BCC'd or forwarded to a dropbox mailbox is logged for the user its plus-address names.
    logged_for = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    people = models.ManyToManyField("contacts.Person", blank=True, related_name="mail_messages")
    companies = models.ManyToManyField("contacts.Company", blank=True, related_name="mail_messages")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "message_id"], name="mail_message_unique_per_mailbox"),
        ]
        indexes = [
            models.Index(fields=["thread", "sent_at"], name="mail_message_thread_idx"),
            models.Index(fields=["mailbox", "-sent_at"], name="mail_message_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class MessageLocation(models.Model):
    """Where a message is on the server: one row per (folder, UID); a copy in INBOX and in Sent is two rows."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="locations")
    folder = models.ForeignKey(MailFolder, on_delete=models.CASCADE, related_name="locations")
    uid = models.BigIntegerField()
    uidvalidity = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["folder", "uidvalidity", "uid"], name="mail_location_unique"),
        ]


def attachment_path(instance: Attachment, filename: str) -> str:
    now = timezone.now()
    return f"mail/{now:%Y/%m}/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    content_id = models.CharField(max_length=255, blank=True)
    inline = models.BooleanField(default=False)
    sha256 = models.CharField(max_length=64, blank=True)
    # Empty when the attachment was over the size limit and not stored (``too_large``).
    file = models.FileField(upload_to=attachment_path, max_length=255, blank=True)
    too_large = models.BooleanField(default=False)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return self.filename


class IgnoredAddress(models.Model):
    """Organisation-wide privacy rule: mail from or to this address, or any address at this domain, is never stored."""

    pattern = models.CharField(
        max_length=254, unique=True, help_text="An address (ann@example.com) or a domain (gmail.com)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pattern"]

    def __str__(self) -> str:
        return self.pattern
