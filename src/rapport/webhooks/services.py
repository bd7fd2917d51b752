"""The writes of webhooks: subscriptions (settings, audited), deliveries made from events, sending them.

Deliveries are made by the event consumer (``deliveries_for_events``, called by ``rapport.jobs.events`` once per
dispatch batch, at least once: idempotent by (subscription, event id)) and sent by the ``send_webhooks`` job
(``send_due``): oldest first, in batches claimed together and posted concurrently, one at a time per
(subscription, record) so a receiver gets a record's changes in order, each signed per Standard Webhooks and
posted through ``core.http``. A delivery is claimed by moving its
``next_attempt_at`` a lease ahead, so a worker killed mid-send leaves it due again after the lease: at least
once; receivers dedupe by ``webhook-id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from rapport.core import bulk, http, registry
from rapport.core.audit import record_setting_change, values
from rapport.core.models import Event, to_json_value

from .models import Delivery, DeliveryAttempt, Subscription, new_secret

# Waits after failed attempt 1, 2, …: the Standard Webhooks example schedule (about a day and a half in all),
# each ±10 % so that many deliveries failing together do not come back together.
RETRY_SCHEDULE = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
]
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
JITTER = 0.1
# How long a claimed delivery is left alone: longer than any one send (core.http's total timeout).
LEASE = timedelta(minutes=2)
RESPONSE_EXCERPT = 1000
MAX_RESPONSE_BYTES = 64 * 1024
AUDITED = ["name", "url", "event_types", "type_keys", "active", "disabled_reason"]


def disable_after() -> int:
    return int(getattr(settings, "RAPPORT_WEBHOOK_DISABLE_AFTER", 5))


def send_timeout() -> float:
    return float(getattr(settings, "RAPPORT_WEBHOOK_TIMEOUT", 15))


# --- subscriptions (settings) --------------------------------------------------------------------------------


def create_subscription(data: dict[str, Any], *, actor: Any) -> Subscription:
    with transaction.atomic():
        subscription = Subscription.objects.create(created_by=actor, **data)
        record_setting_change(
            "webhook", subscription, actor=actor, action="created", after=values(subscription, AUDITED)
        )
    return subscription


def update_subscription(subscription: Subscription, data: dict[str, Any], *, actor: Any) -> Subscription:
    with transaction.atomic():
        before = values(subscription, AUDITED)
        for key, value in data.items():
            setattr(subscription, key, value)
        if data.get("active") and subscription.disabled_reason:
            subscription.disabled_reason = ""  # re-enabled by hand
            subscription.failed_in_a_row = 0
            subscription.flagged_at = None
        subscription.updated_at = timezone.now()
        subscription.save()
        record_setting_change("webhook", subscription, actor=actor, before=before, after=values(subscription, AUDITED))
    return subscription


def delete_subscription(subscription: Subscription, *, actor: Any) -> None:
    with transaction.atomic():
        record_setting_change(
            "webhook", subscription, actor=actor, action="deleted", before=values(subscription, AUDITED)
        )
        subscription.delete()


def rotate_secret(subscription: Subscription, *, actor: Any) -> Subscription:
    with transaction.atomic():
        subscription.secret = new_secret()
        subscription.updated_at = timezone.now()
        subscription.save(update_fields=["secret", "updated_at"])
        # The secret itself never goes into the audit trail: only that it changed.
        record_setting_change(
            "webhook", subscription, actor=actor, before={"secret": "old"}, after={"secret": "rotated"}
        )
    return subscription


def send_test(subscription: Subscription, *, actor: Any) -> Delivery:
    """A ``ping`` delivery to the subscription's URL, sent by the next run of the sender (enqueued now)."""
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.create(
            subscription=subscription,
            message_id=new_message_id(),
            event_type="ping",
            payload={
                "type": "ping",
                "timestamp": to_json_value(now),
                "data": {"subscription": subscription.pk, "message": "A test from Rapport: this endpoint works."},
            },
            next_attempt_at=now,
        )
        schedule_send()
    return delivery


def redeliver(delivery: Delivery, *, actor: Any) -> Delivery:
    """Send a delivery again (same webhook-id, so a receiver that already has it can tell)."""
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.PENDING, next_attempt_at=timezone.now(), finished_at=None, attempts=0
        )
        schedule_send()
    delivery.refresh_from_db()
    return delivery


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


# --- from events to deliveries -------------------------------------------------------------------------------


