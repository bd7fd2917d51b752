"""``rapport mail_sync``: sync connected mailboxes now (all due ones, or one by id), in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Sync connected mailboxes now: every due mailbox, or --mailbox ID (even when not due)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--mailbox", type=int, help="The id of one mailbox to sync.")

    def handle(self, *args: Any, **opts: Any) -> None:
        from rapport.mail.models import Mailbox
        from rapport.mail.sync import due_mailboxes, sync_mailbox

        ids = [opts["mailbox"]] if opts["mailbox"] else due_mailboxes()
        for mailbox in Mailbox.objects.filter(pk__in=ids):
            result = sync_mailbox(mailbox)
            line = f"{mailbox}: {result.status}, {result.stored} new, {result.located} found elsewhere"
            self.stdout.write(line + (f" — {result.error}" if result.error else ""))
            if opts["mailbox"] and result.status == "error":
                raise CommandError(result.error)
