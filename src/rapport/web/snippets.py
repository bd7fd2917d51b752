"""Search hits as people read them: Markdown bodies as plain text, a short snippet around the first
match, and the matched words marked. Text is split into (text, matched) parts that templates escape
one by one, so nothing a record holds can become markup."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markdown_it import MarkdownIt

from rapport.core.search import WORD_RE

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_BLOCK_TAG = re.compile(r"</?(?:p|li|br|h[1-6]|td|th|tr|blockquote|pre|ul|ol|hr|table)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
SNIPPET_WIDTH = 140
LEAD = 40  # characters of context kept before the first match

Parts = list[tuple[str, bool]]


def plain_text(markdown: str) -> str:
    """``**Budget** call with [Ann](https://…)`` → ``Budget call with Ann``: rendered (raw HTML off, so
    the only tags are the renderer's own), tags dropped, entities decoded, whitespace collapsed."""
    rendered = _md.render(markdown or "")
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", rendered))  # blocks apart, inline marks joined to their words
    return _SPACE.sub(" ", html.unescape(text)).strip()


def terms(query: str) -> list[str]:
    """The query's words, longest first (so "anna" is marked before "an")."""
    words = {w.lower() for w in WORD_RE.findall(query or "")}
    return sorted(words, key=len, reverse=True)[:8]


@lru_cache(maxsize=64)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    # Search matches word prefixes: mark a term where a word starts with it.
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)


def mark(text: str, words: list[str]) -> Parts:
    """``text`` split into (part, matched) with every word-start match of ``words`` matched."""
    pattern = _pattern(tuple(words))
    if pattern is None or not text:
        return [(text, False)] if text else []
    parts: Parts = []
    at = 0
    for m in pattern.finditer(text):
        if m.start() > at:
            parts.append((text[at : m.start()], False))
        parts.append((m.group(0), True))
        at = m.end()
    if at < len(text):
        parts.append((text[at:], False))
    return parts


def snippet(text: str, words: list[str], width: int = SNIPPET_WIDTH) -> Parts:
    """About ``width`` characters of ``text`` around its first match (its start when nothing matches),
    cut at spaces, with "…" where text was left out, and the matches marked."""
    text = _SPACE.sub(" ", text or "").strip()
    if not text:
        return []
    pattern = _pattern(tuple(words))
    found = pattern.search(text) if pattern is not None else None
    start = max(0, found.start() - LEAD) if found else 0
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < (found.start() if found else start + 1) else start
    end = start + width
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    piece = text[start:end].strip()
    parts = mark(piece, words)
    if start > 0:
        parts.insert(0, ("…", False))
    if end < len(text):
        parts.append(("…", False))
    return parts


__all__ = ["mark", "plain_text", "snippet", "terms"]