def event_kinds(event: Event) -> list[str]:
    """What an event is, most specific first: a deal's update that wins it is ``won``, then ``stage_changed``,
    then ``updated``."""
    kinds = []
    changes = event.changes or {}
    if event.type_key == "deals" and event.kind == "updated":
        status = changes.get("status")
        if isinstance(status, list) and len(status) == 2 and status[1] in ("won", "lost"):
            kinds.append(status[1])
        if "stage" in changes:
            kinds.append("stage_changed")
    kinds.append(event.kind)
    return kinds


def type_name(type_key: str) -> str:
    """The record type in a webhook's ``type``: ``person`` for people, ``deal`` for deals."""
    return registry.get(type_key).label.lower().replace(" ", "_")


def _record_as_seen_by(type_key: str, record_id: int, viewer: Any) -> dict[str, Any] | None:
    """The record as the API shows it to ``viewer`` (links they may not see carry no name), or None when they
    may not see it at all."""
    return records_as_seen_by(type_key, [record_id], viewer).get(record_id)


def records_as_seen_by(type_key: str, record_ids: list[int], viewer: Any) -> dict[int, dict[str, Any]]:
    """Many records as the API shows them to ``viewer``, by id, in one read (a second one for binned records
    among them); those they may not see are left out."""
    from rapport.api.representation import detail_queryset, represent

    records: Any = detail_queryset(type_key)
    out: dict[int, dict[str, Any]] = {}
    wanted = set(record_ids)
    for deleted in (False, True):
        if not wanted:
            break
        for record in records.visible_to(viewer, deleted=deleted).filter(pk__in=wanted):
            out[record.pk] = represent(record, viewer)
        wanted -= out.keys()
    return out


def _actor_json(event: Event, actors: dict[int, Any] | None = None) -> dict[str, Any] | None:
    if event.actor_id is None:
        return None
    actor = actors.get(event.actor_id) if actors is not None else event.actor
    return {"id": event.actor_id, "name": (actor.get_full_name() or actor.get_username()) if actor else ""}


def deliveries_for_event(event: Event) -> int:
    """The deliveries of one event (see ``deliveries_for_events``)."""
    return deliveries_for_events([event])


def deliveries_for_events(events: list[Event]) -> int:
    """The event consumer, for a dispatch batch: one delivery per event and matching active subscription whose
    creator may see the record — the subscriptions read once, the records represented in one read per type and
    subscription, the deliveries made with one INSERT in event order (order per record). Idempotent: a second
    call for the same events makes none (unique per subscription and event)."""
    subscriptions = list(Subscription.objects.filter(active=True).select_related("created_by"))
    if not subscriptions:
        return 0
    plan: list[tuple[Event, list[str], list[tuple[Subscription, str]]]] = []
    wanted_ids: dict[tuple[int, str], set[int]] = {}
    for event in events:
        if event.record_id is None or event.type_key not in registry.keys():
            continue
        kinds = event_kinds(event)
        wanted = [(s, kind) for s in subscriptions if (kind := s.wants(event.type_key, kinds))]
        if not wanted:
            continue
        plan.append((event, kinds, wanted))
        for subscription, kind in wanted:
            if kind != "order":
                wanted_ids.setdefault((subscription.pk, event.type_key), set()).add(event.record_id)
    if not plan:
        return 0
    by_pk = {s.pk: s for s in subscriptions}
    from django.contrib.auth import get_user_model

    actor_ids = {event.actor_id for event, _, _ in plan if event.actor_id is not None}
    actors = get_user_model().objects.in_bulk(actor_ids) if actor_ids else {}
    seen = {key: records_as_seen_by(key[1], sorted(ids), by_pk[key[0]].created_by) for key, ids in wanted_ids.items()}
    made = []
    for event, kinds, wanted in plan:
        for subscription, kind in wanted:
            if kind == "order":
                payload = _order_payload(event, subscription.created_by, kinds)
                if payload is not None:
                    made.append(_delivery(subscription, event, payload))
                continue
            record = seen[(subscription.pk, event.type_key)].get(event.record_id or 0)
            if record is None:
                continue
            payload = {
                "type": f"{type_name(event.type_key)}.{kind}",
                "timestamp": to_json_value(event.occurred_at),
                "data": {
                    "event_id": event.pk,
                    "kind": event.kind,
                    "kinds": kinds,
                    "record_type": event.type_key,
                    "record_id": event.record_id,
                    "actor": _actor_json(event, actors),
                    "source": event.source,
                    "occurred_at": to_json_value(event.occurred_at),
                    "changes": event.changes or {},
                    "record": record,
                },
            }
            made.append(_delivery(subscription, event, payload))
    if made:
        Delivery.objects.bulk_create(made, ignore_conflicts=True)
        schedule_send()
    return len(made)


