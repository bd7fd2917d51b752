"""Telephony: the caller lookup for a PBX's screen pop (a number in any form → E.164 → the people and
companies with it and their open deals, as the asking user may see them) and call logging (a call → a done
"call" activity on the matching person and their company, or on a new lead when the integration creates
unknown callers). Calls come signed to a telephony integration's inbound endpoint or with an API token to
``/api/v1/telephony/calls/``; both call ``log_call``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Q
from rest_framework import serializers

from rapport.contacts.models import Company, Person, PersonPhone
from rapport.core.normalize import format_phone, normalize_phone
from rapport.core.visibility import link_label
from rapport.deals.models import Deal

from .mapping import write
from .models import TELEPHONY, Integration
from .services import Outcome, Refused, handler

MATCHES = 10
# What PBXs say → Rapport's call outcomes.
OUTCOMES = {
    "connected": "connected",
    "answered": "connected",
    "completed": "connected",
    "no_answer": "no_answer",
    "noanswer": "no_answer",
    "missed": "no_answer",
    "busy": "no_answer",
    "failed": "no_answer",
    "voicemail": "left_voicemail",
    "left_voicemail": "left_voicemail",
    "wrong_number": "wrong_number",
}


def e164(number: str) -> str | None:
    """``number`` in E.164 (``+33123456789``) read in the installation's default region, or None."""
    text = (number or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) > 40:
        return None
    try:
        return normalize_phone(text)
    except ValueError:
        return None


def lookup(user: Any, number: str) -> dict[str, Any]:
    """Who has this number, as ``user`` may see them: people (by any of their phones), companies (their phone,
    and the people's companies) and the open deals of those people and companies. A fixed number of queries."""
    normal = e164(number)
    if normal is None:
        raise Refused(
            400,
            "bad_parameter",
            "number: not a phone number.",
            {"number": ["Give a phone number, e.g. +33 1 23 45 67 89."]},
        )
    people = list(
        Person.objects.visible_to(user)
        .filter(pk__in=PersonPhone.objects.filter(number=normal).values("person_id"))
        .select_related("company")
        .order_by("-updated_at", "-id")[:MATCHES]
    )
    company_ids = {p.company_id for p in people if p.company_id}
    companies = list(
        Company.objects.visible_to(user)
        .filter(Q(phone=normal) | Q(pk__in=company_ids))
        .order_by("-updated_at", "-id")[:MATCHES]
    )
    deals: list[Any] = []
    if user.scope_for("deals", "view") is not None and (people or companies):
        deals = list(
            Deal.objects.visible_to(user)
            .filter(status="open")
            .filter(
                Q(company_id__in=[c.pk for c in companies]) | Q(deal_contacts__person_id__in=[p.pk for p in people])
            )
            .select_related("stage")
            .distinct()
            .order_by("expected_close_date", "id")[:MATCHES]
        )
    return {
        "number": normal,
        "display": format_phone(normal),
        "people": [
            {
                "id": p.pk,
                "name": p.full_name,
                "url": f"/people/{p.pk}/",
                "company": (
                    {
                        "id": p.company_id,
                        "name": link_label(
                            user, "companies", p.company.name, owner_id=p.company.owner_id, team_id=p.company.team_id
                        ),
                    }
                    if p.company_id and p.company is not None
                    else None
                ),
            }
            for p in people
        ],
        "companies": [{"id": c.pk, "name": c.name, "url": f"/companies/{c.pk}/"} for c in companies],
        "deals": [
            {
                "id": d.pk,
                "title": d.title,
                "stage": d.stage.name,
                "amount": d.amount,
                "currency": d.currency,
                "url": f"/deals/{d.pk}/",
            }
            for d in deals
        ],
    }


