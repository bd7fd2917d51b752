"""``rapport mail_rotate_key``: re-encrypt every stored mailbox secret with the newest RAPPORT_MAIL_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Re-encrypt every mailbox password and token with the first key of RAPPORT_MAIL_KEY "
        "(put the new key first, run this, then drop the old key). --new-key prints a fresh key."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--new-key", action="store_true", help="Print a new random key and exit.")

    def handle(self, *args: Any, **opts: Any) -> None:
        from rapport.mail import crypto

        if opts["new_key"]:
            self.stdout.write(crypto.generate_key())
            return
        counts = crypto.reencrypt()
        self.stdout.write(f"re-encrypted {counts['rotated']} mailbox(es) with the newest key")
        if counts["unreadable"]:
            raise CommandError(
                f"{counts['unreadable']} secret(s) could not be opened with any configured key: "
                "put the key they were written with back into RAPPORT_MAIL_KEY (after the new one) and run again"
            )
