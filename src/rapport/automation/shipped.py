"""The rules Rapport ships: every installation has them from its migrations (``0003_shipped_rules``) and gets
back any that is missing after each migrate or database flush (``post_migrate``). They are ordinary rules —
shown in Settings → Automation, edited and switched off like any other — marked by ``Rule.shipped``, which
also keeps them from being deleted (they would come back)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

# Each: the rule as its serializer takes it, plus ``shipped`` (its key) and ``needs`` (the app of the record
# type it is about: not made on an installation without it).
SHIPPED_RULES: list[dict[str, Any]] = [
    {
        "shipped": "invoice_overdue",
        "needs": "rapport.invoices",
        "name": "Overdue invoice: a task for the account owner",
        "type_key": "invoices",
        "trigger": "updated",
        "trigger_config": {"fields": ["status"], "value": "overdue", "or_created": True},
        "conditions": "",
        "changes": [],
        "actions": [
            {
                "type": "create_activity",
                "params": {
                    "kind": "task",
                    "subject": "Chase overdue invoice {number}",
                    "body": "Invoice {number} for {company} was due on {due_date}: {amount} {currency}, "
                    "{amount_paid} paid.",
                    "due_from": "now",
                    "due_days": 0,
                    "due_hours": 0,
                    "assignee": "company.owner",
                    "priority": "high",
                    "also_link": ["company"],
                },
            }
        ],
        "active": True,
    },
]


def ensure_shipped_rules(sender: Any = None, *, apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    """Create any shipped rule that is missing, never touching one that exists (an administrator may have
    edited or switched it off). Idempotent; connected to ``post_migrate`` and run by a data migration."""
    rule_model: Any
    if apps is None:
        from .models import Rule

        rule_model = Rule
    else:
        try:
            rule_model = apps.get_model("automation", "Rule")
        except LookupError:  # automation not migrated yet
            return
        if "shipped" not in {f.name for f in rule_model._meta.get_fields()}:
            return  # migrating to a state before shipped rules
    from django.apps import apps as installed

    for spec in SHIPPED_RULES:
        if not installed.is_installed(spec["needs"]):
            continue
        data = {k: v for k, v in spec.items() if k not in ("shipped", "needs")}
        now = timezone.now()
        rule_model.objects.using(using).get_or_create(
            shipped=spec["shipped"],
            defaults={**data, "activated_at": now if data["active"] else None, "created_at": now, "updated_at": now},
        )
    from .engine import forget_rules

    forget_rules()  # a flush (tests) made new rows: rules cached in this process are gone
