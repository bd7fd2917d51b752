"""The writes of integrations: integrations themselves (settings, audited; each with its service user and a
secret shown once), and receiving a delivery: authenticate it, refuse replays, store it once by delivery id,
and hand its payload to the integration kind's mapping (``HANDLERS``), which writes records through the write
services as the integration's service user.

A delivery is processed in one transaction with its stored row: the records and the "processed" outcome commit
together, so a sender that retries after a lost answer gets "duplicate", never a second write. A refused
payload (a 4xx naming the fields) is stored as failed and may be sent again with the same id once fixed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from rapport.core import inputs
from rapport.core.audit import record_setting_change, values
from rapport.core.models import to_json_value

from .models import GENERIC, INVOICE_NINJA, TELEPHONY, InboundDelivery, Integration

TOLERANCE = timedelta(minutes=5)  # Standard Webhooks: timestamps further than this from now are refused
ROTATION_GRACE = timedelta(hours=24)  # the old secret still signs this long after a rotation
MAX_BODY = 1024 * 1024
MAX_ID = 100
AUDITED = ["name", "slug", "kind", "active", "create_unknown_callers", "service_user"]


# --- secrets ---------------------------------------------------------------------------------------------------


def secret_for(salt: str) -> str:
    """The signing secret of a salt: ``whsec_`` and HMAC-SHA256(RAPPORT_SECRET_KEY, salt) in base64 (the
    Standard Webhooks form, so senders' libraries take it as it is). Only the salt is stored."""
    key = hmac.new(settings.SECRET_KEY.encode(), f"rapport-integration:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


def _new_salt() -> str:
    return secrets.token_hex(16)


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of id.timestamp.body>`` keyed with the secret's base64 part."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def current_secrets(integration: Integration) -> list[str]:
    """The secrets a delivery may be signed with now: the current one, and the previous one during the grace
    period after a rotation."""
    out = [secret_for(integration.secret_salt)]
    until = integration.previous_valid_until
    if integration.previous_salt and until is not None and until > timezone.now():
        out.append(secret_for(integration.previous_salt))
    return out


# --- integrations (settings) ---------------------------------------------------------------------------------


def _service_user(name: str, slug: str, role: Any, *, actor: Any) -> Any:
    from rapport.accounts.models import Role, User
    from rapport.accounts.services import create_user

    role = role or Role.objects.get(key="admin")
    # A deleted integration's service user stays (deactivated, its records keep it): a new integration of the
    # same name takes the next free username.
    base = f"integration-{slug}"[:140]
    username, n = base, 2
    while User.objects.filter(username=username).exists():
        username, n = f"{base}-{n}", n + 1
    return create_user(
        username=username, password=None, actor=actor, first_name=name[:150], last_name="(integration)", role=role
    )


def unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "integration"
    slug, n = base, 2
    while Integration.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_integration(data: dict[str, Any], *, actor: Any) -> tuple[Integration, str]:
    """A new integration with its service user (no password: it cannot sign in) and a secret, returned once."""
    data = dict(data)
    role = data.pop("role", None)
    with transaction.atomic():
        slug = data.pop("slug", "") or unique_slug(data["name"])
        salt = _new_salt()
        secret = secret_for(salt)
        integration = Integration.objects.create(
            slug=slug,
            secret_salt=salt,
            secret_hint=secret[-4:],
            service_user=_service_user(data["name"], slug, role, actor=actor),
            created_by=actor,
            **data,
        )
        record_setting_change(
            "integration", integration, actor=actor, action="created", after=values(integration, AUDITED)
        )
    return integration, secret


def update_integration(integration: Integration, data: dict[str, Any], *, actor: Any) -> Integration:
    data = {k: v for k, v in data.items() if k in ("name", "active", "create_unknown_callers")}
    with transaction.atomic():
        before = values(integration, AUDITED)
        for key, value in data.items():
            setattr(integration, key, value)
        integration.updated_at = timezone.now()
        integration.save()
        record_setting_change(
            "integration", integration, actor=actor, before=before, after=values(integration, AUDITED)
        )
    return integration


def rotate_secret(integration: Integration, *, actor: Any) -> str:
    """A new secret, returned once; the old one keeps working for ``ROTATION_GRACE`` so the sender can switch."""
    with transaction.atomic():
        salt = _new_salt()
        secret = secret_for(salt)
        integration.previous_salt = integration.secret_salt
        integration.previous_valid_until = timezone.now() + ROTATION_GRACE
        integration.secret_salt = salt
        integration.secret_hint = secret[-4:]
        integration.updated_at = timezone.now()
        integration.save()
        record_setting_change(
            "integration", integration, actor=actor, before={"secret": "old"}, after={"secret": "rotated"}
        )
    return secret


def delete_integration(integration: Integration, *, actor: Any) -> None:
    """The integration and its delivery log go; its service user is deactivated (its records keep it)."""
    from rapport.accounts.services import deactivate_user

    with transaction.atomic():
        record_setting_change(
            "integration", integration, actor=actor, action="deleted", before=values(integration, AUDITED)
        )
        user = integration.service_user
        integration.delete()
        if user.is_active:
            deactivate_user(user, actor=actor)


# --- receiving -----------------------------------------------------------------------------------------------


class Refused(Exception):
    """A delivery answered with a 4xx: ``error`` code, a message, and messages by field or header."""

    def __init__(self, status: int, error: str, message: str, fields: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.fields = status, error, message, fields or {}


@dataclass
class Outcome:
    """What a mapping did: ``processed`` (records written or already as sent) or ``ignored`` (nothing to do)."""

    event_type: str
    message: str
    records: list[dict[str, Any]] = field(default_factory=list)
    status: str = InboundDelivery.PROCESSED


Handler = Callable[[Integration, dict[str, Any]], Outcome]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


@dataclass
class Received:
    status: int
    body: dict[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str:
    return (headers.get(name) or "").strip()


def authenticate(integration: Integration, headers: Mapping[str, str], body: bytes, *, now: Any = None) -> str:
    """Check a delivery's Standard Webhooks headers (or, for Invoice Ninja, which cannot sign, the secret in
    ``X-Rapport-Secret``) and return its delivery id; raise ``Refused`` (401) naming the header otherwise."""
    if integration.kind == INVOICE_NINJA and _header(headers, "x-rapport-secret"):
        given = _header(headers, "x-rapport-secret")
        if not any(hmac.compare_digest(given, s) for s in current_secrets(integration)):
            raise Refused(401, "authentication_failed", "Wrong secret.", {"X-Rapport-Secret": ["Wrong secret."]})
        return ""  # the mapping derives the delivery id from the payload (the entity and its update time)
    missing = [h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if not _header(headers, h)]
    if missing:
        raise Refused(
            401,
            "not_authenticated",
            f"Sign the delivery: {', '.join(missing)} missing (Standard Webhooks).",
            {h: ["This header is required."] for h in missing},
        )
    message_id, stamp = _header(headers, "webhook-id"), _header(headers, "webhook-timestamp")
    if len(message_id) > MAX_ID:
        raise Refused(400, "invalid", "webhook-id is too long.", {"webhook-id": [f"At most {MAX_ID} characters."]})
    if not inputs.is_id(stamp) or len(stamp) > 12:
        raise Refused(
            401,
            "authentication_failed",
            "webhook-timestamp is not a Unix time.",
            {"webhook-timestamp": ["Seconds since 1970-01-01 UTC."]},
        )
    moment = now or timezone.now()
    skew = abs(moment.timestamp() - int(stamp))
    if skew > TOLERANCE.total_seconds():
        raise Refused(
            401,
            "authentication_failed",
            "The delivery's timestamp is more than 5 minutes from now: an old delivery replayed, or a clock off.",
            {"webhook-timestamp": [f"{int(skew)} s from the server's time; at most 300 s."]},
        )
    offered = [part for part in _header(headers, "webhook-signature").split() if part.startswith("v1,")]
    expected = [signature(s, message_id, stamp, body) for s in current_secrets(integration)]
    if not any(hmac.compare_digest(o, e) for o in offered for e in expected):
        raise Refused(
            401,
            "authentication_failed",
            "The signature does not match: check the secret and sign webhook-id.webhook-timestamp.body.",
            {"webhook-signature": ["No v1 signature matches."]},
        )
    return message_id


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "malformed", f"The body is not JSON: {exc}", {"body": ["Send a JSON object."]}) from exc
    if not isinstance(data, dict):
        raise Refused(400, "malformed", "The body must be a JSON object.", {"body": ["Send a JSON object."]})
    return data


def receive(slug: str, headers: Mapping[str, str], body: bytes) -> Received:
    """Take one delivery for the integration ``slug``; the answer's status and body (the API view sends them)."""
    integration = Integration.objects.filter(slug=slug).select_related("service_user").first()
    if integration is None:
        return _refusal(Refused(404, "not_found", "No such integration."))
    if len(body) > MAX_BODY:
        return _refusal(Refused(413, "too_large", "The body is over 1 MB.", {"body": ["At most 1 MB."]}))
    try:
        delivery_id = authenticate(integration, headers, body)
        if not integration.active:
            raise Refused(403, "forbidden", "This integration is switched off (Settings → Integrations).")
        if not integration.service_user.is_active:
            raise Refused(403, "forbidden", "This integration's service user is deactivated.")
        payload = parse_body(body)
    except Refused as refused:
        return _refusal(refused)
    mapping = HANDLERS[integration.kind]
    if not delivery_id:
        delivery_id = _derived_id(integration, payload)
    return _process(integration, delivery_id, payload, mapping)


def _derived_id(integration: Integration, payload: dict[str, Any]) -> str:
    """For a sender without a delivery id (Invoice Ninja): the entity, its id and its update time, so the same
    state sent twice is one delivery."""
    from .invoiceninja import delivery_id

    return delivery_id(payload)


def _refusal(refused: Refused) -> Received:
    body: dict[str, Any] = {"error": refused.error, "message": refused.message}
    if refused.fields:
        body["fields"] = refused.fields
    return Received(refused.status, body)


def _result(row: InboundDelivery, *, duplicate: bool = False) -> dict[str, Any]:
    return {
        "status": "duplicate" if duplicate else row.status,
        "delivery_id": row.delivery_id,
        "event_type": row.event_type,
        "message": row.message,
        "records": row.records,
        "received_at": to_json_value(row.received_at),
    }


def _process(integration: Integration, delivery_id: str, payload: dict[str, Any], mapping: Handler) -> Received:
    now = timezone.now()
    try:
        with transaction.atomic():
            row = (
                InboundDelivery.objects.select_for_update()
                .filter(integration=integration, delivery_id=delivery_id)
                .first()
            )
            if row is not None and row.status != InboundDelivery.FAILED:
                return Received(200, _result(row, duplicate=True))
            if row is None:
                row = InboundDelivery(integration=integration, delivery_id=delivery_id, received_at=now, attempts=0)
            row.attempts += 1
            row.payload = payload
            try:
                with transaction.atomic():
                    outcome = mapping(integration, payload)
            except Refused as refused:
                row.status, row.http_status = InboundDelivery.FAILED, refused.status
                row.message, row.fields, row.records = refused.message[:500], refused.fields, []
                row.event_type = row.event_type or str(payload.get("type") or payload.get("entity_type") or "")[:100]
                row.processed_at = now
                row.save()
                return _refusal(refused)
            row.status, row.http_status, row.message = outcome.status, 200, outcome.message[:500]
            row.event_type, row.records, row.fields, row.processed_at = (
                outcome.event_type[:100],
                outcome.records,
                {},
                now,
            )
            row.save()
            return Received(200, _result(row))
    except IntegrityError:
        # The same delivery arrived twice at once: the other one holds it.
        return _refusal(Refused(409, "busy", "This delivery is being processed; send it again in a moment."))


def prune_deliveries(*, older_than: timedelta = timedelta(days=30)) -> int:
    cutoff = timezone.now() - older_than
    deleted, _ = InboundDelivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted


KIND_HELP = {
    GENERIC: "Create or update any record type from a JSON body: {type, match, data}.",
    INVOICE_NINJA: (
        "Invoice Ninja's webhooks (invoice created/updated, payment created): invoices, payments, companies."
    ),
    TELEPHONY: "Calls from a PBX: each call logged on the caller's person (or a new lead).",
}
