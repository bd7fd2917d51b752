"""Reading an uploaded file as a table of text cells, streamed row by row, whatever its format.

The contract the import job relies on (every format keeps it):
- ``open_table(path, filename=..., options=...)`` returns a ``Table`` (a context manager) or raises
  ``ReadError`` with a message a user can act on (and the line/column where known);
- ``Table.headers`` are the column titles (first non-empty row), ``Table.rows()`` yields ``Row``s lazily,
  never loading the whole file; ``Row.line`` is the 1-based physical line (CSV: the line where the row
  starts, multi-line quoted fields counted; spreadsheets: the sheet's row number; vCard: the BEGIN line);
- every cell is a ``str`` (empty string for a missing cell), NULs and lone surrogates never come out;
- limits (columns, cell size, file size, archive expansion) raise ``ReadError`` naming what and where.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_COLUMNS = 1000
MAX_CELL_CHARS = 1_000_000


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


@dataclass
class ReadOptions:
    encoding: str | None = None  # None: detect
    delimiter: str | None = None  # None: detect
    sheet: str | None = None  # spreadsheets: None = first sheet


@dataclass
class Table:
    format: str
    headers: list[str]
    header_line: int
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = field(default_factory=list)
    _rows: Iterator[Row] | None = None
    _close: Any = None

    def rows(self) -> Iterator[Row]:
        assert self._rows is not None
        return self._rows

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_table(path: Path, *, filename: str, options: ReadOptions | None = None) -> Table:
    """A table over the file at ``path`` (``filename`` is the user's name for it, for the format)."""
    options = options or ReadOptions()
    # First version: UTF-8 (with or without BOM) CSV only; the other formats plug in here.
    handle = open(path, encoding=options.encoding or "utf-8-sig", newline="")  # noqa: SIM115
    sample = handle.read(64 * 1024)
    handle.seek(0)
    delimiter = options.delimiter or _sniff_delimiter(sample)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration:
        handle.close()
        raise ReadError("The file is empty.") from None
    if len(headers) > MAX_COLUMNS:
        handle.close()
        raise ReadError(f"The file has {len(headers)} columns; at most {MAX_COLUMNS} can be imported.", line=1)

    def rows() -> Iterator[Row]:
        start = reader.line_num + 1
        for cells in reader:
            yield Row(line=start, cells=[c.replace("\x00", "") for c in cells])
            start = reader.line_num + 1

    return Table(
        format="csv",
        headers=[h.strip() for h in headers],
        header_line=1,
        encoding=options.encoding or "utf-8",
        delimiter=delimiter,
        _rows=rows(),
        _close=handle.close,
    )


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_text(text: str, *, filename: str = "data.csv") -> list[Row]:
    """Every row of a small in-memory file (tests and previews)."""
    del filename
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    return [Row(line=reader.line_num, cells=cells) for cells in reader]
