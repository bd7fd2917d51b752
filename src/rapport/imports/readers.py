"""Reading an uploaded file as a table of text cells, streamed row by row, whatever its format.

The contract the import job relies on (every format keeps it):
- ``open_table(path, filename=..., options=...)`` returns a ``Table`` (a context manager) or raises
  ``ReadError`` with a message a user can act on (and the line/column where known);
- ``Table.headers`` are the column titles (first non-empty row), ``Table.rows()`` yields ``Row``s lazily,
  never loading the whole file; ``Row.line`` is the 1-based physical line (CSV: the line where the row
  starts, multi-line quoted fields counted; spreadsheets: the sheet's row number; vCard: the BEGIN line);
- every cell is a ``str`` (empty string for a missing cell), NULs and lone surrogates never come out;
  ``len(row.cells) == len(table.headers)`` always (short rows are padded with "");
- a row the reader could not read cleanly (a NUL byte, bytes the file's encoding cannot decode, more
  non-empty cells than there are columns, more emails than a vCard row holds) still comes out, cleaned,
  with ``Row.error`` set to a ``ReadError`` naming the line, the column and what to fix: the import
  rejects that row with that reason instead of storing silently changed text;
- rows whose cells are all empty are skipped;
- limits (columns, cell size, file size, archive expansion, XML with a DTD) raise ``ReadError`` naming
  what and where.

Formats are recognised by their first bytes (a zip holding ``xl/workbook.xml`` is XLSX, one with an
OpenDocument ``mimetype`` is ODS, an OLE2 file is XLS, ``BEGIN:VCARD`` is a vCard), then by the
file's extension; anything else is read as CSV. Spreadsheets are read with python-calamine (Rust: no
formula is ever evaluated, cached values are read; no XML entity is expanded), vCards by the small
streaming parser in :mod:`rapport.imports.vcard`; :mod:`rapport.imports.spreadsheets` holds the spreadsheet
side and the archive checks.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MAX_COLUMNS = 1000
# The hard ceiling of one cell: nothing larger is ever read (10 MB of text).
MAX_CELL_CHARS_HARD = 10 * 1024 * 1024
# The default cap (RAPPORT_IMPORT_MAX_CELL_CHARS lowers or raises it up to the hard ceiling).
MAX_CELL_CHARS = 1_000_000
MAX_FILE_BYTES = 1024**3  # RAPPORT_IMPORT_MAX_BYTES
# The longest physical CSV line read at once: beyond it a file is refused rather than held in memory.
MAX_LINE_CHARS = 64 * 1024 * 1024
SAMPLE_BYTES = 1024 * 1024
DELIMITERS = ",;\t|"

# cp1252 leaves these bytes undefined: a file holding them is Latin-1 (ISO 8859-1), not Windows-1252.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")
_SURROGATES = {cp: "\ufffd" for cp in range(0xD800, 0xE000)}
_SURROGATE = re.compile("[\ud800-\udfff]")
_NEEDS_CLEANING = re.compile("[\x00\r\ud800-\udfff]")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

csv.field_size_limit(MAX_CELL_CHARS_HARD)


class ReadError(ValueError):
    def __init__(self, message: str, *, line: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Row:
    line: int
    cells: list[str]
    error: ReadError | None = None  # set when the row was read with a problem (see the module docstring)


@dataclass
class ReadOptions:
    encoding: str | None = None  # None: detect
    delimiter: str | None = None  # None: detect
    sheet: str | None = None  # spreadsheets: None = first sheet
    max_bytes: int | None = None  # None: RAPPORT_IMPORT_MAX_BYTES
    max_cell_chars: int | None = None  # None: RAPPORT_IMPORT_MAX_CELL_CHARS (never above MAX_CELL_CHARS_HARD)


@dataclass
class Table:
    format: str  # csv, xlsx, xls, ods, vcard
    headers: list[str]
    header_line: int
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = field(default_factory=list)
    sheet: str | None = None
    _rows: Iterator[Row] | None = None
    _close: Any = None

    def rows(self) -> Iterator[Row]:
        assert self._rows is not None
        return self._rows

    def close(self) -> None:
        if self._close is not None:
            self._close()
            self._close = None

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _setting(name: str, default: int) -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, name, default))
    except Exception:  # settings not configured (a script reading a file): the defaults
        return default


def _limits(options: ReadOptions) -> tuple[int, int]:
    max_bytes = options.max_bytes or _setting("RAPPORT_IMPORT_MAX_BYTES", MAX_FILE_BYTES)
    cell = options.max_cell_chars or _setting("RAPPORT_IMPORT_MAX_CELL_CHARS", MAX_CELL_CHARS)
    return max_bytes, min(cell, MAX_CELL_CHARS_HARD)


def _size_text(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def open_table(path: Path, *, filename: str, options: ReadOptions | None = None) -> Table:
    """A table over the file at ``path`` (``filename`` is the user's name for it, for the format)."""
    options = options or ReadOptions()
    max_bytes, _ = _limits(options)
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ReadError(f"The file is {_size_text(size)}; files up to {_size_text(max_bytes)} can be imported.")
    if size == 0:
        raise ReadError("The file is empty.")
    kind = detect_format(path, filename)
    if kind in ("xlsx", "ods", "xls"):
        from .spreadsheets import open_spreadsheet

        return open_spreadsheet(path, kind, options)
    if kind == "vcard":
        from .vcard import open_vcard

        return open_vcard(path, options)
    return _open_csv(path, options)


def detect_format(path: Path, filename: str) -> str:
    """csv, xlsx, xls, ods or vcard: by the file's first bytes, then by its extension."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    ext = os.path.splitext(filename or "")[1].lower().lstrip(".")
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
        except (zipfile.BadZipFile, OSError, KeyError):
            raise ReadError("The file looks like a zip archive but cannot be opened; it may be damaged.") from None
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            return "xlsx"
        raise ReadError(
            "This zip archive is not a spreadsheet. Import a CSV, XLSX, XLS, ODS or vCard file"
            " (a full export zip is loaded with the `rapport import` command)."
        )
    if head.startswith(_OLE_MAGIC):
        return "xls"
    text = _sniff_text(head)
    if text.lstrip().upper().startswith("BEGIN:VCARD") or ext in ("vcf", "vcard"):
        return "vcard"
    if ext in ("xlsx", "xlsm", "xls", "ods") and not text.strip():
        raise ReadError(f"The file is named .{ext} but is not a spreadsheet.")
    return "csv"


def _sniff_text(head: bytes) -> str:
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="ignore")
    return head.decode(_utf16_without_bom(head) or "latin-1", errors="ignore")


# --- text files: encoding -------------------------------------------------------------------------


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 without a byte-order mark, told by its zero bytes: Latin text in UTF-16 has a NUL in
    every other byte, which no 8-bit or UTF-8 text file has."""
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even = sample[0 : pairs * 2 : 2].count(0)
    odd = sample[1 : pairs * 2 : 2].count(0)
    if odd > pairs * 0.4 and even < pairs * 0.05:
        return "utf-16-le"
    if even > pairs * 0.4 and odd < pairs * 0.05:
        return "utf-16-be"
    return None


def detect_encoding(sample: bytes, *, complete: bool) -> tuple[str, int]:
    """(Python codec name, bytes of byte-order mark to skip) for a text file starting with ``sample``.

    A BOM decides (UTF-8, UTF-16 LE/BE); else UTF-16 by its zero bytes; else UTF-8 if the sample decodes
    strictly (a multi-byte character cut at the sample's end is fine); else Windows-1252 unless the
    sample holds a byte cp1252 leaves undefined, then Latin-1 (which decodes anything).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if sample.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16, 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    if _CP1252_UNDEFINED.intersection(sample):
        return "latin-1", 0
    return "cp1252", 0


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ReadError(f"Unknown encoding {name!r}; use e.g. utf-8, utf-16, cp1252 or latin-1.") from None


def open_text(path: Path, options: ReadOptions) -> tuple[IO[str], str, str]:
    """The file as a text stream (undecodable bytes kept as lone surrogates, for the rows to report),
    its encoding's name, and the first ``SAMPLE_BYTES`` decoded (for sniffing)."""
    raw = open(path, "rb")  # noqa: SIM115  (closed with the table)
    try:
        sample = raw.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES
        if options.encoding:
            encoding = _codec(options.encoding)
            skip = 0
            if encoding in ("utf-8", "utf-8-sig") and sample.startswith(codecs.BOM_UTF8):
                encoding, skip = "utf-8", 3
            elif encoding == "utf-16":
                encoding, skip = detect_encoding(sample, complete=complete)
                if not encoding.startswith("utf-16"):
                    encoding = "utf-16-le"
        else:
            encoding, skip = detect_encoding(sample, complete=complete)
        raw.seek(skip)
        # Sniffing looks at the first lines only: 64 KB of text is plenty and keeps memory flat.
        decoded_sample = sample[skip : skip + 64 * 1024].decode(encoding, errors="replace")
        del sample
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    except BaseException:
        raw.close()
        raise
    return text, encoding, decoded_sample


def _lines(text: IO[str], counter: list[int]) -> Iterator[str]:
    """Physical lines, each at most MAX_LINE_CHARS long (so one endless line is refused, not read whole)."""
    while True:
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            return
        counter[0] += 1
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise ReadError(
                f"Line {counter[0]} is longer than {_size_text(MAX_LINE_CHARS)}; is this a text file?", line=counter[0]
            )
        yield line


def sniff_delimiter(sample: str) -> str:
    """The delimiter (``,`` ``;`` tab ``|``) that splits the first lines into the same number of
    columns, more than one; quoted fields are parsed as such. A comma when nothing fits."""
    end = max(sample.rfind("\n"), sample.rfind("\r"))
    lines_text = sample[: end + 1] if end > 0 else sample
    best: tuple[float, int, int] | None = None
    choice = ","
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            counts = [len(r) for r in _first_rows(lines_text, delimiter) if any(c.strip() for c in r)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = (consistent, counts[0], -rank)
        if best is None or score > best:
            best, choice = score, delimiter
    return choice


def _first_rows(text: str, delimiter: str, limit: int = 50) -> list[list[str]]:
    out = []
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        out.append(row)
        if len(out) >= limit:
            break
    return out


# Kept for callers of the first version.
_sniff_delimiter = sniff_delimiter


# --- cells ----------------------------------------------------------------------------------------


def column_name(index: int, headers: list[str]) -> str:
    """How a message names column ``index`` (0-based): its title, else its spreadsheet letter."""
    title = headers[index] if index < len(headers) else ""
    letters = _letters(index)
    return f"{title} ({letters})" if title else letters


def _letters(index: int) -> str:
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def clean_cells(cells: list[str], headers: list[str], line: int) -> tuple[list[str], ReadError | None]:
    """Cells stripped of NULs and lone surrogates, padded or cut to the header's width, and the first
    problem found (reported on the row, see the module docstring)."""
    error: ReadError | None = None
    width = len(headers)
    for i, cell in enumerate(cells):
        if not _NEEDS_CLEANING.search(cell):  # the common case, one regex scan in C
            continue
        if "\r" in cell:  # a multi-line cell written on Windows: one kind of line break
            cells[i] = cell = cell.replace("\r\n", "\n").replace("\r", "\n")
        if "\x00" in cell:
            cells[i] = cell = cell.replace("\x00", "")
            if error is None:
                error = ReadError(
                    f"Line {line}, column {column_name(i, headers)}: the cell holds a NUL character (a binary"
                    " zero); remove it in the source and import the row again.",
                    line=line,
                    column=headers[i] if i < width else _letters(i),
                )
        if _SURROGATE.search(cell):
            cells[i] = cell.translate(_SURROGATES)
            if error is None:
                error = ReadError(
                    f"Line {line}, column {column_name(i, headers)}: the text is not valid in the file's"
                    " encoding (the file may mix encodings); save the file as UTF-8 and import the row again.",
                    line=line,
                    column=headers[i] if i < width else _letters(i),
                )
    if len(cells) > width:
        extra = [i for i in range(width, len(cells)) if cells[i].strip()]
        if extra and error is None:
            error = ReadError(
                f"Line {line} has {len(cells)} cells but the header has {width} columns; the value in column"
                f" {_letters(extra[0])} ({cells[extra[0]][:40]!r}) has no title. Check the delimiter and the"
                " quotes on that line.",
                line=line,
                column=_letters(extra[0]),
            )
        del cells[width:]
    elif len(cells) < width:
        cells.extend([""] * (width - len(cells)))
    return cells, error


def _check_cell_sizes(cells: list[str], headers: list[str], line: int, cap: int) -> None:
    if not cells or max(map(len, cells)) <= cap:
        return
    for i, cell in enumerate(cells):
        if len(cell) > cap:
            raise ReadError(
                f"Line {line}, column {column_name(i, headers)}: the cell holds {len(cell):,} characters;"
                f" at most {cap:,} can be imported. Is a closing quote missing?",
                line=line,
                column=headers[i] if i < len(headers) else _letters(i),
            )


def _check_width(width: int, line: int) -> None:
    if width > MAX_COLUMNS:
        raise ReadError(
            f"The file has {width:,} columns; at most {MAX_COLUMNS:,} can be imported. Remove the columns you"
            " do not need.",
            line=line,
        )


# --- CSV ------------------------------------------------------------------------------------------


def _open_csv(path: Path, options: ReadOptions) -> Table:
    _, cap = _limits(options)
    text, encoding, sample = open_text(path, options)
    try:
        delimiter = options.delimiter or sniff_delimiter(sample)
        if delimiter == "\\t":
            delimiter = "\t"
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ReadError(f"The delimiter must be one character such as , ; | or a tab, not {delimiter!r}.")
        counter = [0]
        reader = csv.reader(_lines(text, counter), delimiter=delimiter)

        def next_row() -> tuple[int, list[str]] | None:
            start = counter[0] + 1
            try:
                cells = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                if "field larger than field limit" in str(exc):
                    raise ReadError(
                        f"Line {start}: a cell is larger than {_size_text(MAX_CELL_CHARS_HARD)}; at most"
                        f" {cap:,} characters can be imported. Is a closing quote missing?",
                        line=start,
                    ) from None
                raise ReadError(f"Line {start}: the file cannot be read as CSV ({exc}).", line=start) from None
            return start, cells

        while True:
            first = next_row()
            if first is None:
                raise ReadError("The file has no header row (it holds no text).")
            header_line, header_cells = first
            if any(c.strip() for c in header_cells):
                break
        _check_width(len(header_cells), header_line)
        _check_cell_sizes(header_cells, header_cells, header_line, cap)
        while header_cells and not header_cells[-1].strip():
            header_cells.pop()
        headers = [_clean_title(h) for h in header_cells]
        width = len(headers)
    except BaseException:
        text.close()
        raise

    def rows() -> Iterator[Row]:
        while True:
            item = next_row()
            if item is None:
                return
            line, cells = item
            joined = "".join(cells)
            if not joined or joined.isspace():
                continue
            if len(cells) > MAX_COLUMNS:
                cells = cells[: len(headers) + 1]
            if len(cells) == width and not _NEEDS_CLEANING.search(joined):
                if len(joined) > cap:
                    _check_cell_sizes(cells, headers, line, cap)
                yield Row(line, cells)
                continue
            _check_cell_sizes(cells, headers, line, cap)
            cells, error = clean_cells(cells, headers, line)
            yield Row(line=line, cells=cells, error=error)

    return Table(
        format="csv",
        headers=headers,
        header_line=header_line,
        encoding=encoding,
        delimiter=delimiter,
        _rows=rows(),
        _close=text.close,
    )


def _clean_title(title: str) -> str:
    return title.replace("\x00", "").translate(_SURROGATES).replace("\ufeff", "").strip()


def read_text(text: str, *, filename: str = "data.csv") -> list[Row]:
    """Every row of a small in-memory file (tests and previews)."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=os.path.splitext(filename)[1] or ".csv") as handle:
        handle.write(text.encode("utf-8"))
        handle.flush()
        with open_table(Path(handle.name), filename=filename) as table:
            return list(table.rows())


__all__: list[str] = [
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "ReadError",
    "ReadOptions",
    "Row",
    "Table",
    "detect_encoding",
    "detect_format",
    "open_table",
    "read_text",
    "sniff_delimiter",
]
