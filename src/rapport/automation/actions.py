"""What a rule can do: the action registry and the built-in actions.

An action is ``fn(ctx, params) -> str`` (what it did, in words, for the run log and the dry run) with a DRF
serializer validating its ``params`` when a rule is saved. Every record change goes through the write services
with source ``automation`` and no person as actor (the run's request id names the rule); effects outside the
database (email, webhooks) are queued in the same transaction, so a dry run (rolled back) sends nothing.
Later apps add their own: ``register_action("send_sms", "Send a text message", fn, SmsParams)``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q
from django.utils import timezone
from rest_framework import serializers

from rapport.core import registry, services
from rapport.core.inputs import is_id
from rapport.core.models import Record
from rapport.core.serializers import RejectUnknownFields
from rapport.core.visibility import SYSTEM

from .models import Rule, RuleRun

SOURCE = "automation"


@dataclass
class Context:
    rule: Rule
    record: Record
    run: RuleRun | None  # None in a dry run
    index: int  # the action's place in the rule
    dry_run: bool
    # Called once after a batch of runs (e.g. enqueue the webhook sender once, not once per action).
    later: set[Callable[[], None]] = field(default_factory=set)

    @property
    def key(self) -> str:
        """A key for effects that must happen once per run and action (an email's outbox row)."""
        if self.run is None:
            return f"automation-dry:{uuid.uuid4().hex}"
        return f"automation:{self.run.pk}:{self.index}"


ActionFn = Callable[[Context, dict[str, Any]], str]
# The same action for many runs of one rule at once: (rule, runs, params, later) -> {run id: what it did}. Only for
# actions that write no record (their events would need each run's request id): it runs in one transaction with
# the runs' outcomes; if it raises, the runs are done one by one with ``fn`` instead.
BatchFn = Callable[[Rule, list[RuleRun], dict[str, Any], set[Callable[[], None]]], dict[int, str]]


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    fn: ActionFn
    params_serializer: type[serializers.Serializer]
    types: tuple[str, ...] = ()  # the record types it applies to; empty: every type
    batch_fn: BatchFn | None = None


ACTIONS: dict[str, Action] = {}


def register_action(
    key: str,
    label: str,
    fn: ActionFn,
    params_serializer: type[serializers.Serializer],
    *,
    types: tuple[str, ...] = (),
    batch_fn: BatchFn | None = None,
) -> Action:
    """Make an action available to rules (settings page, API, engine)."""
    action = Action(key=key, label=label, fn=fn, params_serializer=params_serializer, types=types, batch_fn=batch_fn)
    ACTIONS[key] = action
    return action


def run_action(ctx: Context, spec: dict[str, Any]) -> str:
    action = ACTIONS.get(spec.get("type", ""))
    if action is None:
        raise ValueError(f"There is no action {spec.get('type')!r} (was its app removed?).")
    params = validate_params(action, spec.get("params") or {}, ctx.rule.type_key)
    return action.fn(ctx, params)


def validate_params(action: Action, params: dict[str, Any], type_key: str) -> dict[str, Any]:
    serializer = action.params_serializer(data=params, context={"type_key": type_key})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- helpers ---------------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def site_url() -> str:
    return str(getattr(settings, "RAPPORT_SITE_URL", "") or "").rstrip("/")


def record_url(record: Record) -> str:
    return f"{site_url()}/{record.record_type_key}/{record.pk}/"


def render_text(template: str, record: Record) -> str:
    """``{record}`` → the record's name, ``{url}`` → its address, ``{field}`` / ``{cf_key}`` → a value."""
    snapshot = record.field_snapshot()

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "record":
            return str(record)
        if name == "url":
            return record_url(record)
        if name.startswith("cf_"):
            found = (record.custom or {}).get(name[3:])
            return "" if found is None else str(found)
        if name in snapshot:
            found = getattr(record, name, snapshot[name])
            return "" if found is None else str(found)
        return match.group(0)

    return PLACEHOLDER.sub(value, template)


def write_fields(ctx: Context, data: dict[str, Any]) -> Record:
    """Validate ``data`` with the type's own write serializer and write it through the write services."""
    rtype = registry.get(ctx.record.record_type_key)
    serializer = rtype.get_serializer_class()(ctx.record, data=data, partial=True, context={"actor": SYSTEM})
    serializer.is_valid(raise_exception=True)
    return services.update_record(ctx.record, serializer.validated_data, actor=None, source=SOURCE)


def user_name(user: Any) -> str:
    return getattr(user, "display_name", "") or user.get_username()


def _users(ids: list[int]) -> dict[int, Any]:
    return get_user_model().objects.filter(is_active=True).in_bulk(ids)


class Params(RejectUnknownFields, serializers.Serializer):
    @property
    def type_key(self) -> str:
        return str(self.context.get("type_key", ""))


class UserIdField(serializers.IntegerField):
    """An active user's id."""

    def to_internal_value(self, data: Any) -> int:
        value = super().to_internal_value(data)
        if not get_user_model().objects.filter(pk=value, is_active=True).exists():
            raise serializers.ValidationError(f"There is no active user #{value}.")
        return value


# --- update fields ---------------------------------------------------------------------------------------------


class UpdateFieldsParams(Params):
    values = serializers.DictField(
        help_text="{field: value} as the record's API takes it; custom fields as cf_<key>.", allow_empty=False
    )

    def validate_values(self, value: dict[str, Any]) -> dict[str, Any]:
        fields = registry.get(self.type_key).get_serializer_class()().fields
        writable = {name for name, f in fields.items() if not f.read_only}
        for name in value:
            if name.startswith("cf_") or name in writable:
                continue
            raise serializers.ValidationError(f"{name!r} is not a field of {self.type_key} a rule can set.")
        return value


def _as_write(values: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in values.items() if not k.startswith("cf_")}
    custom = {k[3:]: v for k, v in values.items() if k.startswith("cf_")}
    if custom:
        data["custom"] = {**(data.get("custom") or {}), **custom}
    return data


def update_fields(ctx: Context, params: dict[str, Any]) -> str:
    before = ctx.record.version
    record = write_fields(ctx, _as_write(params["values"]))
    names = ", ".join(params["values"])
    return f"Set {names}." if record.version != before else f"{names}: already so, nothing changed."


# --- assign owner ----------------------------------------------------------------------------------------------


class AssignOwnerParams(Params):
    mode = serializers.ChoiceField(choices=[("fixed", "A user"), ("round_robin", "Round robin in a team"),
                                            ("least_loaded", "Least loaded in a team")])  # fmt: skip
    user = UserIdField(required=False, help_text="For mode fixed: the new owner.")
    team = serializers.IntegerField(required=False, help_text="For round_robin and least_loaded: the team.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from rapport.accounts.models import Team

        if attrs["mode"] == "fixed" and not attrs.get("user"):
            raise serializers.ValidationError({"user": "Choose the user who becomes the owner."})
        if attrs["mode"] != "fixed":
            if not attrs.get("team"):
                raise serializers.ValidationError({"team": "Choose the team whose members take turns."})
            if not Team.objects.filter(pk=attrs["team"]).exists():
                raise serializers.ValidationError({"team": f"There is no team #{attrs['team']}."})
        return attrs


def _members(team_id: int) -> list[Any]:
    return list(get_user_model().objects.filter(team_id=team_id, is_active=True).order_by("id"))


def _next_in_turn(ctx: Context, team_id: int) -> Any:
    from .models import RoundRobin

    members = _members(team_id)
    if not members:
        raise ValueError("The team has no active member to assign.")
    turn, _ = RoundRobin.objects.select_for_update().get_or_create(rule_id=ctx.rule.pk, action_index=ctx.index)
    after = [m for m in members if turn.last_user_id is not None and m.pk > turn.last_user_id]
    chosen = after[0] if after else members[0]
    RoundRobin.objects.filter(pk=turn.pk).update(last_user_id=chosen.pk)
    return chosen


def _open_records(model: Any) -> Q:
    names = {f.name for f in model._meta.concrete_fields}
    if "status" in names:
        return Q(status="open")
    if "done" in names:
        return Q(done=False)
    return Q()


def _least_loaded(ctx: Context, team_id: int) -> Any:
    members = _members(team_id)
    if not members:
        raise ValueError("The team has no active member to assign.")
    model = type(ctx.record)
    counts = dict(
        model.objects.live()
        .filter(_open_records(model), owner_id__in=[m.pk for m in members])
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    return min(members, key=lambda m: (counts.get(m.pk, 0), m.pk))


def assign_owner(ctx: Context, params: dict[str, Any]) -> str:
    mode = params["mode"]
    if mode == "fixed":
        user = get_user_model().objects.get(pk=params["user"])
    elif mode == "round_robin":
        user = _next_in_turn(ctx, params["team"])
    else:
        user = _least_loaded(ctx, params["team"])
    if ctx.record.owner_id == user.pk:
        return f"{user_name(user)} owns it already."
    write_fields(ctx, {"owner": user.pk})
    return f"Owner set to {user_name(user)}."


# --- create a task or another activity -------------------------------------------------------------------------


class CreateActivityParams(Params):
    kind = serializers.ChoiceField(choices=[("task", "Task"), ("call", "Call"), ("meeting", "Meeting")], default="task")
    subject = serializers.CharField(max_length=200, help_text="Placeholders: {record}, {field}, {cf_key}.")
    body = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    due_from = serializers.CharField(
        max_length=60, default="now", help_text="now, or a date field of the record (a custom one as cf_<key>)."
    )
    due_days = serializers.IntegerField(min_value=-3650, max_value=3650, default=0)
    due_hours = serializers.IntegerField(min_value=-1000, max_value=1000, default=0)
    assignee = serializers.CharField(
        max_length=60,
        default="owner",
        help_text="owner (the record's), <link>.owner (the owner of a linked record, e.g. company.owner for an "
        "invoice's account owner; the record's own owner when the link is empty), or a user's id.",
    )
    priority = serializers.ChoiceField(choices=[("low", "Low"), ("normal", "Normal"), ("high", "High")],
                                       default="normal")  # fmt: skip
    also_link = serializers.ListField(
        child=serializers.CharField(max_length=60), required=False, default=list, max_length=10,
        help_text="Link fields whose records the activity is linked to as well (e.g. company).",
    )  # fmt: skip

    def validate_due_from(self, value: str) -> str:
        if value != "now" and value not in dict(date_fields(self.type_key)):
            raise serializers.ValidationError(f"Use now or a date field of {self.type_key}.")
        return value

    def validate_assignee(self, value: str) -> str:
        if value == "owner":
            return value
        if value.endswith(".owner"):
            if value.removesuffix(".owner") not in dict(owned_links(self.type_key)):
                names = ", ".join(f"{name}.owner" for name, _ in owned_links(self.type_key)) or "none"
                raise serializers.ValidationError(f"Use owner, a user's id or a linked record's owner ({names}).")
            return value
        if not is_id(value) or not get_user_model().objects.filter(pk=int(value), is_active=True).exists():
            raise serializers.ValidationError("Use owner or the id of an active user.")
        return value

    def validate_also_link(self, value: list[str]) -> list[str]:
        known = dict(record_links(self.type_key))
        for name in value:
            if name not in known:
                raise serializers.ValidationError(
                    f"{name!r} is not a link field of {self.type_key} (use {', '.join(known) or 'none'})."
                )
        return list(dict.fromkeys(value))


def record_links(type_key: str) -> list[tuple[str, str]]:
    """The type's link fields to other registered record types (name, label): what an activity may also be
    linked to, and whose owner it may be for."""
    from django.db import models

    out = []
    for f in registry.get(type_key).model._meta.concrete_fields:
        if (
            isinstance(f, models.ForeignKey)
            and registry.find(getattr(f.related_model, "record_type_key", "")) is not None
        ):
            out.append((f.name, str(f.verbose_name).capitalize()))
    return out


def owned_links(type_key: str) -> list[tuple[str, str]]:
    """The link fields whose records have an owner (``<name>.owner`` is a choice of assignee)."""
    model = registry.get(type_key).model
    return [
        (name, label)
        for name, label in record_links(type_key)
        if any(f.name == "owner" for f in cast(Any, model._meta.get_field(name).related_model)._meta.concrete_fields)
    ]


def date_fields(type_key: str) -> list[tuple[str, str]]:
    """The record type's date and date-time fields (custom ones as ``cf_<key>``), as (name, label)."""
    from django.db import models

    from rapport.core import customfields

    rtype = registry.get(type_key)
    out = []
    for f in rtype.model._meta.concrete_fields:
        if isinstance(f, models.DateField) and f.name not in ("deleted_at",):
            out.append((f.name, str(f.verbose_name).capitalize()))
    for definition in customfields.definitions(type_key):
        if definition.field_type in ("date", "datetime"):
            out.append((f"cf_{definition.key}", definition.label))
    return out


def date_value(record: Record, name: str) -> datetime | None:
    """A date field's value as a moment (a day is its start in the installation's time zone)."""
    if name.startswith("cf_"):
        raw = (record.custom or {}).get(name[3:])
        if not raw:
            return None
        try:
            value: Any = datetime.fromisoformat(str(raw)) if "T" in str(raw) else date.fromisoformat(str(raw))
        except ValueError:
            return None
    else:
        value = getattr(record, name, None)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    return timezone.make_aware(datetime.combine(value, time.min))


def create_activity(ctx: Context, params: dict[str, Any]) -> str:
    from rapport.activities.models import Activity
    from rapport.activities.serializers import ActivityWriteSerializer

    record = ctx.record
    base = timezone.now() if params["due_from"] == "now" else date_value(record, params["due_from"])
    if base is None:
        raise ValueError(f"The record has no {params['due_from']} to count from.")
    when = base + timedelta(days=params["due_days"], hours=params["due_hours"])
    assignee = _assignee(record, params["assignee"])
    if assignee is None:
        raise ValueError("The record has no owner to give the activity to.")
    data: dict[str, Any] = {
        "kind": params["kind"],
        "subject": render_text(params["subject"], record)[:200],
        "body": render_text(params.get("body", ""), record),
        "assignee": assignee,
        "owner": assignee,
        "priority": params.get("priority", "normal"),
    }
    data["due_at" if params["kind"] == "task" else "start_at"] = when.isoformat()
    links = [] if record.record_type_key == "activities" else [{"type": record.record_type_key, "id": record.pk}]
    for name in params.get("also_link") or []:
        linked_id = getattr(record, f"{name}_id", None)
        if linked_id is not None:
            linked_type = registry.for_model(cast(Any, type(record)._meta.get_field(name).related_model)).key
            links.append({"type": linked_type, "id": linked_id})
    if links:
        data["links"] = links
    serializer = ActivityWriteSerializer(data=data, context={"actor": SYSTEM})
    serializer.is_valid(raise_exception=True)
    activity = cast(Activity, services.create_record(Activity, serializer.validated_data, actor=None, source=SOURCE))
    kind = activity.get_kind_display().lower()
    return f"Created {kind} “{activity.subject}” (#{activity.pk}) due {when:%Y-%m-%d %H:%M} UTC."


def _assignee(record: Record, assignee: str) -> int | None:
    """``owner``: the record's owner; ``<link>.owner``: the linked record's owner (an invoice's account owner is
    its company's), the record's own when the link is empty or the linked owner inactive; else a user's id."""
    if assignee == "owner":
        return cast(int | None, record.owner_id)
    if assignee.endswith(".owner"):
        linked = getattr(record, assignee.removesuffix(".owner"), None)
        owner = getattr(linked, "owner", None) if linked is not None else None
        if owner is not None and owner.is_active:
            return cast(int, owner.pk)
        return cast(int | None, record.owner_id)
    return int(assignee)


# --- notify users ----------------------------------------------------------------------------------------------


class NotifyParams(Params):
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=20), allow_empty=False, max_length=50,
        help_text="owner, and/or users' ids.",
    )  # fmt: skip
    title = serializers.CharField(max_length=300, help_text="Placeholders: {record}, {field}, {cf_key}.")
    body = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_recipients(self, value: list[str]) -> list[str]:
        ids = [int(v) for v in value if is_id(v)]
        bad = [v for v in value if v != "owner" and not is_id(v)]
        if bad:
            raise serializers.ValidationError(f"{bad[0]!r}: use owner or a user's id.")
        known = set(get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True))
        missing = [i for i in ids if i not in known]
        if missing:
            raise serializers.ValidationError(f"There is no active user #{missing[0]}.")
        return list(dict.fromkeys(value))


