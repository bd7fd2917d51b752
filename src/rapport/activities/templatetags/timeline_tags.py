from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def may_add_activities(user: Any) -> bool:
    """Whether ``user`` may log or schedule activities (the quick forms are shown only then)."""
    return bool(getattr(user, "is_authenticated", False)) and user.scope_for("activities", "add") is not None
