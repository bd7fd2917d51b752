"""The writes of automation: rules (settings, audited in the settings trail) and their dry run."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from rapport.core.audit import record_setting_change, values
from rapport.core.models import Record

from . import engine
from .models import TIME_TRIGGERS, Rule

AUDITED = ["name", "type_key", "trigger", "trigger_config", "conditions", "changes", "actions", "active", "position"]


def _changed() -> None:
    engine.forget_rules()
    transaction.on_commit(engine.forget_rules)


def create_rule(data: dict[str, Any], *, actor: Any) -> Rule:
    with transaction.atomic():
        rule = Rule(created_by=actor if getattr(actor, "pk", None) else None, **data)
        if rule.active:
            rule.activated_at = timezone.now()
            if rule.trigger in TIME_TRIGGERS:
                rule.checked_until = rule.activated_at  # dates reached from now on, not every past one
        rule.save()
        record_setting_change("automation_rule", rule, actor=actor, action="created", after=values(rule, AUDITED))
        _changed()
    return rule


def update_rule(rule: Rule, data: dict[str, Any], *, actor: Any) -> Rule:
    with transaction.atomic():
        before = values(rule, AUDITED)
        switched_on = data.get("active") and not rule.active
        for key, value in data.items():
            setattr(rule, key, value)
        if switched_on:
            rule.activated_at = timezone.now()
        if rule.trigger in TIME_TRIGGERS and (switched_on or "trigger" in data or "trigger_config" in data):
            rule.checked_until = timezone.now()
        rule.updated_at = timezone.now()
        rule.save()
        record_setting_change("automation_rule", rule, actor=actor, before=before, after=values(rule, AUDITED))
        _changed()
    return rule


def set_active(rule: Rule, active: bool, *, actor: Any) -> Rule:
    return update_rule(rule, {"active": active}, actor=actor)


class ShippedRule(Exception):
    """A rule Rapport ships is switched off, not deleted (the next migrate would bring it back)."""

    message = "Rapport ships this rule: switch it off instead of deleting it."


def delete_rule(rule: Rule, *, actor: Any) -> None:
    if rule.shipped:
        raise ShippedRule(ShippedRule.message)
    with transaction.atomic():
        record_setting_change("automation_rule", rule, actor=actor, action="deleted", before=values(rule, AUDITED))
        rule.delete()
        _changed()


def dry_run(rule: Rule, record: Record) -> dict[str, Any]:
    """What the rule would do to ``record``; writes nothing (see engine.dry_run)."""
    return engine.dry_run(rule, record)
