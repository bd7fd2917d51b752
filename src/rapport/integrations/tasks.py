"""Jobs of integrations: the received-delivery log is kept 30 days (its mappings are imported by name here)."""

from __future__ import annotations

from datetime import timedelta

from rapport.jobs import job, periodic

from . import invoiceninja, mapping, services, telephony  # noqa: F401 - each registers its kind's handler


@job(max_attempts=3, backoff=60)
def prune_inbound_deliveries() -> int:
    return services.prune_deliveries()


periodic(
    "prune_inbound_deliveries", prune_inbound_deliveries, every=timedelta(days=1), offset=timedelta(hours=3, minutes=30)
)
