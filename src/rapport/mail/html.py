"""Mail HTML made safe to show: sanitised with nh3 when a message is stored, remote images held back.

Kept: ordinary formatting tags, links (http, https, mailto, tel; rel="noopener noreferrer"), tables, inline
styles limited to presentational properties whose values hold no ``url(``, ``expression(`` or escapes. Dropped:
scripts and styles with their content, event handlers, forms, frames, ``javascript:`` and other schemes, data
images over ``MAX_INLINE_IMAGE`` bytes or of a non-image type. A remote image's address moves to
``data-remote-src`` (no request leaves the browser, so senders cannot track the reading); the thread page puts
it back only when the user clicks "Show images" (``show_remote_images``), under a CSP that then allows it.
"""

from __future__ import annotations

import re

import nh3

MAX_INLINE_IMAGE = 64 * 1024  # characters of a data: URI kept inline
BLOCKED_SCHEME = "rapport-blocked-remote"

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol",
    "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "*": {"style", "title", "align", "dir", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "valign", "width", "height", "bgcolor"},
    "th": {"colspan", "rowspan", "valign", "width", "height", "bgcolor"},
    "table": {"width", "cellpadding", "cellspacing", "border", "bgcolor"},
    "col": {"span", "width"},
    "font": {"color", "face", "size"},
    "ol": {"start", "type"},
}
STYLE_PROPERTIES = {
    "background-color", "border", "border-bottom", "border-collapse", "border-color", "border-left",
    "border-radius", "border-right", "border-spacing", "border-style", "border-top", "border-width", "color",
    "display", "font", "font-family", "font-size", "font-style", "font-weight", "height", "letter-spacing",
    "line-height", "list-style-type", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top",
    "max-width", "min-width", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align", "white-space", "width",
    "word-break",
}  # fmt: skip
# url() fetches, expression()/behavior are old IE script hooks, backslashes and comments hide either.
_UNSAFE_STYLE = re.compile(r"url\s*\(|expression|javascript|behavior|binding|@import|\\|/\*|position", re.I)
_DATA_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|jpg|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
_BLOCKED_SRC = re.compile(r'(<img\b[^>]*?) src="' + BLOCKED_SCHEME + r":")


def _filter(element: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        kept = []
        for declaration in value.split(";"):
            name, _, val = declaration.partition(":")
            name = name.strip().lower()
            if name in STYLE_PROPERTIES and val.strip() and not _UNSAFE_STYLE.search(val):
                kept.append(f"{name}: {val.strip()}")
        return "; ".join(kept) or None
    if element == "img" and attribute == "src":
        src = value.strip()
        lower = src.lower()
        if lower.startswith("cid:"):
            return src  # an inline attachment: the thread page maps it to the stored file
        if lower.startswith("data:"):
            return src if len(src) <= MAX_INLINE_IMAGE and _DATA_IMAGE.match(src) else None
        if lower.startswith(("http://", "https://", "//")):
            return f"{BLOCKED_SCHEME}:{src}"
        return None
    return value


def sanitize(html: str) -> tuple[str, bool]:
    """Safe HTML for display and whether it refers to remote images (held back as ``data-remote-src``)."""
    cleaned = nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style", "title", "head", "noscript", "template", "iframe", "object", "svg"},
        attributes=ATTRIBUTES,
        attribute_filter=_filter,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data", BLOCKED_SCHEME},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    # An <a href="data:..."> would survive the scheme list: only images may use data:.
    cleaned = re.sub(r'(<a\b[^>]*?) href="(?:data|cid|' + BLOCKED_SCHEME + r'):[^"]*"', r"\1", cleaned)
    remote = bool(_BLOCKED_SRC.search(cleaned))
    cleaned = _BLOCKED_SRC.sub(r'\1 data-remote-src="', cleaned)
    return cleaned.strip(), remote


def show_remote_images(html: str) -> str:
    """The stored HTML with remote images put back (after the user asked for them)."""
    return re.sub(r'(<img\b[^>]*?) data-remote-src="', r'\1 src="', html)


def map_inline_images(html: str, urls: dict[str, str]) -> str:
    """``cid:`` references replaced by the stored inline attachments' URLs (unknown ones dropped)."""

    def replace(match: re.Match[str]) -> str:
        url = urls.get(match.group(2).strip("<>").lower())
        return f'{match.group(1)} src="{url}"' if url else match.group(1)

    return re.sub(r'(<img\b[^>]*?) src="cid:([^"]*)"', replace, html, flags=re.I)


def text_to_html(text: str) -> str:
    """Plain text shown as HTML (escaped, line breaks kept)."""
    from django.utils.html import escape

    return '<pre class="mail-text">' + escape(text) + "</pre>"
