from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from rapport.activities.markdown import render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown rendered and sanitized (see rapport.activities.markdown)."""
    return mark_safe(render(text))  # noqa: S308  (nh3-sanitized just above)
