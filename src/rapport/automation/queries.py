"""Read-side helpers of automation."""

from __future__ import annotations

from typing import Any

from .models import Rule, RuleRun


def rules() -> Any:
    return Rule.objects.select_related("created_by").order_by("position", "id")


def runs_of(rule: Rule) -> Any:
    return RuleRun.objects.filter(rule=rule)


def rule_sources(request_ids: list[str]) -> dict[str, str]:
    """History's words for changes rules made: ``rule-3-run-9`` → ``automation: rule Welcome`` (one query)."""
    from .engine import REQUEST_ID

    ids = {rid: int(m.group(1)) for rid in request_ids if (m := REQUEST_ID.match(rid))}
    names = dict(Rule.objects.filter(pk__in=set(ids.values())).values_list("pk", "name"))
    return {rid: f"automation: rule {names.get(pk, f'#{pk} (deleted)')}" for rid, pk in ids.items()}
