"""CSV and XLSX export of any record type's list, with the list's filters and ordering.

Rows are read in keyset batches through the one visibility rule (``visible_to(user, "export")``),
so an export never loads a whole table and never shows a record the user may not export. Cells
that a spreadsheet would run as a formula are prefixed with a single quote.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zoneinfo
from collections.abc import Iterator, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import customfields
from . import jsonq as _jsonq  # noqa: F401  (registers the has_element lookup the tag filter uses)
from .listing import QueryError, build_filter, paginate, parse_ordering, project_row, projection_fields
from .models import CustomField
from .registry import Column, RecordType

BATCH_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

Cell = str | int | float


def escape_cell(value: Cell) -> Cell:
    """Neutralise text a spreadsheet would read as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _user_tz(user: Any) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _format_datetime(value: Any, tz: dt.tzinfo) -> str:
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, dt.datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _column_cell(col: Column, value: Any, tz: dt.tzinfo) -> Cell:
    if value is None:
        return ""
    if col.kind in ("user", "record", "fk"):
        return str(value.get("name") or "")
    if col.kind == "tags":
        return ", ".join(str(t) for t in value)
    if col.kind == "datetime":
        return _format_datetime(value, tz)
    if col.kind == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if col.kind == "choice":
        return dict(col.choices).get(value, str(value))
    return str(value)


class _LinkNames:
    """Names of the users and records that a batch's user and reference custom fields point to,
    read with one query per field type and batch instead of one per cell."""

    def __init__(self, fields: list[CustomField], user: Any):
        self.user_fields = [f for f in fields if f.field_type == "user"]
        self.ref_fields = [f for f in fields if f.field_type == "reference"]
        self.viewer = user
        self.users: dict[Any, str] = {}
        self.records: dict[str, dict[Any, str]] = {}

    def load(self, rows: list[dict[str, Any]]) -> None:
        from django.contrib.auth import get_user_model

        from . import registry

        if self.user_fields:
            ids = {r["custom"].get(f.key) for r in rows for f in self.user_fields if r["custom"]} - {None}
            self.users = {u.pk: u.display_name for u in get_user_model().objects.filter(pk__in=ids)}
        by_type: dict[str, set[Any]] = {}
        for f in self.ref_fields:
            ids = {r["custom"].get(f.key) for r in rows if r["custom"]} - {None}
            by_type.setdefault(f.reference_type, set()).update(ids)
        self.records = {}
        for type_key, ids in by_type.items():
            target = registry.find(type_key)
            if target is None or not ids:
                continue
            # Only names the exporting user may see; others show as #id.
            values = target.model.objects.visible_to(self.viewer).filter(pk__in=ids).values("pk", *target.title_fields)
            self.records[type_key] = {
                v["pk"]: " ".join(str(v[t] or "") for t in target.title_fields).strip() for v in values
            }

    def cell(self, field: CustomField, value: Any, tz: dt.tzinfo) -> Cell:
        if value is None or value == "":
            return ""
        t = field.field_type
        if t == "user":
            return self.users.get(value, f"#{value}")
        if t == "reference":
            return self.records.get(field.reference_type, {}).get(value, f"#{value}")
        if t == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if t == "datetime":
            return _format_datetime(value, tz)
        return customfields.display(field, value)


def export_rows(rtype: RecordType, user: Any, params: Mapping[str, Any]) -> Iterator[list[Cell]]:
    """The header row, then one row per exported record, every cell escaped.

    Checks permission and parameters before returning (PermissionDenied, QueryError), so callers
    can answer 403 or 400 before they start streaming.
    """
    if not getattr(user, "is_authenticated", False) or user.scope_for(rtype.key, "export") is None:
        raise PermissionDenied(f"You may not export {rtype.label_plural.lower()}.")
    q = build_filter(rtype, params, user)
    ordering = parse_ordering(rtype, params.get("ordering"))
    queryset = rtype.model.objects.visible_to(user, "export").filter(q)
    defs = customfields.definitions(rtype.key)
    fields = projection_fields(rtype)
    if ordering.path not in fields:
        fields.append(ordering.path)
    tz = _user_tz(user)
    links = _LinkNames(defs, user)

    def generate() -> Iterator[list[Cell]]:
        yield [escape_cell(label) for label in ["ID", *(c.label for c in rtype.columns), *(d.label for d in defs)]]
        cursor: str | None = None
        while True:
            page = paginate(queryset, ordering, cursor, BATCH_SIZE, fields=fields)
            links.load(page.rows)
            for raw in page.rows:
                row = project_row(rtype, raw)
                custom = row["custom"]
                cells: list[Cell] = [row["id"]]
                cells += [_column_cell(c, row[c.key], tz) for c in rtype.columns]
                cells += [links.cell(d, custom.get(d.key), tz) for d in defs]
                yield [escape_cell(c) for c in cells]
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    return generate()


def _filename(rtype: RecordType, user: Any, fmt: str) -> str:
    day = timezone.now().astimezone(_user_tz(user)).date().isoformat()
    return f"{rtype.key}-{day}.{fmt}"


def _csv_chunks(rows: Iterator[list[Cell]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read the file as UTF-8
    for n, row in enumerate(rows, start=1):
        writer.writerow(row)
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _xlsx_file(rows: Iterator[list[Cell]], title: str) -> Any:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])

    def cell(value: Cell) -> Any:
        if isinstance(value, str):
            out = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            out.data_type = "s"  # text, never a formula
            return out
        return value

    for n, row in enumerate(rows, start=1):
        if n == XLSX_MAX_ROWS:
            sheet.append([cell("… more rows than a spreadsheet holds; export as CSV to get them all.")])
            break
        sheet.append([cell(v) for v in row])
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)
    return handle


def export_response(request: HttpRequest, rtype: RecordType, fmt: str) -> HttpResponse:
    """A download of ``rtype``'s list with the request's filters: CSV streamed, or XLSX."""
    if fmt not in FORMATS:
        return HttpResponse("format: choose csv or xlsx.", status=400, content_type="text/plain; charset=utf-8")
    try:
        rows = export_rows(rtype, request.user, request.GET)
    except PermissionDenied as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    except QueryError as exc:
        return HttpResponse(f"{exc.param}: {exc.message}", status=400, content_type="text/plain; charset=utf-8")
    return download(rows, rtype, request.user, fmt)


def download(rows: Iterator[list[Cell]], rtype: RecordType, user: Any, fmt: str) -> HttpResponse:
    """The file response for rows from :func:`export_rows` (also used by the API)."""
    filename = _filename(rtype, user, fmt)
    response: StreamingHttpResponse
    if fmt == "csv":
        response = StreamingHttpResponse(_csv_chunks(rows), content_type=FORMATS["csv"])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    else:
        handle = _xlsx_file(rows, rtype.label_plural)
        response = FileResponse(handle, as_attachment=True, filename=filename, content_type=FORMATS["xlsx"])
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[return-value]  # a streaming response is what Django serves as-is


__all__: list[str] = ["download", "escape_cell", "export_response", "export_rows"]