def _recipients(ctx: Context, names: list[str]) -> list[Any]:
    ids = [ctx.record.owner_id if n == "owner" else int(n) for n in names]
    found = _users([i for i in ids if i is not None])
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def notify(ctx: Context, params: dict[str, Any]) -> str:
    from rapport.activities.models import Notification

    record = ctx.record
    model = type(record)
    told, skipped = [], []
    for user in _recipients(ctx, params["recipients"]):
        # Only people who may see the record hear of it (the one visibility rule).
        if not model.objects.visible_to(user, deleted=record.deleted_at is not None).filter(pk=record.pk).exists():
            skipped.append(user_name(user))
            continue
        body = render_text(params.get("body", ""), record)
        Notification.objects.create(
            user=user,
            kind="automation",
            title=render_text(params["title"], record)[:300],
            body=(body + ("\n" if body else "") + f"/{record.record_type_key}/{record.pk}/").strip(),
            activity_id=record.pk if record.record_type_key == "activities" else None,
        )
        told.append(user_name(user))
    message = f"Notified {', '.join(told)}." if told else "Nobody to notify."
    if skipped:
        message += f" Not {', '.join(skipped)}: they may not see this record."
    return message


# --- send an email ---------------------------------------------------------------------------------------------


class SendEmailParams(Params):
    to = serializers.ListField(
        child=serializers.CharField(max_length=254), allow_empty=False, max_length=20,
        help_text="owner, record (the record's own email address), or email addresses.",
    )  # fmt: skip
    subject = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    template = serializers.IntegerField(required=False, help_text="An email template's id (when email is set up).")

    def validate_to(self, value: list[str]) -> list[str]:
        from django.core.validators import validate_email

        for item in value:
            if item in ("owner", "record"):
                continue
            try:
                validate_email(item)
            except Exception:
                raise serializers.ValidationError(f"{item!r}: use owner, record or an email address.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("template") is None and not attrs.get("subject"):
            raise serializers.ValidationError({"subject": "Give a subject, or choose a template."})
        if attrs.get("template") is not None and not compose_installed():
            raise serializers.ValidationError({"template": "Email templates need the email app (compose)."})
        return attrs


def compose_installed() -> bool:
    return apps.is_installed("rapport.compose")


def _addresses(ctx: Context, targets: list[str]) -> list[str]:
    out = []
    for target in targets:
        if target == "owner":
            owner = ctx.record.owner
            if owner is not None and owner.email:
                out.append(owner.email)
        elif target == "record":
            address = getattr(ctx.record, "primary_email", "") or getattr(ctx.record, "email", "")
            if address:
                out.append(str(address))
        else:
            out.append(target)
    return list(dict.fromkeys(out))


def send_email(ctx: Context, params: dict[str, Any]) -> str:
    record = ctx.record
    to = _addresses(ctx, params["to"])
    if not to:
        raise ValueError("No address to send to (no owner's or record's email).")
    subject = render_text(params.get("subject", ""), record)
    body = render_text(params.get("body", ""), record)
    if compose_installed():
        import importlib

        compose = importlib.import_module("rapport.compose.services")
        sender = record.owner or ctx.rule.created_by
        if sender is None:
            raise ValueError("No one to send as: the record has no owner and the rule no creator.")
        template = None
        if params.get("template") is not None:
            # A template the sender may use, rendered for the record as they would see it (compose's own merge).
            template = compose.visible_templates(sender).filter(pk=params["template"]).first()
            if template is None:
                raise ValueError(f"There is no email template #{params['template']} the sender may use.")
            rendered_subject, rendered_html = importlib.import_module("rapport.compose.templates").render(
                template, record=record, sender=sender
            )
            subject = subject or rendered_subject
            body = body or rendered_html
        compose.send_email(
            sender=sender, mailbox=None, to=to, subject=subject, body_html=body, template=template, record=record
        )
        return f"Email “{subject}” queued to {', '.join(to)}."
    from rapport.activities.models import OutgoingEmail

    for address in to:
        OutgoingEmail.objects.create(key=f"{ctx.key}:{address}"[:200], to=address, subject=subject[:300], body=body)
    return f"Email “{subject}” queued in the outbox to {', '.join(to)}."


# --- tags ------------------------------------------------------------------------------------------------------


class TagsParams(Params):
    tags = serializers.ListField(child=serializers.CharField(max_length=50), allow_empty=False, max_length=20)


def add_tags(ctx: Context, params: dict[str, Any]) -> str:
    current = list(ctx.record.tags or [])
    new = [t for t in params["tags"] if t not in current]
    if not new:
        return "Tags already there."
    write_fields(ctx, {"tags": current + new})
    return f"Added {', '.join(new)}."


def remove_tags(ctx: Context, params: dict[str, Any]) -> str:
    current = list(ctx.record.tags or [])
    gone = [t for t in current if t in params["tags"]]
    if not gone:
        return "None of these tags were there."
    write_fields(ctx, {"tags": [t for t in current if t not in params["tags"]]})
    return f"Removed {', '.join(gone)}."


# --- call a webhook --------------------------------------------------------------------------------------------


class WebhookParams(Params):
    subscription = serializers.IntegerField(help_text="A webhook's id (Settings → Webhooks): its URL and secret.")

    def validate_subscription(self, value: int) -> int:
        from rapport.webhooks.models import Subscription

        if not Subscription.objects.filter(pk=value).exists():
            raise serializers.ValidationError(f"There is no webhook #{value}.")
        return value


def call_webhook(ctx: Context, params: dict[str, Any]) -> str:
    from rapport.webhooks import services as webhooks
    from rapport.webhooks.models import Subscription

    subscription = Subscription.objects.select_related("created_by").get(pk=params["subscription"])
    rule = ctx.rule
    delivery = webhooks.deliver_record(
        subscription,
        event_type="automation.rule",
        type_key=ctx.record.record_type_key,
        record_id=ctx.record.pk,
        data={
            "rule": {"id": rule.pk, "name": rule.name},
            "run_id": ctx.run.pk if ctx.run else None,
            "event_id": ctx.run.event_id if ctx.run else None,
        },
        send=False,
    )
    ctx.later.add(webhooks.schedule_send)  # on commit of the run's last transaction, once per batch
    if delivery is None:
        return f"Nothing sent to {subscription.name}: its creator may not see this record."
    return f"Queued a delivery to {subscription.name} ({subscription.url})."


def call_webhook_batch(
    rule: Rule, runs: list[RuleRun], params: dict[str, Any], later: set[Callable[[], None]]
) -> dict[int, str]:
    """``call_webhook`` for many runs of a rule: the subscription read once, the records represented in one read
    per type, the deliveries made with one INSERT (in run order, so a record's deliveries keep their order)."""
    from rapport.webhooks import services as webhooks
    from rapport.webhooks.models import Delivery, Subscription

    subscription = Subscription.objects.select_related("created_by").get(pk=params["subscription"])
    out: dict[int, str] = {}
    made = []
    by_type: dict[str, list[RuleRun]] = {}
    for run in runs:
        by_type.setdefault(run.type_key, []).append(run)
    for type_key, group in by_type.items():
        records = webhooks.records_as_seen_by(type_key, [run.record_id for run in group], subscription.created_by)
        for run in group:
            record = records.get(run.record_id)
            if record is None:
                out[run.pk] = f"Nothing sent to {subscription.name}: its creator may not see this record."
                continue
            data = {"rule": {"id": rule.pk, "name": rule.name}, "run_id": run.pk, "event_id": run.event_id}
            made.append(
                webhooks.record_delivery(
                    subscription, event_type="automation.rule", type_key=type_key, record=record, data=data
                )
            )
            out[run.pk] = f"Queued a delivery to {subscription.name} ({subscription.url})."
    Delivery.objects.bulk_create(made)
    later.add(webhooks.schedule_send)
    return out


register_action("update_fields", "Update fields", update_fields, UpdateFieldsParams)
register_action("assign_owner", "Assign an owner", assign_owner, AssignOwnerParams)
register_action("create_activity", "Create a task or activity", create_activity, CreateActivityParams)
register_action("notify", "Notify users", notify, NotifyParams)
register_action("send_email", "Send an email", send_email, SendEmailParams)
register_action("add_tags", "Add tags", add_tags, TagsParams)
register_action("remove_tags", "Remove tags", remove_tags, TagsParams)
register_action("call_webhook", "Call a webhook", call_webhook, WebhookParams, batch_fn=call_webhook_batch)
