"""The writes of webhooks: subscriptions (settings, audited), deliveries made from events, sending them.

Deliveries are made by the event consumer (``deliveries_for_event``, called by ``rapport.jobs.events`` once per
event, at least once: idempotent by (subscription, event id)) and sent by the ``send_webhooks`` job
(``send_due``): oldest first, one at a time per (subscription, record) so a receiver gets a record's changes in
order, each signed per Standard Webhooks and posted through ``core.http``. A delivery is claimed by moving its
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
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from rapport.core import http, registry
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
    from rapport.api.representation import detail_queryset, represent

    records: Any = detail_queryset(type_key)
    for deleted in (False, True):
        found = list(records.visible_to(viewer, deleted=deleted).filter(pk=record_id)[:1])
        if found:
            return represent(found[0], viewer)
    return None


def _actor_json(event: Event) -> dict[str, Any] | None:
    if event.actor_id is None:
        return None
    actor = event.actor
    return {"id": event.actor_id, "name": (actor.get_full_name() or actor.get_username()) if actor else ""}


def deliveries_for_event(event: Event) -> int:
    """The event consumer: one delivery per matching active subscription whose creator may see the record.
    Idempotent: a second call for the same event makes none."""
    if event.record_id is None or event.type_key not in registry.keys():
        return 0
    kinds = event_kinds(event)
    wanted = [(s, s.wants(event.type_key, kinds)) for s in Subscription.objects.filter(active=True)]
    wanted = [(s, kind) for s, kind in wanted if kind]
    if not wanted:
        return 0
    made = []
    for subscription, kind in wanted:
        if kind == "order":
            payload = _order_payload(event, subscription.created_by, kinds)
            if payload is None:
                continue
            made.append(_delivery(subscription, event, payload))
            continue
        record = _record_as_seen_by(event.type_key, event.record_id, subscription.created_by)
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
                "actor": _actor_json(event),
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
    now = timezone.now()
    payload = {
        "type": event_type,
        "timestamp": to_json_value(now),
        "data": {**data, "record_type": type_key, "record_id": record_id, "record": record},
    }
    delivery = Delivery.objects.create(
        subscription=subscription,
        message_id=new_message_id(),
        event_type=event_type[:80],
        type_key=type_key,
        record_id=record_id,
        payload=payload,
        next_attempt_at=now,
    )
    if send:  # (a caller making many, one transaction each, enqueues the sender once itself: schedule_send)
        schedule_send()
    return delivery


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


def send_due(limit: int = 500) -> int:
    """Send what is due, up to ``limit`` attempts; returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        batch = list(due().select_related("subscription")[:20])
        if not batch:
            break
        progressed = False
        for delivery in batch:
            if not _claim(delivery):
                continue
            progressed = True
            attempt(delivery)
            attempted += 1
        if not progressed:
            break
    return attempted


def _claim(delivery: Delivery) -> bool:
    lease_until = timezone.now() + LEASE
    claimed = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.PENDING, next_attempt_at=delivery.next_attempt_at
    ).update(next_attempt_at=lease_until)
    if claimed:
        delivery.next_attempt_at = lease_until
    return bool(claimed)


def retry_delay(attempts: int) -> timedelta:
    base = RETRY_SCHEDULE[attempts - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret


def attempt(delivery: Delivery) -> DeliveryAttempt:
    """Post one delivery once and store the attempt; success, a retry later, or given up."""
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
    started = timezone.now()
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
    latency = int((timezone.now() - started).total_seconds() * 1000)
    now = timezone.now()
    with transaction.atomic():
        row = DeliveryAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=status_code,
            response_excerpt=excerpt,
            error=error,
            latency_ms=max(0, latency),
        )
        delivery.attempts += 1
        delivery.last_status_code = status_code
        delivery.last_error = error
        fields = ["attempts", "last_status_code", "last_error", "status", "next_attempt_at", "finished_at"]
        if not error:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = Delivery.SUCCEEDED, now, None
            delivery.save(update_fields=fields)
            Subscription.objects.filter(pk=subscription.pk).exclude(failed_in_a_row=0, flagged_at=None).update(
                failed_in_a_row=0, flagged_at=None
            )
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.finished_at, delivery.next_attempt_at = Delivery.FAILED, now, None
            delivery.save(update_fields=fields)
            _given_up(subscription, now)
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            delivery.save(update_fields=fields)
    return row


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
