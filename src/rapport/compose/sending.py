"""Sending a queued OutgoingMessage over SMTP, at most once.

Each message is **claimed** first (one conditional UPDATE: scheduled → sending), so two workers never both send
it. The SMTP conversation then goes envelope first (MAIL FROM, RCPT TO: nothing is delivered yet), and just before
the message data ``data_started_at`` is committed. A worker that dies holding a claim is found by
``recover_stale_claims``: without ``data_started_at`` nothing can have been delivered and the message is simply due
again; with it, the server may have accepted the message before the worker could record it — the one window SMTP
cannot close — so it is never sent again automatically but marked *not confirmed* for a person to check
(docs/email.md). Failures before the data, or a 4xx answer to it, are tried again after a pause that doubles
(``activities.outbox.pause_after``) up to RAPPORT_EMAIL_MAX_ATTEMPTS; a 5xx answer fails the message at once.
Once sent, the message is stored with mail.services.store_message (direction "out": threaded like synced mail,
Message-ID kept) and appended to the mailbox's Sent folder over IMAP.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import importlib
import logging
import smtplib
import ssl
import zoneinfo
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from rapport.activities.outbox import max_attempts, pause_after
from rapport.core.mail import sending_enabled

from . import suppression, tracking, unsubscribe
from .models import DailySendCount, OutgoingMessage

logger = logging.getLogger("rapport.compose")
NO_SERVER_PAUSE = dt.timedelta(minutes=5)
# CRLF line ends; headers folded only past SMTP's own limit (a long List-Unsubscribe address stays one token).
POLICY = email.policy.SMTP.clone(max_line_length=998)


def site_url() -> str:
    return str(getattr(settings, "RAPPORT_SITE_URL", "") or "").rstrip("/")


def daily_cap() -> int:
    return int(getattr(settings, "RAPPORT_MAIL_DAILY_CAP", 0) or 0)


def claim_timeout() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "RAPPORT_MAIL_CLAIM_TIMEOUT", 900)))


def _sender_day(sender: Any, now: dt.datetime) -> dt.date:
    try:
        zone = zoneinfo.ZoneInfo(sender.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return now.astimezone(zone).date()


def _next_local_midnight(sender: Any, now: dt.datetime) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(sender.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    tomorrow = now.astimezone(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0, 0), tzinfo=zone).astimezone(dt.UTC)


def take_daily_slot(sender: Any, day: dt.date) -> bool:
    """Count one message against the sender's cap for ``day``; False when the cap is reached. One conditional
    UPDATE (count < cap) on a row made beforehand: the database serialises parallel workers on that row."""
    cap = daily_cap()
    if cap <= 0:
        return True
    DailySendCount.objects.bulk_create([DailySendCount(sender=sender, day=day, count=0)], ignore_conflicts=True)
    return DailySendCount.objects.filter(sender=sender, day=day, count__lt=cap).update(count=F("count") + 1) == 1


def give_back_daily_slot(sender: Any, day: dt.date) -> None:
    if daily_cap() > 0:
        DailySendCount.objects.filter(sender=sender, day=day, count__gt=0).update(count=F("count") - 1)


# --- the message as it goes out -----------------------------------------------------------------------------
def build(message: OutgoingMessage, *, tracked: bool, recipients_to: list[str] | None = None) -> EmailMessage:
    """The RFC 5322 message. ``tracked``: the copy delivered to recipients (pixel and click redirects when the
    message has tracking on); the copy stored in the CRM and in Sent has neither. Bcc is never a header."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = formataddr((message.from_name, message.from_address))
    msg["To"] = ", ".join(message.to)
    if message.cc:
        msg["Cc"] = ", ".join(message.cc)
    if message.mailbox_id is None and message.sender.email:
        msg["Reply-To"] = message.sender.email
    msg["Subject"] = message.subject
    msg["Date"] = format_datetime((message.sent_at or timezone.now()).astimezone(dt.UTC))
    msg["Message-ID"] = f"<{message.message_id}>"
    if message.in_reply_to_header:
        msg["In-Reply-To"] = message.in_reply_to_header
    if message.references_header:
        msg["References"] = message.references_header
    site = site_url()
    if message.list_unsubscribe and site:
        for name, value in unsubscribe.headers(message, site).items():
            msg[name] = value
    html = tracking.tracked_html(message, site) if tracked and message.tracking and site else message.body_html
    msg.set_content(message.body_text or " ")
    msg.add_alternative(f"<!DOCTYPE html><html><body>{html}</body></html>", subtype="html")
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            data = handle.read()
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=attachment.filename)  # fmt: skip
    return msg


