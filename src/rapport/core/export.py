"""CSV and XLSX export of any record type's list, with the list's filters and ordering.

Rows are read in keyset batches through the one visibility rule (``visible_to(user, "export")``),
so an export never loads a whole table and never shows a record the user may not export.

Cells are typed: numbers, money (amount with a number format naming the currency and its decimals),
percentages, dates and datetimes (in the user's time zone) are numbers and dates in XLSX, so they sum
and sort. Free text that a spreadsheet would run as a formula is neutralised: prefixed with a single
quote in CSV, marked as text (quotePrefix, the value unchanged) in XLSX. Validated values that cannot be
a formula, such as E.164 phone numbers, are written as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import customfields
from . import jsonq as _jsonq  # noqa: F401  (registers the has_element lookup the tag filter uses)
from . import money as money_
from .listing import QueryError, build_filter, paginate, parse_ordering, project_row, projection_fields
from .models import CustomField
from .registry import Column, RecordType
from .visibility import link_label

BATCH_SIZE = 2000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str
    text: str  # the CSV cell


@dataclass(frozen=True)
class Percent:
    value: Decimal  # 12.5 for 12.5 %


class Verbatim(str):
    """Text validated into a shape that cannot be a formula (an E.164 phone number): never prefixed."""

    __slots__ = ()


Cell = str | int | float | bool | Decimal | dt.date | dt.datetime | Money | Percent


def could_be_formula(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, Verbatim) and value.startswith(FORMULA_PREFIXES)


def escape_cell(value: Cell) -> Cell:
    """Neutralise free text a spreadsheet would read as a formula (OWASP CSV injection)."""
    if could_be_formula(value):
        return "'" + str(value)
    return value


def csv_text(value: Cell) -> Any:
    """How a typed cell is written in CSV; free text comes escaped."""
    if isinstance(value, Money):
        return value.text
    if isinstance(value, Percent):
        return str(value.value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return escape_cell(value)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _number(value: Any) -> Cell:
    """A number cell (int where whole) from what the database or the JSON column holds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    number = _decimal(value)
    if number is None or not number.is_finite():
        return str(value)
    return int(number) if number == number.to_integral_value() and abs(number) < 2**53 else number


def _user_tz(user: Any) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _local_datetime(value: Any, tz: dt.tzinfo) -> dt.datetime | str:
    """The wall-clock time in the user's zone (spreadsheets have no time zones), to the minute."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, dt.datetime):
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)


def _date(value: Any) -> dt.date | str:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)


def _money(amount: Any, currency: Any, text: str) -> Cell:
    number = _decimal(amount)
    if number is None or not number.is_finite():
        return text
    return Money(number, str(currency or "").upper(), text)


def _column_cell(col: Column, value: Any, tz: dt.tzinfo, row: Mapping[str, Any]) -> Cell:
    if value is None:
        return ""
    if col.kind in ("user", "record", "fk"):
        # A record the exporter may not see shows as #id (its name is None, see link_label).
        return str(value["name"]) if value.get("name") is not None else f"#{value.get('id')}"
    if col.kind == "tags":
        return ", ".join(str(t) for t in value)
    if col.kind == "datetime":
        return _local_datetime(value, tz)
    if col.kind == "date":
        return _date(value)
    if col.kind == "choice":
        return dict(col.choices).get(value, str(value))
    if col.kind == "number":
        return _number(value)
    if col.kind == "percent":
        number = _decimal(value)
        return Percent(number) if number is not None and number.is_finite() else str(value)
    if col.kind == "money":
        return _money(value, row.get(col.currency) if col.currency else None, str(value))
    if col.kind == "phone":
        return Verbatim(value)
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
            # Only names the exporting user may see (link_label); others show as #id.
            values = (
                target.model.objects.live().filter(pk__in=ids).values("pk", "owner_id", "team_id", *target.title_fields)
            )
            names = {}
            for v in values:
                title = " ".join(str(v[t] or "") for t in target.title_fields).strip()
                label = link_label(self.viewer, type_key, title, owner_id=v["owner_id"], team_id=v["team_id"])
                if label is not None:
                    names[v["pk"]] = label
            self.records[type_key] = names

    def cell(self, field: CustomField, value: Any, tz: dt.tzinfo) -> Cell:
        if value is None or value == "":
            return ""
        t = field.field_type
        if t == "user":
            return self.users.get(value, f"#{value}")
        if t == "reference":
            return self.records.get(field.reference_type, {}).get(value, f"#{value}")
        if t == "number":
            return _number(value)
        if t == "money" and isinstance(value, dict):
            return _money(value.get("amount"), value.get("currency"), customfields.display(field, value))
        if t == "date":
            return _date(value)
        if t == "datetime":
            return _local_datetime(value, tz)
        if t == "phone":
            return Verbatim(customfields.display(field, value))
        return customfields.display(field, value)


def export_rows(rtype: RecordType, user: Any, params: Mapping[str, Any]) -> Iterator[list[Cell]]:
    """The header row, then one row per exported record, as typed cells (see the module's docstring);
    the writers neutralise free text that could be a formula.

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
        yield ["ID", *(c.label for c in rtype.columns), *(d.label for d in defs)]
        cursor: str | None = None
        while True:
            page = paginate(queryset, ordering, cursor, BATCH_SIZE, fields=fields)
            links.load(page.rows)
            for raw in page.rows:
                row = project_row(rtype, raw, user=user)
                custom = row["custom"]
                cells: list[Cell] = [row["id"]]
                cells += [_column_cell(c, row[c.key], tz, row) for c in rtype.columns]
                cells += [links.cell(d, custom.get(d.key), tz) for d in defs]
                yield cells
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
        writer.writerow([csv_text(c) for c in row])
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
            # Free text that looks like a formula stays text when someone edits the cell, too.
            out.quotePrefix = could_be_formula(value)
            return out
        if isinstance(value, Money):
            out = WriteOnlyCell(sheet, value=value.amount)
            out.number_format = money_.spreadsheet_format(value.currency)
            return out
        if isinstance(value, Percent):
            out = WriteOnlyCell(sheet, value=value.value / 100)
            out.number_format = "0%" if value.value == value.value.to_integral_value() else "0.00%"
            return out
        if isinstance(value, dt.datetime):
            out = WriteOnlyCell(sheet, value=value)
            out.number_format = "yyyy-mm-dd hh:mm"
            return out
        if isinstance(value, dt.date):
            out = WriteOnlyCell(sheet, value=value)
            out.number_format = "yyyy-mm-dd"
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


__all__: list[str] = [
    "Money",
    "Percent",
    "Verbatim",
    "csv_text",
    "download",
    "escape_cell",
    "export_response",
    "export_rows",
]


# The writers, for other typed tables (the report builder's results).
csv_chunks = _csv_chunks
xlsx_file = _xlsx_file
