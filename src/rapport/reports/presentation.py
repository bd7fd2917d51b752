"""How a report's result is shown: the chart's data for ``static/js/reports.js``, the formatted table
and pivot, and the CSV/XLSX downloads with typed cells (``core.export``'s writers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from rapport.core import export, formatting
from rapport.forecasting.money import money

from .engine import OTHERS, Result
from .standard import Col

TENTH = Decimal("0.1")


def cell_text(col: Col, value: Any, currency: str) -> str:
    """A standard report's figure as the viewer reads it (their locale): money in the base currency,
    percent, days."""
    if value is None:
        return "—"
    if col.kind == "money":
        return formatting.money(money(Decimal(value)), currency)
    if col.kind == "percent":
        return formatting.percent(Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP))
    if col.kind in ("days", "number"):
        return formatting.number(Decimal(value).quantize(TENTH, rounding=ROUND_HALF_UP), 1)
    if col.kind == "count":
        return formatting.number(value)
    return str(value)


def chart_data(result: Result, *, element_id: str = "") -> dict[str, Any]:
    """What the page's script draws: labels, one dataset per value of the second grouping (or one),
    the drill-down address of each point, and how to format values."""
    chart = result.config.chart
    data: dict[str, Any] = {
        "chart": chart,
        "kind": result.value_kind,
        "currency": result.currency if result.value_kind == "money" else "",
        "measure": result.measure_label,
        "labels": [],
        "datasets": [],
    }
    if len(result.group_labels) == 0:
        return data
    if len(result.group_labels) == 1:
        data["labels"] = [r.labels[0] for r in result.rows]
        data["datasets"] = [
            {
                "label": result.measure_label,
                "data": [_float(r.value) for r in result.rows],
                "urls": [r.url for r in result.rows],
            }
        ]
        return data
    firsts = result.level_keys(0)
    seconds = result.level_keys(1)
    cells = {(r.keys[0], r.keys[1]): r for r in result.rows}
    data["labels"] = [label for _, label in firsts]
    for key, label in seconds:
        row_cells = [cells.get((k, key)) for k, _ in firsts]
        data["datasets"].append(
            {
                "label": label,
                "data": [_float(c.value) if c else None for c in row_cells],
                "urls": [c.url if c else None for c in row_cells],
            }
        )
    return data


def standard_chart(result: Any, key: str) -> dict[str, Any] | None:
    """A standard report's chart in the shape static/js/reports.js draws (a funnel's stages across), each
    point linked to the records behind it where the report gives a link."""
    cols = [c for c in result.columns if c.chart]
    if not cols or not result.rows:
        return None
    return {
        "chart": "funnel" if key == "funnel" else ("line" if result.chart == "line" else "bar"),
        "kind": cols[0].kind if cols[0].kind in ("money", "percent") else "count",
        "currency": result.base_currency,
        "labels": [r.label for r in result.rows],
        "datasets": [
            {
                "label": c.label,
                "data": [float(r.values[c.key]) if r.values.get(c.key) is not None else None for r in result.rows],
                "urls": [r.links.get(c.key) or None for r in result.rows],
            }
            for c in cols
        ],
    }


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def shown_rows(result: Result) -> list[dict[str, Any]]:
    return [
        {"labels": r.labels, "text": result.format(r.value), "count": r.count, "url": r.url, "others": OTHERS in r.keys}
        for r in result.rows
    ]


def shown_pivot(result: Result) -> dict[str, Any] | None:
    if len(result.group_labels) != 2 or not result.rows:
        return None
    pivot = result.pivot()
    return {
        "columns": pivot["columns"],
        "rows": [
            {
                "label": row["label"],
                "cells": [{"text": result.format(c.value), "url": c.url} if c else None for c in row["cells"]],
            }
            for row in pivot["rows"]
        ],
    }


# --- downloads ------------------------------------------------------------------------------------
def typed_rows(result: Result) -> Iterator[list[export.Cell]]:
    """Header and rows as typed cells: dates of date groupings as dates, money as amounts in the
    base currency, percentages as percentages, counts as numbers; labels as (escaped) text."""
    yield [*result.group_labels, result.measure_label, "Records"]
    for row in result.rows:
        cells: list[export.Cell] = []
        for key, label in zip(row.keys, row.labels, strict=True):
            cells.append(key if isinstance(key, dt.date) else label)
        cells.append(_typed(result, row.value))
        cells.append(row.count)
        yield cells
    lead = ["Total"] + [""] * (len(result.group_labels) - 1) if result.group_labels else []
    yield [*lead, _typed(result, result.total.value), result.total.count]


def _typed(result: Result, value: Any) -> export.Cell:
    if value is None:
        return ""
    if result.value_kind == "money":
        return export.Money(Decimal(value), result.currency, str(value))
    if result.value_kind == "percent":
        return export.Percent(Decimal(value))
    return value


def download(result: Result, name: str, fmt: str, user: Any) -> HttpResponse:
    day = timezone.now().astimezone(_tz(user)).date().isoformat()
    filename = f"{slugify(name) or 'report'}-{day}.{fmt}"
    response: Any
    if fmt == "csv":
        response = StreamingHttpResponse(export.csv_chunks(typed_rows(result)), content_type=export.FORMATS["csv"])
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    else:
        handle = export.xlsx_file(typed_rows(result), name or "Report")
        response = FileResponse(handle, as_attachment=True, filename=filename, content_type=export.FORMATS["xlsx"])
    response["Cache-Control"] = "no-store"
    return response  # type: ignore[no-any-return]


def _tz(user: Any) -> dt.tzinfo:
    from .engine import user_tz

    return user_tz(user)
