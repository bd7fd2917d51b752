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
