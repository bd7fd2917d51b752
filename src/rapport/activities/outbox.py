"""The outbox: emails committed with the change that made them (reminders, digests), sent from here.

Each run (``flush_outbox``, after the reminder and digest jobs) sends the emails that are due, over one SMTP
connection. A failed send is tried again after a pause that doubles (1 min, 2, 4 … at most 6 h) and is given up
after RAPPORT_EMAIL_MAX_ATTEMPTS attempts, with its error kept for administrators (/settings/outbox/, Retry).
When the server itself cannot be reached, the run stops at the first email: the others keep their turn and
their attempts. With no mail server configured (no RAPPORT_EMAIL_URL) nothing is tried at all: the emails wait.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from email.mime.image import MIMEImage
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db.models import Q
from django.utils import timezone

from rapport.core.mail import sending_enabled

from .models import OutgoingEmail

logger = logging.getLogger("rapport.activities")

FIRST_PAUSE = dt.timedelta(minutes=1)
MAX_PAUSE = dt.timedelta(hours=6)
# Refused for this email alone (recipient, sender, content); anything else means the server is unusable now.
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def max_attempts() -> int:
    return max(1, int(getattr(settings, "RAPPORT_EMAIL_MAX_ATTEMPTS", 8)))


def pause_after(attempts: int) -> dt.timedelta:
    """The wait before the next attempt, after ``attempts`` failed ones."""
    return min(MAX_PAUSE, FIRST_PAUSE * 2 ** max(0, attempts - 1))


def due(now: dt.datetime) -> Any:
    return OutgoingEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def flush_outbox(limit: int = 200) -> int:
    """Send the emails that are due; return how many were sent. A row is claimed (sent_at set) before it is
    sent, so two runs never send it twice; a failed send gives the claim back with the next attempt's time."""
    if not sending_enabled():
        return 0
    now = timezone.now()
    rows = list(due(now).order_by("id").prefetch_related("images")[:limit])
    if not rows:
        return 0
    sent = 0
    connection = get_connection()
    try:
        for row in rows:
            if not OutgoingEmail.objects.filter(pk=row.pk, sent_at__isnull=True).update(sent_at=timezone.now()):
                continue  # another run has it
            try:
                message(row, connection).send()
            except Exception as exc:
                _failed(row, exc)
                if not isinstance(exc, MESSAGE_ERRORS):
                    break  # the server is down or refuses us: the others wait for the next run
                continue
            if row.error:
                OutgoingEmail.objects.filter(pk=row.pk).update(error="")  # sent after all: the error is history
            sent += 1
    finally:
        try:
            connection.close()
        except Exception:  # closing a connection that broke: nothing left to do
            logger.debug("closing the mail connection failed", exc_info=True)
    return sent


def message(row: OutgoingEmail, connection: Any = None) -> EmailMessage:
    """The email as sent: plain text, or text and HTML (multipart/alternative) with the HTML's pictures inline
    (multipart/related, each with the Content-ID its ``cid:`` address names)."""
    if not row.html:
        return EmailMessage(row.subject, row.body, None, [row.to], connection=connection)
    email = EmailMultiAlternatives(row.subject, row.body, None, [row.to], connection=connection)
    email.attach_alternative(row.html, "text/html")
    images = list(row.images.all())
    if images:
        email.mixed_subtype = "related"  # type: ignore[attr-defined]  # Django's, not in its stubs
        for image in images:
            part = MIMEImage(bytes(image.content), image.content_type.split("/", 1)[-1])
            part.add_header("Content-ID", f"<{image.cid}>")
            part.add_header("Content-Disposition", "inline", filename=f"{image.cid.split('@', 1)[0]}.png")
            email.attach(part)
    return email


def _failed(row: OutgoingEmail, exc: BaseException) -> None:
    attempts = row.attempts + 1
    now = timezone.now()
    error = f"{type(exc).__name__}: {exc}"[:1000]
    fields: dict[str, Any] = {"sent_at": None, "attempts": attempts, "error": error}
    if attempts >= max_attempts():
        fields["failed_at"] = now
        logger.error("email %s to %s failed after %d attempts: %s", row.pk, row.to, attempts, error)
    else:
        fields["next_attempt_at"] = now + pause_after(attempts)
        logger.warning("email %s not sent (attempt %d): %s; next try at %s", row.pk, attempts, error,
                       fields["next_attempt_at"].isoformat())  # fmt: skip
    OutgoingEmail.objects.filter(pk=row.pk).update(**fields)


def retry(email_id: int) -> bool:
    """The administrator's Retry: a failed email is due again, with a fresh set of attempts."""
    return bool(
        OutgoingEmail.objects.filter(pk=email_id, sent_at__isnull=True, failed_at__isnull=False).update(
            failed_at=None, next_attempt_at=None, attempts=0
        )
    )