# --- SMTP ---------------------------------------------------------------------------------------------------
class Refused(Exception):
    """The server refused this message for good (5xx): not tried again."""


class Unconfirmed(Exception):
    """The connection broke during the data: the server may have the message. Never sent again automatically."""


class ServerProblem(Exception):
    """Nothing was delivered and the server may take it later (connection, 4xx): tried again."""


def _connect(message: OutgoingMessage) -> smtplib.SMTP:
    mailbox = message.mailbox
    timeout = float(getattr(settings, "EMAIL_TIMEOUT", 30) or 30)
    if mailbox is not None:
        host, port, security = mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_security
        # DESIGN.md §13: a mailbox's server is typed by a user, so never this machine or a private network
        # unless an administrator allows it (the organisation's own EMAIL_HOST below is the admin's choice).
        mail_imap: Any = importlib.import_module("rapport.mail.imap")
        reason = mail_imap.refusal(host)
        if reason is not None:
            raise Refused(f"{reason}: {mail_imap.ALLOW_PRIVATE_FIX}")
        user = mailbox.username
        secret = ""
        if mailbox.secret_encrypted:
            crypto: Any = importlib.import_module("rapport.mail.crypto")
            secret = crypto.decrypt(mailbox.secret_encrypted)
        method = mailbox.auth_method
    else:
        host, port = settings.EMAIL_HOST, settings.EMAIL_PORT
        security = "ssl" if settings.EMAIL_USE_SSL else "starttls" if settings.EMAIL_USE_TLS else "none"
        user, secret, method = settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD, "password"
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            smtp.starttls(context=context)
    try:
        smtp.ehlo_or_helo_if_needed()
        if user and secret:
            if method == "xoauth2":
                import base64

                token = base64.b64encode(f"user={user}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
                code, answer = smtp.docmd("AUTH", f"XOAUTH2 {token}")
                if code == 334:  # a refused token: the reason comes as a challenge, an empty line ends the exchange
                    code, answer = smtp.docmd("")
                if code != 235:
                    raise smtplib.SMTPAuthenticationError(code, answer)
            else:
                smtp.login(user, secret)
    except (OSError, smtplib.SMTPException):
        smtp.close()  # nothing will be sent on this connection
        raise
    return smtp


def _deliver(message: OutgoingMessage, raw: bytes, recipients: list[str]) -> dict[str, str]:
    """The SMTP transaction, envelope first; commits ``data_started_at`` right before the data. Returns the
    recipients the server refused (the others accepted the message)."""
    try:
        smtp = _connect(message)
    except smtplib.SMTPAuthenticationError as exc:
        if message.mailbox is not None and message.mailbox.auth_method == "xoauth2":
            raise ServerProblem(
                f"the server refused the OAuth2 access token ({exc.smtp_code}): renew the token in the mailbox settings"
            )
        raise ServerProblem(f"the server refused the sign-in ({exc.smtp_code}): check the mailbox's password")
    except (OSError, smtplib.SMTPException) as exc:
        raise ServerProblem(f"could not reach the mail server: {exc}")
    refused: dict[str, str] = {}
    data_started = False
    try:
        code, answer = smtp.mail(message.from_address)
        if code != 250:
            raise (Refused if code >= 500 else ServerProblem)(
                f"sender refused ({code}): {answer.decode(errors='replace')}"
            )
        for address in recipients:
            code, answer = smtp.rcpt(address)
            if code not in (250, 251):
                refused[address] = f"{code} {answer.decode(errors='replace')}"[:300]
        if len(refused) == len(recipients):
            temporary = all(v.startswith("4") for v in refused.values())
            raise (ServerProblem if temporary else Refused)(f"every recipient was refused: {refused}")
        OutgoingMessage.objects.filter(pk=message.pk).update(data_started_at=timezone.now())
        data_started = True
        code, answer = smtp.data(raw)
        data_started = False
        if code != 250:
            OutgoingMessage.objects.filter(pk=message.pk).update(data_started_at=None)  # the server said no
            raise (Refused if code >= 500 else ServerProblem)(
                f"message refused ({code}): {answer.decode(errors='replace')}"
            )
    except smtplib.SMTPResponseException as exc:
        if data_started:  # the server answered the DATA command itself: nothing was delivered
            OutgoingMessage.objects.filter(pk=message.pk).update(data_started_at=None)
        text = f"the server answered {exc.smtp_code}: {_text(exc.smtp_error)}"
        raise (Refused if exc.smtp_code >= 500 else ServerProblem)(text)
    except (OSError, smtplib.SMTPException) as exc:
        if data_started:  # the connection broke during the data: the server may or may not have the message
            raise Unconfirmed(f"the connection broke while the server was receiving the message: {exc}")
        raise ServerProblem(f"the connection to the mail server broke: {exc}")
    finally:
        try:
            smtp.quit()
        except Exception:  # the server hung up already: nothing left to close
            logger.debug("closing the SMTP connection failed", exc_info=True)
    return refused


def _text(answer: bytes | str) -> str:
    return answer.decode(errors="replace") if isinstance(answer, bytes) else answer


# --- one message --------------------------------------------------------------------------------------------
def send_one(pk: int, *, now: dt.datetime | None = None) -> str:
    """Send message ``pk`` if it is due and nobody has claimed it; returns what happened (for logs and tests)."""
    now = now or timezone.now()
    if not sending_enabled() and not OutgoingMessage.objects.filter(pk=pk, mailbox__isnull=False).exists():
        OutgoingMessage.objects.filter(pk=pk, status="scheduled").update(
            next_attempt_at=now + NO_SERVER_PAUSE, error="No mail server is configured (RAPPORT_EMAIL_URL)."
        )
        return "no server"
    claimed = OutgoingMessage.objects.filter(
        pk=pk, status="scheduled", send_at__lte=now, next_attempt_at__lte=now
    ).update(status="sending", claimed_at=now, data_started_at=None, attempts=F("attempts") + 1)
    if not claimed:
        return "not due"
    message = OutgoingMessage.objects.select_related("sender", "mailbox").get(pk=pk)
    blocked = suppression.suppressed_among(message.recipients())
    recipients = [a for a in message.recipients() if a.lower() not in blocked]
    if not recipients:
        OutgoingMessage.objects.filter(pk=pk).update(
            status="suppressed",
            error="Every recipient is on the suppression list.",
            refused={a: "suppressed" for a in message.recipients()},
        )
        return "suppressed"
    day = _sender_day(message.sender, now)
    if not take_daily_slot(message.sender, day):
        OutgoingMessage.objects.filter(pk=pk).update(
            status="scheduled", claimed_at=None, attempts=F("attempts") - 1,
            next_attempt_at=_next_local_midnight(message.sender, now),
            error=f"The daily limit of {daily_cap()} messages per sender was reached; it goes tomorrow.",
        )  # fmt: skip
        return "daily cap"
    message.sent_at = now
    raw = build(message, tracked=True).as_bytes()
    try:
        refused = _deliver(message, raw, recipients)
    except Refused as exc:
        give_back_daily_slot(message.sender, day)
        OutgoingMessage.objects.filter(pk=pk).update(status="failed", error=str(exc)[:1000])
        logger.warning("outgoing message %s refused: %s", pk, exc)
        return "refused"
    except ServerProblem as exc:
        give_back_daily_slot(message.sender, day)
        _retry_later(message, str(exc))
        return "retry"
    except Unconfirmed as exc:
        OutgoingMessage.objects.filter(pk=pk).update(status="unconfirmed", sent_at=now, error=str(exc)[:1000])
        logger.error("outgoing message %s not confirmed: %s", pk, exc)
        return "unconfirmed"
    refused.update({a: "suppressed" for a in message.recipients() if a.lower() in blocked})
    OutgoingMessage.objects.filter(pk=pk).update(status="sent", sent_at=now, error="", refused=refused)
    message.status, message.sent_at = "sent", now
    keep_copy(message)
    return "sent"


def _retry_later(message: OutgoingMessage, error: str) -> None:
    attempts = message.attempts
    if attempts >= max_attempts():
        OutgoingMessage.objects.filter(pk=message.pk).update(status="failed", error=error[:1000])
        logger.error("outgoing message %s failed after %d attempts: %s", message.pk, attempts, error)
        return
    OutgoingMessage.objects.filter(pk=message.pk).update(
        status="scheduled", claimed_at=None, error=error[:1000], next_attempt_at=timezone.now() + pause_after(attempts)
    )
    logger.warning("outgoing message %s not sent (attempt %d): %s", message.pk, attempts, error)


def keep_copy(message: OutgoingMessage) -> None:
    """Store the sent message with the mailbox's mail (threaded, Message-ID kept) and append it to Sent. A
    failure here never un-sends anything: it is logged, and the next sync of Sent stores the message anyway."""
    if message.mailbox is None:
        return
    raw = build(message, tracked=False).as_bytes()
    try:
        mail_services: Any = importlib.import_module("rapport.mail.services")
        stored = mail_services.store_message(message.mailbox, raw, direction="out")
        if stored is not None:
            OutgoingMessage.objects.filter(pk=message.pk).update(stored_message=stored)
    except Exception:
        logger.exception("outgoing message %s: storing the sent copy failed", message.pk)
    if not message.mailbox.imap_host:
        return
    try:
        append_sent(message.mailbox, raw)
        OutgoingMessage.objects.filter(pk=message.pk).update(appended_to_sent=True)
    except Exception:
        logger.exception("outgoing message %s: appending to Sent failed", message.pk)


def append_sent(mailbox: Any, raw: bytes) -> None:
    """``mail.imap.append_sent`` when the mail app has it; until then one IMAP APPEND to the mailbox's Sent
    folder (the synced folder with the sent role, else "Sent"), with the \\Seen flag."""
    try:
        imap: Any = importlib.import_module("rapport.mail.imap")
    except ImportError:
        imap = None
    if imap is not None and hasattr(imap, "append_sent"):
        imap.append_sent(mailbox, raw)
        return
    import imaplib
    import time

    folder = mailbox.folders.filter(role="sent").values_list("name", flat=True).first() or "Sent"
    timeout = float(getattr(settings, "EMAIL_TIMEOUT", 30) or 30)
    client: imaplib.IMAP4
    if mailbox.imap_security == "ssl":
        client = imaplib.IMAP4_SSL(mailbox.imap_host, mailbox.imap_port, ssl_context=ssl.create_default_context(),
                                   timeout=timeout)  # fmt: skip
    else:
        client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=timeout)
        if mailbox.imap_security == "starttls":
            client.starttls(ssl_context=ssl.create_default_context())
    try:
        secret = ""
        if mailbox.secret_encrypted:
            crypto: Any = importlib.import_module("rapport.mail.crypto")
            secret = crypto.decrypt(mailbox.secret_encrypted)
        if mailbox.auth_method == "xoauth2":
            client.authenticate(
                "XOAUTH2", lambda _: f"user={mailbox.username}\x01auth=Bearer {secret}\x01\x01".encode()
            )
        else:
            client.login(mailbox.username, secret)
        quoted = '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
        status, answer = client.append(quoted, "(\\Seen)", imaplib.Time2Internaldate(time.time()), raw)
        if status != "OK":
            raise RuntimeError(f"the server refused to keep the copy in {folder}: {answer!r}")
    finally:
        try:
            client.logout()
        except Exception:  # the connection broke already
            logger.debug("IMAP logout failed", exc_info=True)


