"""Jobs of sending email: one message right after it is queued, and every minute the due ones (scheduled sends,
retries, claims of workers that died)."""

from __future__ import annotations

from datetime import timedelta

from rapport.jobs import job, periodic

from . import sending


@job(max_attempts=1)
def send_outgoing_message(pk: int) -> str:
    # Not retried by the job system: the message row carries its own attempts and backoff (sending.send_one).
    return sending.send_one(pk)


@job(max_attempts=1)
def send_due_messages() -> int:
    return sending.send_due()


periodic("compose.send_due_messages", send_due_messages, every=timedelta(minutes=1))
