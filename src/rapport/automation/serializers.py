"""Write validation of workflow rules (the settings page and the API): the trigger and its settings, the
conditions (parsed by the lists' own filter parser), the "changed from/to" checks and each action's params."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from rapport.core import customfields, listing, registry
from rapport.core.serializers import RejectUnknownFields

from .actions import ACTIONS, date_fields, validate_params
from .engine import parse_conditions
from .models import TRIGGER_KEYS

DEAL_TRIGGERS = {"stage_changed", "won", "lost"}
MAX_ACTIONS = 20


def rule_fields(type_key: str) -> list[tuple[str, str]]:
    """The fields a rule can name (in "updated when", "changed from/to"): the record's history fields and its
    custom fields as ``cf_<key>``."""
    rtype = registry.get(type_key)
    out = [(f.name, str(f.verbose_name).capitalize()) for f in rtype.model.tracked_fields() if f.name != "custom"]
    out += [(f"cf_{d.key}", d.label) for d in customfields.definitions(type_key)]
    return out


class ChangeSerializer(RejectUnknownFields, serializers.Serializer):
    field = serializers.CharField(max_length=60)
    # "from" is a Python keyword: declared below as a field named from.
    to = serializers.JSONField(required=False)


ChangeSerializer._declared_fields["from"] = serializers.JSONField(required=False)


class ActionSerializer(RejectUnknownFields, serializers.Serializer):
    type = serializers.CharField(max_length=40)
    params = serializers.DictField(required=False, default=dict)


class RuleSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    type_key = serializers.CharField(max_length=40, help_text="The record type (people, deals, …).")
    trigger = serializers.ChoiceField(choices=TRIGGER_KEYS)
    trigger_config = serializers.DictField(
        required=False,
        default=dict,
        help_text='updated: {"fields": [...], "value": x}; stage_changed: {"stage": id}; date_reached: '
        '{"field": name, "offset_days": n}; idle: {"days": n}.',
    )
    conditions = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="",
        help_text="The list filter syntax, as a list's address has it: status=open&cf_region=EU.",
    )  # fmt: skip
    changes = ChangeSerializer(many=True, required=False, default=list, max_length=10)  # type: ignore[call-arg]
    actions = ActionSerializer(many=True, max_length=MAX_ACTIONS)  # type: ignore[call-arg]
    active = serializers.BooleanField(required=False, default=False)
    position = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = self.context.get("actor")

    def validate_actions(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise serializers.ValidationError("Give the rule at least one action.")
        return value

    def validate_type_key(self, value: str) -> str:
        if registry.find(value) is None:
            raise serializers.ValidationError(
                f"Unknown record type {value!r}; use one of {', '.join(registry.keys())}."
            )
        return value

    def _current(self, attrs: dict[str, Any], name: str) -> Any:
        if name in attrs:
            return attrs[name]
        instance = self.instance
        return getattr(instance, name) if instance is not None else None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        if instance is not None and "type_key" in attrs and attrs["type_key"] != instance.type_key:
            raise serializers.ValidationError({"type_key": "A rule's record type cannot change; make a new rule."})
        type_key = self._current(attrs, "type_key")
        trigger = self._current(attrs, "trigger")
        if trigger in DEAL_TRIGGERS and type_key != "deals":
            raise serializers.ValidationError({"trigger": "This trigger is for deals."})
        if trigger == "activity_completed" and type_key != "activities":
            raise serializers.ValidationError({"trigger": "This trigger is for activities."})
        fields = dict(rule_fields(type_key))
        # Every part is checked, so a form shows all its problems at once.
        errors: dict[str, Any] = {}

        def check(part: Any) -> None:
            try:
                part()
            except serializers.ValidationError as exc:
                errors.update(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})

        def trigger_config() -> None:
            if "trigger" in attrs or "trigger_config" in attrs:
                attrs["trigger_config"] = self._trigger_config(
                    type_key, trigger, self._current(attrs, "trigger_config") or {}, fields
                )

        def conditions() -> None:
            if "conditions" in attrs:
                text = attrs["conditions"].strip().lstrip("?")
                try:
                    parse_conditions(type_key, text, self.actor)
                except listing.QueryError as exc:
                    raise serializers.ValidationError({"conditions": f"{exc.param}: {exc.message}"})
                attrs["conditions"] = text

        def changes() -> None:
            for i, change in enumerate(attrs.get("changes") or []):
                if change["field"] not in fields:
                    raise serializers.ValidationError(
                        {"changes": {str(i): {"field": f"{change['field']!r} is not a field of {type_key}."}}}
                    )
                if "from" not in change and "to" not in change:
                    raise serializers.ValidationError(
                        {"changes": {str(i): {"to": "Say what it changes from, to, or both."}}}
                    )

        def actions() -> None:
            if "actions" in attrs:
                attrs["actions"] = self._actions(type_key, attrs["actions"])

        for part in (trigger_config, conditions, changes, actions):
            check(part)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _trigger_config(
        self, type_key: str, trigger: str, config: dict[str, Any], fields: dict[str, str]
    ) -> dict[str, Any]:
        def fail(key: str, message: str) -> None:
            raise serializers.ValidationError({f"trigger_config.{key}" if key else "trigger_config": message})

        allowed = {"updated": {"fields", "value", "or_created"}, "stage_changed": {"stage"},
                   "date_reached": {"field", "offset_days"}, "idle": {"days"}}.get(trigger, set())  # fmt: skip
        unknown = sorted(set(config) - allowed)
        if unknown:
            fail(unknown[0], f"not a setting of the trigger {trigger}.")
        out: dict[str, Any] = {}
        if trigger == "updated":
            names = config.get("fields") or []
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                fail("fields", "a list of field names.")
            for name in names:
                if name not in fields:
                    fail("fields", f"{name!r} is not a field of {type_key}.")
            if names:
                out["fields"] = names
            if "value" in config:
                if len(names) != 1:
                    fail("value", "name exactly one field to watch for a value.")
                out["value"] = config["value"]
            if "or_created" in config:
                if not isinstance(config["or_created"], bool):
                    fail("or_created", "true or false.")
                if config["or_created"]:
                    out["or_created"] = True
        elif trigger == "stage_changed":
            if config.get("stage") not in (None, ""):
                from rapport.deals.models import Stage

                stage = config["stage"]
                if not isinstance(stage, int) or not Stage.objects.filter(pk=stage).exists():
                    fail("stage", f"There is no stage {stage!r}.")
                out["stage"] = stage
        elif trigger == "date_reached":
            name = config.get("field")
            if name not in dict(date_fields(type_key)):
                fail("field", f"Choose a date field of {type_key}.")
            offset = config.get("offset_days", 0)
            if not isinstance(offset, int) or isinstance(offset, bool) or not -3650 <= offset <= 3650:
                fail("offset_days", "a whole number of days between -3650 and 3650 (negative: before the date).")
            out = {"field": name, "offset_days": offset}
        elif trigger == "idle":
            days = config.get("days")
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
                fail("days", "a whole number of days from 1 to 3650.")
            out = {"days": days}
        return out

    def _actions(self, type_key: str, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        errors: dict[str, Any] = {}
        out = []
        for i, spec in enumerate(specs):
            action = ACTIONS.get(spec["type"])
            if action is None:
                errors[str(i)] = {"type": f"Unknown action; use one of {', '.join(ACTIONS)}."}
                continue
            if action.types and type_key not in action.types:
                errors[str(i)] = {"type": f"This action is for {', '.join(action.types)}."}
                continue
            try:
                params = validate_params(action, spec.get("params") or {}, type_key)
            except serializers.ValidationError as exc:
                errors[str(i)] = {"params": exc.detail}
                continue
            out.append({"type": spec["type"], "params": _jsonable(params)})
        if errors:
            raise serializers.ValidationError({"actions": errors})
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