# --- the sweep ----------------------------------------------------------------------------------------------
def recover_stale_claims(now: dt.datetime | None = None) -> int:
    """Claims held longer than RAPPORT_MAIL_CLAIM_TIMEOUT belong to a worker that died: due again when no data
    went to the server, otherwise *not confirmed* (never sent again automatically)."""
    now = now or timezone.now()
    stale = OutgoingMessage.objects.filter(status="sending", claimed_at__lt=now - claim_timeout())
    again = stale.filter(data_started_at__isnull=True).update(status="scheduled", claimed_at=None, next_attempt_at=now)
    unsure = stale.filter(data_started_at__isnull=False).update(
        status="unconfirmed",
        error="The worker stopped while the mail server was receiving this message: it may have been delivered. "
        "Check the Sent folder or ask the recipient before sending it again.",
    )
    if unsure:
        logger.error("%d outgoing message(s) not confirmed after a worker stopped mid-send", unsure)
    return again + unsure


def send_due(limit: int = 100, now: dt.datetime | None = None) -> int:
    """Send the messages that are due (scheduled sends, retries); returns how many were sent."""
    now = now or timezone.now()
    recover_stale_claims(now)
    ids = list(
        OutgoingMessage.objects.filter(status="scheduled", send_at__lte=now, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for pk in ids if send_one(pk, now=now) == "sent")
