"""Outgoing mail without a server: with no RAPPORT_EMAIL_URL nothing is sent and emails wait in the outbox.

Django's own default would try an SMTP server on localhost:25 that an embedded installation does not have,
fail every time, and retry forever. ``sending_enabled()`` tells the outbox whether to try at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

NO_SERVER = "rapport.core.mail.NoServerBackend"


class MailNotConfigured(Exception):
    pass


class NoServerBackend(BaseEmailBackend):
    """The email backend when no mail server is configured: refuses to send (the outbox keeps the email)."""

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        raise MailNotConfigured("No mail server is configured (RAPPORT_EMAIL_URL).")


def sending_enabled() -> bool:
    return str(getattr(settings, "EMAIL_BACKEND", "")) != NO_SERVER
