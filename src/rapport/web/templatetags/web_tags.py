"""Small template helpers of the pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``row|get:"email"``: a dict value by a variable key."""
    if isinstance(mapping, dict):
        return mapping.get(key, "")
    return ""


@register.simple_tag
def nav_class(path: str, prefix: str) -> str:
    """``current`` when the page lives under ``prefix`` (for the top navigation); pages with a
    navigation link of their own (the deals board) light only that one."""
    if prefix == "/deals/" and path.startswith("/deals/board/"):
        return ""
    return "current" if path == prefix or (prefix != "/" and path.startswith(prefix)) else ""


@register.filter
def contains(values: Any, value: Any) -> bool:
    return value in (values or [])


@register.filter
def amount(value: Any, currency: str) -> str:
    """``quote.total|amount:quote.currency``: grouped in the viewer's locale, with the currency's ISO 4217
    decimals (none for JPY), without its symbol (a column headed by the currency)."""
    from rapport.core import formatting
    from rapport.core.money import minor_units, round_amount

    if value is None or value == "":
        return ""
    try:
        rounded = round_amount(Decimal(str(value)), currency)
    except (InvalidOperation, ValueError):
        return str(value)
    return formatting.number(rounded, minor_units(currency))


@register.simple_tag(takes_context=True)
def can(context: Any, target: Any, action: str = "view") -> bool:
    """``{% can "deals" "add" as may_add %}`` or ``{% can record "change" as may_edit %}``: whether the
    signed-in user's role allows ``action`` (``rapport.web.common.can``, the one rule every page uses to
    decide which controls to show)."""
    from rapport.web.common import can as allowed

    return allowed(context.get("user") or getattr(context.get("request"), "user", None), target, action)