class CallSerializer(serializers.Serializer):
    """A call as a PBX reports it (docs/integrations.md)."""

    call_id = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="The PBX's id of the call."
    )
    direction = serializers.ChoiceField(choices=["inbound", "outbound"])
    number = serializers.CharField(
        max_length=40, help_text="The other party's number (the caller's on an inbound call), in any format."
    )
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    duration_seconds = serializers.IntegerField(min_value=0, max_value=7 * 24 * 3600, required=False, default=0)
    outcome = serializers.CharField(max_length=30, required=False, allow_blank=True, help_text=", ".join(OUTCOMES))
    recording_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)
    agent = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="The Rapport user who took or made the call: user name or email.",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate_number(self, value: str) -> str:
        normal = e164(value)
        if normal is None:
            raise serializers.ValidationError("Not a phone number.")
        return normal

    def validate_outcome(self, value: str) -> str:
        key = value.strip().lower().replace(" ", "_").replace("-", "_")
        if key and key not in OUTCOMES:
            raise serializers.ValidationError(f"Use one of: {', '.join(OUTCOMES)}.")
        return OUTCOMES.get(key, "")

    def validate_recording_url(self, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise serializers.ValidationError("An http or https address.")
        return value


def _agent(name: str) -> Any:
    from django.contrib.auth import get_user_model

    if not name:
        return None
    users = get_user_model().objects.filter(is_active=True)
    return users.filter(username__iexact=name).first() or users.filter(email__iexact=name).first()


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def log_call(call: dict[str, Any], *, actor: Any, create_unknown: bool, source: str = "api") -> dict[str, Any]:
    """Log one validated call (``CallSerializer``) as a done call activity on the person with its number
    (the most recently changed one the actor may see) and their company; an unknown number creates a lead
    when ``create_unknown``, else the call is logged on nothing but the agent's day. Returns what was written."""
    number = call["number"]
    written: list[dict[str, Any]] = []
    person = (
        Person.objects.visible_to(actor)
        .filter(pk__in=PersonPhone.objects.filter(number=number).values("person_id"))
        .order_by("-updated_at", "-id")
        .first()
    )
    company = None
    if person is None:
        company = Company.objects.visible_to(actor).filter(phone=number).order_by("-updated_at", "-id").first()
    if person is None and company is None and create_unknown:
        person = write(
            "people",
            {
                "first_name": "Caller",
                "last_name": format_phone(number),
                "phones": [{"number": number, "kind": "mobile"}],
                "lifecycle_stage": "lead",
                "lead_status": "new",
                "source": "phone",
            },
            actor=actor,
            prefix="person",
            source=source,
        )
        written.append({"type": "people", "id": person.pk, "action": "created"})
    agent = _agent(call.get("agent", ""))
    inbound = call["direction"] == "inbound"
    shown = format_phone(number)
    seconds = call.get("duration_seconds") or 0
    lines = [
        f"{'Incoming' if inbound else 'Outgoing'} call {'from' if inbound else 'to'} {shown}, {_duration(seconds)}.",
    ]
    if call.get("recording_url"):
        lines.append(f"[Recording]({call['recording_url']})")
    if call.get("note"):
        lines.append(call["note"])
    if call.get("call_id"):
        lines.append(f"Call id: {call['call_id']}")
    started = call.get("started_at") or dt.datetime.now(dt.UTC)
    links = []
    if person is not None:
        links.append({"type": "people", "id": person.pk})
        if person.company_id:
            links.append({"type": "companies", "id": person.company_id})
    elif company is not None:
        links.append({"type": "companies", "id": company.pk})
    who = person.full_name if person else company.name if company else shown
    owner = agent or (person.owner if person is not None else None) or (company.owner if company is not None else None)
    data: dict[str, Any] = {
        "kind": "call",
        "subject": f"{'Call from' if inbound else 'Call to'} {who}"[:200],
        "body": "\n\n".join(lines),
        "start_at": started.isoformat(),
        "duration_minutes": math.ceil(seconds / 60),
        "outcome": call.get("outcome", ""),
        "done": True,
        "links": links,
    }
    if owner is not None:
        data["owner"] = owner.pk
        data["assignee"] = owner.pk
    activity = write("activities", data, actor=actor, prefix="call", source=source)
    written.append({"type": "activities", "id": activity.pk, "action": "logged"})
    return {
        "number": number,
        "person": person.pk if person else None,
        "company": (person.company_id if person else company.pk if company else None),
        "records": written,
        "activity": activity,
    }


@handler(TELEPHONY)
def telephony(integration: Integration, payload: dict[str, Any]) -> Outcome:
    serializer = CallSerializer(data=payload)
    if not serializer.is_valid():
        from rapport.api.errors import flatten

        fields = flatten(serializer.errors)
        raise Refused(400, "invalid", f"Invalid fields: {', '.join(fields)}.", fields)
    result = log_call(
        dict(serializer.validated_data),
        actor=integration.service_user,
        create_unknown=integration.create_unknown_callers,
    )
    who = (
        "a new lead"
        if any(r["type"] == "people" for r in result["records"])
        else (
            "the matching person" if result["person"] else "the matching company" if result["company"] else "no record"
        )
    )
    return Outcome("call", f"Call logged on {who}.", result["records"])
