"""vCard files (.vcf: 2.1, 3.0 and 4.0) read as a table of people, one row per card, streamed.

A small parser rather than a library: vobject reads the whole file into memory and keeps every
property (photos included) as objects, where an import needs a dozen properties of millions of cards.
Folded lines (RFC 6350 §3.2), vCard 2.1's quoted-printable soft line breaks and CHARSET, base64 text,
escaped ``\\n \\, \\; \\\\``, groups (``item1.EMAIL``) and bare 2.1 parameters (``TEL;WORK;VOICE:``) are
understood; properties no column needs (PHOTO, LOGO, SOUND, KEY…) are skipped without being held.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterator
from pathlib import Path

from .readers import (
    MAX_LINE_CHARS,
    ReadError,
    ReadOptions,
    Row,
    Table,
    _check_cell_sizes,
    _limits,
    _lines,
    clean_cells,
    open_text,
)

EMAIL_SLOTS = 4
PHONE_SLOTS = 5


def _numbered(label: str, count: int) -> list[str]:
    return [label, *(f"{label} {n}" for n in range(2, count + 1))]


HEADERS = [
    "First name",
    "Last name",
    "Full name",
    *_numbered("Email", EMAIL_SLOTS),
    *_numbered("Phone", PHONE_SLOTS),
    "Company",
    "Job title",
    "Street",
    "City",
    "Postal code",
    "Region",
    "Country",
    "Birthday",
    "Note",
]
_COLUMN = {h: i for i, h in enumerate(HEADERS)}
WANTED = {"BEGIN", "END", "VERSION", "N", "FN", "EMAIL", "TEL", "ORG", "TITLE", "NOTE", "BDAY", "ADR"}
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NAME = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)")


def open_vcard(path: Path, options: ReadOptions) -> Table:
    _, cap = _limits(options)
    text, encoding, _sample = open_text(path, options)
    return Table(
        format="vcard",
        headers=list(HEADERS),
        header_line=0,
        encoding=encoding,
        _rows=_cards(_lines(text, [0]), cap),
        _close=text.close,
    )


def _logical_lines(text: Iterator[str]) -> Iterator[tuple[int, str]]:
    """(first physical line, unfolded content line) for each wanted property."""
    current: list[str] = []
    start = 0
    skipping = False
    qp = False
    total = 0
    number = 0
    for raw in text:
        number += 1
        line = raw.rstrip("\r\n")
        if line[:1] in (" ", "\t") and (current or skipping):
            if not skipping:
                current.append(line[1:])
                total += len(line)
                if total > MAX_LINE_CHARS:
                    raise ReadError(f"Line {start}: a vCard property is longer than 64 MB.", line=start)
            continue
        if qp and current and current[-1].endswith("="):
            current[-1] = current[-1][:-1]
            current.append(line)
            total += len(line)
            continue
        if current:
            yield start, "".join(current)
        current, start, total = [], number, 0
        if not line.strip():
            skipping, qp = False, False
            continue
        head = line.split(":", 1)[0]
        match = _NAME.match(head)
        name = match.group(1).upper() if match else ""
        skipping = name not in WANTED
        if skipping:
            continue
        qp = "QUOTED-PRINTABLE" in head.upper()
        current = [line]
        total = len(line)
    if current:
        yield start, "".join(current)


def _split_unescaped(value: str, sep: str) -> list[str]:
    parts, buf, escaped = [], [], False
    for ch in value:
        if escaped:
            buf.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if escaped:
        buf.append("\\")
    parts.append("".join(buf))
    return parts


def _unescape(value: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _parse(content: str) -> tuple[str, dict[str, list[str]], str]:
    """(NAME, {PARAM: [values]}, raw value) of one content line."""
    in_quotes = False
    split = -1
    for i, ch in enumerate(content):
        if ch == '"':
            in_quotes = not in_quotes
        elif ch == ":" and not in_quotes:
            split = i
            break
    if split < 0:
        return "", {}, ""
    head, value = content[:split], content[split + 1 :]
    pieces = head.split(";")
    name = pieces[0].rsplit(".", 1)[-1].upper()
    params: dict[str, list[str]] = {}
    for piece in pieces[1:]:
        if "=" in piece:
            key, val = piece.split("=", 1)
            values = [v.strip('"') for v in val.split(",")]
        else:  # vCard 2.1: TEL;WORK;VOICE: or ;QUOTED-PRINTABLE
            bare = piece.strip().upper()
            key = "ENCODING" if bare in ("QUOTED-PRINTABLE", "BASE64", "B", "8BIT") else "TYPE"
            values = [bare]
        params.setdefault(key.strip().upper(), []).extend(v.upper() if key.upper() != "CHARSET" else v for v in values)
    return name, params, value


def _decoded(params: dict[str, list[str]], value: str) -> str:
    encoding = (params.get("ENCODING") or [""])[0].upper()
    charset = (params.get("CHARSET") or ["utf-8"])[0]
    data: bytes | None = None
    if encoding == "QUOTED-PRINTABLE":
        data = quopri.decodestring(value.encode("utf-8", "surrogateescape"))
    elif encoding in ("B", "BASE64"):
        try:
            data = base64.b64decode(value.strip(), validate=False)
        except (binascii.Error, ValueError):
            data = b""
    if data is None:
        return value
    for name in (charset, "utf-8", "cp1252"):
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _preferred(params: dict[str, list[str]]) -> bool:
    return "PREF" in params.get("TYPE", []) or bool(params.get("PREF"))


def _birthday(value: str) -> str:
    value = value.strip()
    digits = value.replace("-", "")
    if re.fullmatch(r"\d{8}", digits) and not value.startswith("--"):
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if re.fullmatch(r"\d{8}T.*", digits):
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    return value


class _Card:
    def __init__(self, line: int) -> None:
        self.line = line
        self.values: dict[str, str] = {}
        self.emails: list[tuple[bool, str]] = []
        self.phones: list[tuple[bool, str]] = []
        self.address: tuple[bool, list[str]] | None = None
        self.name_parts: list[str] | None = None

    def add(self, name: str, params: dict[str, list[str]], raw: str) -> None:
        text = _decoded(params, raw)
        if name == "N":
            self.name_parts = [_unescape(p).strip() for p in _split_unescaped(text, ";")]
        elif name == "FN":
            self.values["Full name"] = _unescape(text).strip()
        elif name == "EMAIL":
            email = _unescape(text).strip().removeprefix("mailto:")
            if email:
                self.emails.append((_preferred(params), email))
        elif name == "TEL":
            phone = _unescape(text).strip().removeprefix("tel:")
            if phone:
                self.phones.append((_preferred(params), phone))
        elif name == "ORG":
            self.values.setdefault("Company", _unescape(_split_unescaped(text, ";")[0]).strip())
        elif name == "TITLE":
            self.values.setdefault("Job title", _unescape(text).strip())
        elif name == "NOTE":
            note = _unescape(text).strip()
            self.values["Note"] = f"{self.values['Note']}\n{note}" if self.values.get("Note") else note
        elif name == "BDAY":
            self.values["Birthday"] = _birthday(_unescape(text))
        elif name == "ADR":
            parts = [_unescape(p).strip() for p in _split_unescaped(text, ";")] + [""] * 7
            preferred = _preferred(params)
            if self.address is None or (preferred and not self.address[0]):
                self.address = (preferred, parts[:7])

    def row(self, cap: int) -> Row | None:
        cells = [""] * len(HEADERS)
        values = dict(self.values)
        if self.name_parts:
            family, given = (self.name_parts + ["", ""])[:2]
            values["First name"] = given
            values["Last name"] = family
            if not values.get("Full name"):
                prefix, suffix = (self.name_parts + [""] * 5)[3:5]
                additional = (self.name_parts + [""] * 3)[2]
                values["Full name"] = " ".join(p for p in (prefix, given, additional, family, suffix) if p)
        if self.address:
            pobox, extended, street, city, region, code, country = self.address[1]
            values["Street"] = ", ".join(
                part for chunk in (street, extended, pobox) for part in chunk.splitlines() if part.strip()
            )
            values.update({"City": city, "Region": region, "Postal code": code, "Country": country})
        for header, value in values.items():
            cells[_COLUMN[header]] = value
        error = None
        for label, found, slots in (("Email", self.emails, EMAIL_SLOTS), ("Phone", self.phones, PHONE_SLOTS)):
            ordered = [v for pref, v in found if pref] + [v for pref, v in found if not pref]
            for i, value in enumerate(ordered[:slots]):
                cells[_COLUMN[label if i == 0 else f"{label} {i + 1}"]] = value
            if len(ordered) > slots and error is None:
                error = ReadError(
                    f"Line {self.line}: the card of {values.get('Full name') or 'this contact'} has"
                    f" {len(ordered)} {label.lower()}s; at most {slots} can be imported per person. Remove the"
                    " ones you do not need from the card and import it again.",
                    line=self.line,
                    column=label,
                )
        if not any(c.strip() for c in cells):
            return None
        _check_cell_sizes(cells, HEADERS, self.line, cap)
        cells, cleaned = clean_cells(cells, HEADERS, self.line)
        return Row(line=self.line, cells=cells, error=error or cleaned)


def _cards(text: Iterator[str], cap: int) -> Iterator[Row]:
    card: _Card | None = None
    depth = 0
    for line, content in _logical_lines(text):
        name, params, raw = _parse(content)
        if name == "BEGIN" and raw.strip().upper() == "VCARD":
            depth += 1
            if depth == 1:
                card = _Card(line)
            continue
        if name == "END" and raw.strip().upper() == "VCARD":
            depth = max(depth - 1, 0)
            if depth == 0 and card is not None:
                row = card.row(cap)
                card = None
                if row is not None:
                    yield row
            continue
        if card is not None and depth == 1:
            card.add(name, params, raw)
    if card is not None:  # a last card without END:VCARD
        row = card.row(cap)
        if row is not None:
            yield row
