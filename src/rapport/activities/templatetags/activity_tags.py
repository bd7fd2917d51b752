from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from rapport.activities.markdown import render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """Markdown rendered and sanitized (see rapport.activities.markdown)."""
    return mark_safe(render(text))  # noqa: S308  (nh3-sanitized just above)


# The timeline shows the start of long bodies (rendering costs ~10 ms per 1,000 characters); the
# activity's page shows all of it.
PREVIEW_CHARS = 1_500


@register.filter
def is_long(text: str) -> bool:
    return len(text) > PREVIEW_CHARS


@register.filter
def markdown_preview(text: str) -> SafeString:
    """The first PREVIEW_CHARS characters of a body (cut at a paragraph when one ends late enough)."""
    if not is_long(text):
        return markdown(text)
    cut = text[:PREVIEW_CHARS]
    paragraph = cut.rfind("\n\n")
    if paragraph > PREVIEW_CHARS // 2:
        cut = cut[:paragraph]
    return markdown(cut.rstrip() + " …")
