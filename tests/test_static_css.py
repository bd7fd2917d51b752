"""The style sheets parse as their authors meant: every block closed, and only at-rules (@media, @supports…)
holding other blocks. One missing ``}`` after a phone-only ``@media`` block once put every rule after it
(duplicates, reports, dashboards) on phones only: the dashboard's grid was one column on a laptop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = sorted((Path(__file__).resolve().parent.parent / "src/rapport/static/css").glob("*.css"))


def problems(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), text, flags=re.S)
    text = re.sub(r"\"[^\"\n]*\"|'[^'\n]*'", '""', text)  # strings (content: "{") are not blocks
    found: list[str] = []
    stack: list[tuple[str, int]] = []  # (the block's prelude, its line)
    start = 0
    for match in re.finditer(r"[{}]", text):
        line = text.count("\n", 0, match.start()) + 1
        if match.group() == "{":
            prelude = text[start : match.start()].strip().splitlines()[-1:] or [""]
            if stack and not stack[-1][0].startswith("@"):
                found.append(f"line {line}: a block opens inside the rule of line {stack[-1][1]} (a missing }}?)")
            stack.append((prelude[0].strip(), line))
        elif not stack:
            found.append(f"line {line}: a }} closes nothing")
        else:
            stack.pop()
        start = match.end()
    found += [f"line {line}: {prelude[:60]!r} is never closed" for prelude, line in stack]
    return found


@pytest.mark.parametrize("path", CSS, ids=[p.name for p in CSS])
def test_every_block_is_closed_where_it_should_be(path: Path) -> None:
    assert problems(path.read_text()) == []


def test_the_check_finds_an_unclosed_media_block() -> None:
    sheet = "@media (max-width: 600px) {\n  .a { color: red; }\n.b { display: grid; }\n"
    assert problems(sheet) == ["line 1: '@media (max-width: 600px)' is never closed"]
    assert problems(".a { color: red;\n.b { display: grid; }\n}") == [
        "line 2: a block opens inside the rule of line 1 (a missing }?)"
    ]
