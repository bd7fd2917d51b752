"""Charts drawn on the server as PNG, for the scheduled email of a dashboard (mail clients run no script).

``png(chart)`` takes the chart in the shape the pages' script draws (``presentation.chart_data`` and the
dashboard's standard-report charts: ``chart``, ``kind``, ``currency``, ``labels``, ``datasets`` of numbers or
None) and draws the same kind of chart with Pillow: bars (grouped), stacked bars, lines, areas, a pie and a
funnel (horizontal bars, widest first). Numbers and tables have no picture (their figures are in the email's
text); nor has a chart with nothing to show. Drawn at twice its size, shown at ``WIDTH`` × ``HEIGHT`` CSS
pixels, so it stays sharp on high-density screens. Labels use DejaVu Sans, the quote PDF's font (Latin,
Greek, Cyrillic); a label longer than its room is cut with an ellipsis.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from rapport.core import formatting

WIDTH, HEIGHT = 560, 260  # as shown, in CSS pixels
SCALE = 2
MAX_POINTS = 24  # bars and slices; the rest are in the email's table (the chart says it shows the first ones)
MAX_LINE_POINTS = 120
# The pages' palette (static/js/reports.js), in the same order.
PALETTE = ("#2f5fd0", "#1f8a4c", "#d0442f", "#e0a100", "#7b4fc9", "#1b9aaa", "#c2458a", "#6b7a8f", "#8fb339", "#f26b38")
INK, MUTED, GRID, BACKGROUND = "#1f2933", "#5f6b7a", "#e4e7eb", "#ffffff"
FONT = Path(__file__).resolve().parent.parent / "quotes" / "fonts" / "DejaVuSans.ttf"
DRAWN = {"bar", "stacked", "line", "area", "pie", "funnel"}


def png(chart: dict[str, Any] | None) -> bytes | None:
    """The chart as PNG bytes, or None when it has no picture."""
    if not chart:
        return None
    kind = chart.get("chart") or chart.get("type") or "bar"
    every = [str(label) for label in chart.get("labels", [])]
    room = MAX_LINE_POINTS if kind in ("line", "area") else MAX_POINTS
    labels = every[:room]
    datasets = [
        (str(d.get("label", "")), [_number(v) for v in d.get("data", [])][:room]) for d in chart.get("datasets", [])
    ]
    datasets = [(name, values) for name, values in datasets if any(v is not None for v in values)]
    if kind not in DRAWN or not labels or not datasets:
        return None
    canvas = _Canvas(chart.get("kind", "count"), chart.get("currency", ""))
    if kind == "pie":
        canvas.pie(labels, datasets[0][1])
    elif kind == "funnel":
        canvas.funnel(labels, datasets)
    elif kind in ("line", "area"):
        canvas.lines(labels, datasets, filled=kind == "area")
    else:
        canvas.bars(labels, datasets, stacked=kind == "stacked")
    if len(every) > len(labels):
        canvas.text(((WIDTH - 4) * SCALE, 2 * SCALE), f"The first {len(labels)} of {len(every)}", anchor="ra")
    return canvas.encode()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def tick_text(value: float, kind: str, currency: str) -> str:
    """An axis figure, short: 1.2K, $3M, 40%."""
    if kind == "percent":
        return formatting.percent(round(value, 1))
    return formatting.compact(value, currency if kind == "money" else None)


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 × a power of ten) that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


class _Canvas:
    def __init__(self, kind: str, currency: str) -> None:
        self.kind, self.currency = kind, currency
        self.image = Image.new("RGB", (WIDTH * SCALE, HEIGHT * SCALE), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.truetype(str(FONT), 11 * SCALE)
        self.small = ImageFont.truetype(str(FONT), 10 * SCALE)

    def encode(self) -> bytes:
        out = io.BytesIO()
        self.image.save(out, "PNG", optimize=True)
        return out.getvalue()

    # --- text ---------------------------------------------------------------------------------
    def fit(self, text: str, room: float, font: Any = None) -> str:
        font = font or self.small
        if self.draw.textlength(text, font=font) <= room:
            return text
        while text and self.draw.textlength(text + "…", font=font) > room:
            text = text[:-1]
        return text + "…" if text else ""

    def text(
        self, xy: tuple[float, float], text: str, *, fill: str = MUTED, anchor: str = "la", font: Any = None
    ) -> None:
        self.draw.text(xy, text, fill=fill, font=font or self.small, anchor=anchor)

    def legend(self, names: Sequence[str], top: float) -> float:
        """Coloured keys of the datasets in a row from the left; returns the height used."""
        if len(names) < 2:
            return 0
        x: float = 8 * SCALE
        size = 9 * SCALE
        for i, name in enumerate(names):
            label = self.fit(name, 120 * SCALE)
            width = size + 4 * SCALE + self.draw.textlength(label, font=self.small) + 12 * SCALE
            if x + width > WIDTH * SCALE:
                break
            self.draw.rectangle((x, top, x + size, top + size), fill=PALETTE[i % len(PALETTE)])
            self.text((x + size + 4 * SCALE, top + size / 2), label, anchor="lm")
            x += width
        return 18 * SCALE

    # --- axes ----------------------------------------------------------------------------------
    def value_axis(self, low: float, high: float, left: float, right: float, top: float, bottom: float) -> Any:
        """Grid lines and figures of a vertical value axis; returns value → y."""
        low, high = min(low, 0.0), max(high, 0.0)
        step = nice_step(high - low)
        low, high = math.floor(low / step) * step, math.ceil(high / step) * step
        if high == low:
            high = low + step

        def y(value: float) -> float:
            return bottom - (value - low) / (high - low) * (bottom - top)

        tick = low
        while tick <= high + step / 2:
            self.draw.line((left, y(tick), right, y(tick)), fill=GRID, width=SCALE)
            self.text((left - 4 * SCALE, y(tick)), tick_text(tick, self.kind, self.currency), anchor="rm")
            tick += step
        return y

    def category_labels(self, labels: Sequence[str], left: float, slot: float, baseline: float) -> None:
        every = max(1, math.ceil(60 * SCALE / max(1.0, slot)))  # a label every 60 px at least
        for i, label in enumerate(labels):
            if i % every:
                continue
            self.text((left + slot * (i + 0.5), baseline + 4 * SCALE), self.fit(label, slot * every - 4), anchor="ma")

    def plot_box(self, labels: Sequence[str], names: Sequence[str], values: list[float]) -> tuple[float, ...]:
        top = 8 * SCALE + self.legend(names, 6 * SCALE)
        bottom = (HEIGHT - 22) * SCALE
        widest = max(self.draw.textlength(tick_text(v, self.kind, self.currency), font=self.small) for v in values)
        left = min(max(widest + 10 * SCALE, 36 * SCALE), 110 * SCALE)
        return left, (WIDTH - 8) * SCALE, top, bottom

    # --- charts --------------------------------------------------------------------------------
    def bars(self, labels: list[str], datasets: list[tuple[str, list[float | None]]], *, stacked: bool) -> None:
        n = len(labels)
        if stacked:
            ups = [sum(max(0.0, d[1][i] or 0.0) for d in datasets if i < len(d[1])) for i in range(n)]
            downs = [sum(min(0.0, d[1][i] or 0.0) for d in datasets if i < len(d[1])) for i in range(n)]
            extent = [*ups, *downs]
        else:
            extent = [v for _, values in datasets for v in values if v is not None]
        left, right, top, bottom = self.plot_box(labels, [d[0] for d in datasets], extent + [0.0])
        y = self.value_axis(min(extent), max(extent), left, right, top, bottom)
        slot = (right - left) / n
        inner = slot * 0.7
        width = inner if stacked else inner / len(datasets)
        for i in range(n):
            x0 = left + slot * i + (slot - inner) / 2
            up = down = 0.0
            for j, (_, values) in enumerate(datasets):
                value = values[i] if i < len(values) else None
                if value is None or value == 0:
                    continue
                colour = PALETTE[j % len(PALETTE)]
                if stacked:
                    base = up if value > 0 else down
                    end = base + value
                    if value > 0:
                        up = end
                    else:
                        down = end
                    self._bar(x0, x0 + width, y(base), y(end), colour)
                else:
                    self._bar(x0 + width * j, x0 + width * (j + 1) - SCALE, y(0.0), y(value), colour)
        self.draw.line((left, y(0.0), right, y(0.0)), fill=MUTED, width=SCALE)
        self.category_labels(labels, left, slot, bottom)

    def _bar(self, x0: float, x1: float, y0: float, y1: float, colour: str) -> None:
        self.draw.rectangle((round(x0), round(min(y0, y1)), round(max(x0, x1 - 1)), round(max(y0, y1))), fill=colour)

    def lines(self, labels: list[str], datasets: list[tuple[str, list[float | None]]], *, filled: bool) -> None:
        extent = [v for _, values in datasets for v in values if v is not None]
        left, right, top, bottom = self.plot_box(labels, [d[0] for d in datasets], extent + [0.0])
        y = self.value_axis(min(extent), max(extent), left, right, top, bottom)
        slot = (right - left) / len(labels)
        for j, (_, values) in enumerate(datasets):
            colour = PALETTE[j % len(PALETTE)]
            points = [(left + slot * (i + 0.5), y(v)) for i, v in enumerate(values) if v is not None]
            if filled and len(points) > 1:
                shade = Image.new("RGBA", self.image.size, (0, 0, 0, 0))
                area = [*points, (points[-1][0], y(0.0)), (points[0][0], y(0.0))]
                ImageDraw.Draw(shade).polygon(area, fill=_rgba(colour, 70))
                self.image.paste(shade, (0, 0), shade)
                self.draw = ImageDraw.Draw(self.image)
            if len(points) > 1:
                self.draw.line(points, fill=colour, width=2 * SCALE, joint="curve")
            for px, py in points:
                r = 3 * SCALE
                self.draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)
        self.category_labels(labels, left, slot, bottom)

    def pie(self, labels: list[str], values: list[float | None]) -> None:
        parts = [(label, v) for label, v in zip(labels, values, strict=False) if v is not None and v > 0]
        total = sum(v for _, v in parts)
        if not total:
            self.text((WIDTH * SCALE / 2, HEIGHT * SCALE / 2), "Nothing to show", anchor="mm", font=self.font)
            return
        size = (HEIGHT - 24) * SCALE
        box = (12 * SCALE, 12 * SCALE, 12 * SCALE + size, 12 * SCALE + size)
        start = -90.0
        for i, (_, value) in enumerate(parts):
            end = start + 360.0 * value / total
            self.draw.pieslice(box, start, end, fill=PALETTE[i % len(PALETTE)], outline=BACKGROUND, width=SCALE)
            start = end
        x, row = box[2] + 20 * SCALE, 20 * SCALE
        for i, (label, value) in enumerate(parts[: (HEIGHT - 20) // 20]):
            top = 14 * SCALE + i * row
            self.draw.rectangle((x, top, x + 10 * SCALE, top + 10 * SCALE), fill=PALETTE[i % len(PALETTE)])
            share = formatting.percent(round(value * 100 / total, 1))
            room = WIDTH * SCALE - x - 20 * SCALE
            self.text((x + 16 * SCALE, top + 5 * SCALE), self.fit(f"{label} · {share}", room), fill=INK, anchor="lm")

    def funnel(self, labels: list[str], datasets: list[tuple[str, list[float | None]]]) -> None:
        """Horizontal bars, one row per stage, each dataset a bar of its own colour in the row."""
        top = 8 * SCALE + self.legend([d[0] for d in datasets], 6 * SCALE)
        bottom = (HEIGHT - 6) * SCALE
        widest = max(self.draw.textlength(label, font=self.small) for label in labels)
        left = min(widest + 12 * SCALE, 160 * SCALE)
        right = (WIDTH - 60) * SCALE
        high = max((v for _, values in datasets for v in values if v is not None), default=0.0)
        row = (bottom - top) / len(labels)
        inner = min(row * 0.75, 40 * SCALE)
        height = inner / len(datasets)
        for i, label in enumerate(labels):
            y0 = top + row * i + (row - inner) / 2
            self.text((left - 6 * SCALE, y0 + inner / 2), self.fit(label, left - 12 * SCALE), fill=INK, anchor="rm")
            for j, (_, values) in enumerate(datasets):
                value = values[i] if i < len(values) else None
                if value is None:
                    continue
                x1 = left + (right - left) * max(0.0, value) / high if high > 0 else left
                self._bar(left, max(x1, left + SCALE), y0 + height * j, y0 + height * (j + 1) - SCALE,
                          PALETTE[j % len(PALETTE)])  # fmt: skip
                figure = tick_text(value, self.kind, self.currency)
                self.text((x1 + 4 * SCALE, y0 + height * (j + 0.5)), figure, anchor="lm")


def _rgba(colour: str, alpha: int) -> tuple[int, int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), alpha
