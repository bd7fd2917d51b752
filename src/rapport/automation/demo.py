"""Automation's part of ``rapport demo``: two example rules, switched off, to look at and try with a dry run
(a demo must not act on its own data while it loads)."""

from __future__ import annotations

from rapport.core.demo import DemoContext

from . import services
from .serializers import RuleSerializer

EXAMPLES = [
    {
        "name": "New deal: a task to qualify it",
        "type_key": "deals",
        "trigger": "created",
        "conditions": "status=open",
        "actions": [
            {"type": "create_activity", "params": {"subject": "Qualify {record}", "due_days": 2}},
            {"type": "add_tags", "params": {"tags": ["to-qualify"]}},
        ],
    },
    {
        "name": "Deal won: thank the customer",
        "type_key": "deals",
        "trigger": "won",
        "actions": [
            {"type": "create_activity", "params": {"kind": "call", "subject": "Thank-you call for {record}"}},
            {"type": "notify", "params": {"recipients": ["owner"], "title": "Won: {record}"}},
        ],
    },
]


def load_demo(ctx: DemoContext) -> None:
    if ctx.admin is None:
        return
    for example in EXAMPLES:
        serializer = RuleSerializer(data={**example, "active": False}, context={"actor": ctx.admin})
        serializer.is_valid(raise_exception=True)
        services.create_rule(dict(serializer.validated_data), actor=ctx.admin)
