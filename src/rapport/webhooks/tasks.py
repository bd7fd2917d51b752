"""Background jobs and periodic schedules of webhooks: the event consumer that makes deliveries, and the
sender (enqueued when deliveries are made, and every minute for retries and anything missed)."""

from __future__ import annotations

from datetime import timedelta

from rapport.core.models import Event
from rapport.jobs import job, periodic
from rapport.jobs.events import register_batch_consumer

from . import services


@job(max_attempts=3, backoff=5)
def send_webhooks() -> int:
    """Send the deliveries that are due (each one's own retries are kept on the delivery, not on this job)."""
    return services.send_due()


@register_batch_consumer
def make_deliveries(events: list[Event]) -> None:
    """The outbox consumer: deliveries for the subscriptions that want these events (a dispatch batch)."""
    services.deliveries_for_events(events)


periodic("send_webhooks", send_webhooks, every=timedelta(minutes=1))