def _delivery(subscription: Subscription, event: Event, payload: dict[str, Any]) -> Delivery:
    return Delivery(
        subscription=subscription,
        event_id=event.pk,
        message_id=new_message_id(),
        event_type=payload["type"],
        type_key=event.type_key,
        record_id=event.record_id or 0,
        payload=payload,
        next_attempt_at=timezone.now(),
    )


def _order_payload(event: Event, viewer: Any, kinds: list[str]) -> dict[str, Any] | None:
    """``order.created`` for a won deal (webhooks.orders), as ``viewer`` may see it; None when they may not
    see the deal, or it is no longer won."""
    from .orders import order_payload, won_deal

    deal = won_deal(event.record_id or 0, viewer)
    if deal is None:
        return None
    return {
        "type": "order.created",
        "timestamp": to_json_value(event.occurred_at),
        "data": {
            "event_id": event.pk,
            "kind": event.kind,
            "kinds": kinds,
            "record_type": event.type_key,
            "record_id": event.record_id,
            "actor": _actor_json(event),
            "source": event.source,
            "occurred_at": to_json_value(event.occurred_at),
            "order": order_payload(deal, viewer),
        },
    }


def deliver_record(
    subscription: Subscription,
    *,
    event_type: str,
    type_key: str,
    record_id: int,
    data: dict[str, Any],
    send: bool = True,
) -> Delivery | None:
    """A delivery of a record outside the event feed (a workflow rule's "call a webhook" action): the record as
    the subscription's creator may see it, plus ``data``; signed, ordered per record, retried and logged like every
    delivery. None when the creator may not see the record. Sent once the caller's transaction commits."""
    record = _record_as_seen_by(type_key, record_id, subscription.created_by)
    if record is None:
        return None
    delivery = record_delivery(subscription, event_type=event_type, type_key=type_key, record=record, data=data)
    delivery.save()
    if send:  # (a caller making many, one transaction each, enqueues the sender once itself: schedule_send)
        schedule_send()
    return delivery


def record_delivery(
    subscription: Subscription, *, event_type: str, type_key: str, record: dict[str, Any], data: dict[str, Any]
) -> Delivery:
    """The (unsaved) delivery of ``record`` — its representation, from ``records_as_seen_by`` — plus ``data``:
    what ``deliver_record`` saves, and what a batch of rule runs makes many of at once (``bulk_create``)."""
    now = timezone.now()
    payload = {
        "type": event_type,
        "timestamp": to_json_value(now),
        "data": {**data, "record_type": type_key, "record_id": record["id"], "record": record},
    }
    return Delivery(
        subscription=subscription,
        message_id=new_message_id(),
        event_type=event_type[:80],
        type_key=type_key,
        record_id=record["id"],
        payload=payload,
        next_attempt_at=now,
    )


def schedule_send() -> None:
    """Send once the transaction that made deliveries commits (the minute schedule catches anything missed)."""
    from .tasks import send_webhooks

    transaction.on_commit(lambda: send_webhooks.enqueue(), robust=True)


# --- sending -------------------------------------------------------------------------------------------------


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of Standard Webhooks: HMAC-SHA256 of ``id.timestamp.body`` keyed with the
    secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def body_of(delivery: Delivery) -> bytes:
    return json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()


def due() -> Any:
    """Pending deliveries that may go now: due, their subscription active, and none before them pending for the
    same subscription and record (order per record)."""
    earlier = Delivery.objects.filter(
        subscription=OuterRef("subscription"),
        type_key=OuterRef("type_key"),
        record_id=OuterRef("record_id"),
        status=Delivery.PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        Delivery.objects.filter(status=Delivery.PENDING, next_attempt_at__lte=timezone.now(), subscription__active=True)
        .exclude(Exists(earlier))
        .order_by("next_attempt_at", "id")
    )


SEND_BATCH = 50


def concurrency() -> int:
    """How many deliveries one sender posts at once (each to a different record, so order per record holds)."""
    return max(1, int(getattr(settings, "RAPPORT_WEBHOOK_CONCURRENCY", 8)))


