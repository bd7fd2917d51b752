"""XLSX, XLS and ODS files read as tables (the readers' contract, :mod:`rapport.imports.readers`), after the
archive checks that refuse a zip bomb or XML with a document type before any parser sees the file."""

from __future__ import annotations

import datetime as dt
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from .readers import (
    ReadError,
    ReadOptions,
    Row,
    Table,
    _check_cell_sizes,
    _check_width,
    _clean_title,
    _limits,
    _size_text,
    clean_cells,
)

# calamine holds a whole sheet in memory (about three times its XML: 170 MB for 200,000 rows of 8 cells);
# an XLSX whose largest sheet is bigger than this is read row by row with openpyxl's read-only mode instead
# (flat memory, about ten times slower).
STREAM_FROM = 64 * 1024**2
# A spreadsheet (a zip) may expand to at most this much XML, and, past EXPANSION_CHECK_FROM, to at most
# MAX_EXPANSION_RATIO times its packed size: real workbooks expand 3–20×, a zip bomb thousands of times.
MAX_EXPANDED_BYTES = 2 * 1024**3
MAX_EXPANSION_RATIO = 100
EXPANSION_CHECK_FROM = 64 * 1024**2


def check_archive(path: Path, *, max_expanded: int = MAX_EXPANDED_BYTES) -> None:
    """Refuse a zip bomb and XML with a document type (entities) before any parser sees the file.

    Every member is decompressed once here (nothing kept): the sizes a zip declares can lie, the bytes
    cannot, and each XML part is scanned for ``<!DOCTYPE``/``<!ENTITY`` — markup Office and LibreOffice
    never write, and the door to entity-expansion and external-entity attacks.
    """
    packed = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ReadError("The spreadsheet cannot be opened: it is not a valid XLSX or ODS file (damaged zip).") from None
    with archive:
        infos = archive.infolist()
        declared = sum(i.file_size for i in infos)
        _check_expansion(declared, packed, max_expanded)
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise ReadError("The spreadsheet is encrypted; save it without a password and import it again.")
            xml = info.filename.lower().endswith((".xml", ".rels", ".vml"))
            tail = b""
            try:
                with archive.open(info) as member:
                    first = True
                    while chunk := member.read(1024 * 1024):
                        total += len(chunk)
                        if total > max_expanded:
                            _check_expansion(total, packed, max_expanded)
                        if xml:
                            if first and (chunk.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<"))):
                                raise ReadError(
                                    f"The spreadsheet's part {info.filename} is stored as UTF-16, which is not"
                                    " accepted; save the file again from your spreadsheet program."
                                )
                            window = (tail + chunk).upper()
                            if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                                raise ReadError(
                                    "The spreadsheet holds an XML document type declaration (<!DOCTYPE>), which"
                                    " spreadsheet programs never write and which can hide an attack; it was not"
                                    " opened. Save it again from your spreadsheet program."
                                )
                            tail = chunk[-16:]
                        first = False
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise ReadError(f"The spreadsheet is damaged ({info.filename}: {exc}).") from None
        _check_expansion(total, packed, max_expanded)


def _check_expansion(expanded: int, packed: int, max_expanded: int) -> None:
    if expanded > max_expanded or (expanded > EXPANSION_CHECK_FROM and expanded > MAX_EXPANSION_RATIO * max(packed, 1)):
        raise ReadError(
            f"The spreadsheet expands from {_size_text(packed)} to more than {_size_text(expanded)} when unpacked,"
            " which is how a zip bomb looks; it was not opened. Export it as CSV and import that instead."
        )


def open_spreadsheet(path: Path, kind: str, options: ReadOptions) -> Table:
    import python_calamine

    _, cap = _limits(options)
    if kind in ("xlsx", "ods"):
        check_archive(path)
    if kind == "xlsx" and _largest_sheet(path) > STREAM_FROM:
        return _open_xlsx_streamed(path, options)
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise ReadError(
            "The spreadsheet is protected by a password; save it without one and import it again."
        ) from None
    except Exception as exc:  # calamine's errors (zip, XML, OLE) all mean "not a file we can read"
        raise ReadError(f"The spreadsheet cannot be read ({_short(exc)}).") from None
    try:
        sheets = list(workbook.sheet_names)
        name = options.sheet
        if name is None:
            visible = [m.name for m in workbook.sheets_metadata if str(m.visible).endswith("Visible")]
            worksheets = [
                m.name for m in workbook.sheets_metadata if str(m.typ).endswith("WorkSheet") and m.name in visible
            ]
            candidates = worksheets or visible or sheets
            name = candidates[0] if candidates else None
        if name is None:
            raise ReadError("The spreadsheet has no sheet.")
        if name not in sheets:
            raise ReadError(f"There is no sheet {name!r} in the file; its sheets are: {', '.join(sheets)}.")
        try:
            sheet = workbook.get_sheet_by_name(name)
        except Exception as exc:
            raise ReadError(f"The sheet {name!r} cannot be read ({_short(exc)}).") from None
    except BaseException:
        workbook.close()
        raise
    first_row, first_col = sheet.start or (0, 0)
    _check_width(sheet.width, first_row + 1)
    # iter_rows() yields the sheet's rows from row 1 (the empty ones above the data too) and its columns
    # from the first used one: the n-th row yielded is sheet row n (tests pin this).
    source = sheet.iter_rows()

    def next_row(index: list[int]) -> tuple[int, list[str]] | None:
        try:
            values = next(source)
        except StopIteration:
            return None
        index[0] += 1
        line = index[0]
        return line, [spreadsheet_text(v) for v in values]

    index = [0]
    try:
        while True:
            first = next_row(index)
            if first is None:
                raise ReadError(f"The sheet {name!r} is empty.")
            header_line, header_cells = first
            if any(c.strip() for c in header_cells):
                break
        _check_cell_sizes(header_cells, header_cells, header_line, cap)
        while header_cells and not header_cells[-1].strip():
            header_cells.pop()
        headers = [_clean_title(h) for h in header_cells]
    except BaseException:
        workbook.close()
        raise

    def rows() -> Iterator[Row]:
        while True:
            item = next_row(index)
            if item is None:
                return
            line, cells = item
            if not any(c.strip() for c in cells):
                continue
            _check_cell_sizes(cells, headers, line, cap)
            cells, error = clean_cells(cells, headers, line)
            yield Row(line=line, cells=cells, error=error)

    return Table(
        format=kind,
        headers=headers,
        header_line=header_line,
        sheets=sheets,
        sheet=name,
        _rows=rows(),
        _close=workbook.close,
    )


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def spreadsheet_text(value: Any) -> str:
    """A spreadsheet cell as the text the serializers accept: ISO dates, numbers as a person typed them
    (15 significant digits like the spreadsheet shows, so no ``0.30000000000000004``; integers without
    ``.0``), booleans as ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        hours, rest = divmod(abs(seconds), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return str(value)


def number_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return ""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = format(Decimal(f"{value:.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _largest_sheet(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return max((i.file_size for i in archive.infolist() if i.filename.startswith("xl/worksheets/")), default=0)


def _open_xlsx_streamed(path: Path, options: ReadOptions) -> Table:
    """An XLSX read row by row (openpyxl read-only, cached values): flat memory for big sheets. The archive
    was checked first (no document type, so no entity can expand)."""
    from openpyxl import load_workbook

    _, cap = _limits(options)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl's errors all mean "not a file we can read"
        raise ReadError(f"The spreadsheet cannot be read ({_short(exc)}).") from None
    try:
        sheets = list(workbook.sheetnames)
        name = options.sheet
        if name is None:
            visible = [ws.title for ws in workbook.worksheets if ws.sheet_state == "visible"]
            name = (visible or sheets or [""])[0]
        if name not in sheets:
            raise ReadError(f"There is no sheet {name!r} in the file; its sheets are: {', '.join(sheets)}.")
        sheet = workbook[name]
        _check_width(sheet.max_column or 0, 1)
        # Row n of what iter_rows() yields from min_row=1 is sheet row n (empty rows included).
        source = enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1)
        while True:
            first = next(source, None)
            if first is None:
                raise ReadError(f"The sheet {name!r} is empty.")
            header_line, header_cells = first[0], [spreadsheet_text(v) for v in first[1]]
            if any(c.strip() for c in header_cells):
                break
        _check_cell_sizes(header_cells, header_cells, header_line, cap)
        while header_cells and not header_cells[-1].strip():
            header_cells.pop()
        headers = [_clean_title(h) for h in header_cells]
    except BaseException:
        workbook.close()
        raise

    def rows() -> Iterator[Row]:
        for line, values in source:
            cells = [spreadsheet_text(v) for v in values]
            if not any(c.strip() for c in cells):
                continue
            _check_cell_sizes(cells, headers, line, cap)
            cells, error = clean_cells(cells, headers, line)
            yield Row(line=line, cells=cells, error=error)

    return Table(
        format="xlsx",
        headers=headers,
        header_line=header_line,
        sheets=sheets,
        sheet=name,
        _rows=rows(),
        _close=workbook.close,
    )
