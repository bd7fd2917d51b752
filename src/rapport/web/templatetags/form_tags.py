"""Template helpers of the generated forms."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

register = template.Library()


@register.filter
def data_attrs(attrs: Any) -> SafeString:
    """``{{ field.attrs|data_attrs }}``: a form field's ``data-*`` attributes, escaped."""
    items = [(k, v) for k, v in (attrs or {}).items() if k.startswith("data-") or k.startswith("aria-")]
    return format_html_join("", ' {}="{}"', items)


@register.filter
def picker_hint(link_type: str) -> str:
    """The placeholder of a link picker: "Search companies…", "Search users…"."""
    from rapport.core import registry

    keys = [k for k in str(link_type or "").split(",") if k]
    if keys == ["users"]:
        return "Search users by name…"
    if len(keys) == 1 and registry.find(keys[0]) is not None:
        return f"Search {registry.get(keys[0]).label_plural.lower()} by name…"
    return "Search by name…"