def send_due(limit: int = 500) -> int:
    """Send what is due, up to ``limit`` attempts, a batch at a time: claimed together, posted concurrently (a
    batch holds at most one delivery per subscription and record: the first pending one), their attempts stored
    together. Returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        batch = claim_due(min(SEND_BATCH, limit - attempted))
        if not batch:
            break
        attempt_many(batch)
        attempted += len(batch)
    return attempted


def claim_due(size: int) -> list[Delivery]:
    """Claim up to ``size`` due deliveries with one UPDATE moving them a lease ahead (a killed worker's claim lapses:
    at least once); ours are those carrying this claim's own lease time."""
    for _ in range(5):  # (SQLite: another sender may have claimed the same rows first; look again)
        now = timezone.now()
        lease_until = now + LEASE + timedelta(microseconds=random.randrange(1, 1_000_000))  # noqa: S311 - a tag
        with transaction.atomic():
            rows = due()
            if connections[rows.db].features.has_select_for_update_skip_locked:
                # Rows another sender is claiming right now are skipped, not waited for (nor returned).
                rows = rows.select_for_update(skip_locked=True, of=("self",))
            ids = list(rows.values_list("pk", flat=True)[:size])
            if not ids:
                return []
            Delivery.objects.filter(pk__in=ids, status=Delivery.PENDING, next_attempt_at__lte=now).update(
                next_attempt_at=lease_until
            )
        claimed = list(
            Delivery.objects.filter(pk__in=ids, status=Delivery.PENDING, next_attempt_at=lease_until)
            .select_related("subscription")
            .order_by("id")
        )
        if claimed:
            return claimed
    return []


def retry_delay(attempts: int) -> timedelta:
    base = RETRY_SCHEDULE[attempts - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret


def attempt(delivery: Delivery) -> DeliveryAttempt:
    """Post one delivery once and store the attempt; success, a retry later, or given up."""
    return attempt_many([delivery])[0]


def _post(delivery: Delivery) -> tuple[int | None, str, str, int]:
    """Post one delivery (no database here: it runs in the sender's threads); (status, excerpt, error, ms)."""
    subscription = delivery.subscription
    body = body_of(delivery)
    timestamp = int(timezone.now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(subscription.secret, delivery.message_id, timestamp, body),
    }
    status_code: int | None = None
    excerpt = error = ""
    started = time.monotonic()
    try:
        response = http.request(
            "POST",
            subscription.url,
            headers=headers,
            body=body,
            total_timeout=send_timeout(),
            max_bytes=MAX_RESPONSE_BYTES,
            follow_redirects=False,
        )
        status_code = response.status
        excerpt = response.text[:RESPONSE_EXCERPT]
        if not 200 <= response.status < 300:
            error = f"The receiver answered {response.status}."
    except http.OutboundError as exc:
        error = str(exc)[:500]
    return status_code, excerpt, error, int((time.monotonic() - started) * 1000)


def attempt_many(deliveries: list[Delivery]) -> list[DeliveryAttempt]:
    """Post claimed deliveries once each — concurrently, ``concurrency()`` at a time — and store their attempts in
    one transaction: success, a retry later, or given up (the subscription flagged)."""
    if len(deliveries) == 1 or concurrency() == 1:
        results = [_post(delivery) for delivery in deliveries]
    else:
        with ThreadPoolExecutor(max_workers=min(len(deliveries), concurrency())) as pool:
            results = list(pool.map(_post, deliveries))
    now = timezone.now()
    rows = []
    succeeded: set[int] = set()
    given_up: list[Delivery] = []
    for delivery, (status_code, excerpt, error, latency) in zip(deliveries, results, strict=True):
        rows.append(
            DeliveryAttempt(
                delivery=delivery,
                at=now,
                status_code=status_code,
                response_excerpt=excerpt,
                error=error,
                latency_ms=max(0, latency),
            )
        )
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error
        if not error:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = Delivery.SUCCEEDED, now, None
            succeeded.add(delivery.subscription_id)
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = Delivery.FAILED, now, None
            given_up.append(delivery)
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    fields = ["attempts", "last_status_code", "last_error", "status", "next_attempt_at", "finished_at"]
    with transaction.atomic():
        made = DeliveryAttempt.objects.bulk_create(rows)
        bulk.update_objects(Delivery, deliveries, fields)
        if succeeded:
            Subscription.objects.filter(pk__in=succeeded).exclude(failed_in_a_row=0, flagged_at=None).update(
                failed_in_a_row=0, flagged_at=None
            )
        for delivery in given_up:
            _given_up(delivery.subscription, now)
    return made


def _given_up(subscription: Subscription, now: Any) -> None:
    fresh = Subscription.objects.select_for_update().get(pk=subscription.pk)
    fresh.failed_in_a_row += 1
    fresh.flagged_at = now
    if fresh.failed_in_a_row >= disable_after() and fresh.active:
        fresh.active = False
        fresh.disabled_reason = (
            f"Disabled after {fresh.failed_in_a_row} deliveries in a row were given up "
            f"(each tried {MAX_ATTEMPTS} times over about a day). Check the receiver, then enable it again."
        )
    fresh.save(update_fields=["failed_in_a_row", "flagged_at", "active", "disabled_reason"])
