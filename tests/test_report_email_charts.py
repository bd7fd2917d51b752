"""The scheduled dashboard email's charts: drawn on the server (mail clients run no script) with bars, slices
and lines in proportion to the figures, and sent inline in the HTML version of the email (multipart/related,
each picture named by the Content-ID its ``cid:`` address gives)."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core import mail
from PIL import Image

from rapport.reports import chartimage, services

from .test_report_dashboards import quotas  # noqa: F401  (the hand-built book of deals with quotas)
from .test_report_engine import book  # noqa: F401

BLUE, GREEN = (0x2F, 0x5F, 0xD0), (0x1F, 0x8A, 0x4C)  # the palette's first two colours


def picture(data: bytes | None) -> Image.Image:
    assert data is not None and data.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(data)).convert("RGB")


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    return list(image.get_flattened_data())  # type: ignore[attr-defined]


def column_height(image: Image.Image, x: int, colour: tuple[int, int, int]) -> int:
    return sum(1 for y in range(image.height) if image.getpixel((x, y)) == colour)


def columns_of(image: Image.Image, colour: tuple[int, int, int]) -> list[int]:
    """The x of the middle of each run of columns holding the colour, left to right."""
    xs = [x for x in range(image.width) if any(image.getpixel((x, y)) == colour for y in range(0, image.height, 2))]
    runs: list[list[int]] = []
    for x in xs:
        if runs and x == runs[-1][-1] + 1:
            runs[-1].append(x)
        else:
            runs.append([x])
    return [run[len(run) // 2] for run in runs]


def test_bars_are_as_tall_as_their_figures(db):
    chart = {"chart": "bar", "kind": "money", "currency": "USD", "labels": ["Jan", "Feb", "Mar"],
             "datasets": [{"label": "Won", "data": [4000.0, 1000.0, 2000.0]}]}  # fmt: skip
    image = picture(chartimage.png(chart))
    assert image.size == (chartimage.WIDTH * 2, chartimage.HEIGHT * 2)  # drawn at twice the shown size
    middles = columns_of(image, BLUE)
    assert len(middles) == 3
    heights = [column_height(image, x, BLUE) for x in middles]
    # 4,000 : 1,000 : 2,000 — the first bar four times the second, twice the third (within a pixel of rounding)
    assert abs(heights[0] - 4 * heights[1]) <= 4 and abs(heights[0] - 2 * heights[2]) <= 2
    assert heights[0] > 250  # the axis tops at 4,000: the tallest bar fills most of the plot


def test_stacked_bars_put_each_series_on_the_one_before(db):
    chart = {"chart": "stacked", "kind": "count", "labels": ["Alice", "Bob"],
             "datasets": [{"label": "Won", "data": [3, 1]}, {"label": "Lost", "data": [1, 3]}]}  # fmt: skip
    image = picture(chartimage.png(chart))
    alice, bob = columns_of(image, GREEN)[-2:]  # the legend's key is the first green run
    blue_a, green_a = column_height(image, alice, BLUE), column_height(image, alice, GREEN)
    blue_b, green_b = column_height(image, bob, BLUE), column_height(image, bob, GREEN)
    assert abs(blue_a - 3 * green_a) <= 4 and abs(green_b - 3 * blue_b) <= 4
    assert abs((blue_a + green_a) - (blue_b + green_b)) <= 2  # both total 4


def test_a_pie_shares_its_area_as_its_figures(db):
    chart = {"chart": "pie", "kind": "count", "labels": ["Web", "Referral"], "datasets": [{"data": [3, 1]}]}
    image = picture(chartimage.png(chart))
    counts = Counter(pixels(image))
    # 3 : 1 of the disc (the legend's two keys add the same few pixels to each colour)
    assert counts[BLUE] / counts[GREEN] == pytest.approx(3, rel=0.05)


def test_a_line_rises_with_its_figures(db):
    chart = {"chart": "line", "kind": "count", "labels": ["W1", "W2", "W3"], "datasets": [{"data": [0, 5, 10]}]}
    image = picture(chartimage.png(chart))
    xs = [x for x in range(image.width) if any(image.getpixel((x, y)) == BLUE for y in range(image.height))]
    first, last = min(xs), max(xs)
    tops = []
    for x in (first + 10, (first + last) // 2, last - 10):
        tops.append(min(y for y in range(image.height) if image.getpixel((x, y)) == BLUE))
    assert tops[0] > tops[1] > tops[2]  # higher on the picture = a bigger figure
    assert abs((tops[0] - tops[1]) - (tops[1] - tops[2])) <= 6  # 0, 5, 10: evenly rising


def test_figures_without_a_picture(db):
    assert chartimage.png(None) is None
    assert chartimage.png({"chart": "number", "labels": ["x"], "datasets": [{"data": [1]}]}) is None
    assert chartimage.png({"chart": "table", "labels": ["x"], "datasets": [{"data": [1]}]}) is None
    assert chartimage.png({"chart": "bar", "labels": [], "datasets": []}) is None
    assert chartimage.png({"chart": "bar", "labels": ["a"], "datasets": [{"data": [None]}]}) is None
    # a value that is not a finite number is left out, not drawn as a 500
    odd = {"chart": "bar", "labels": ["a", "b"], "datasets": [{"data": [float("nan"), "x"]}]}
    assert chartimage.png(odd) is None


def test_long_labels_and_many_points_are_cut_and_said_so(db):
    labels = [f"Ünïcödé Καλημέρα stage number {i} with a very long name" for i in range(40)]
    chart = {"chart": "bar", "kind": "count", "labels": labels, "datasets": [{"data": list(range(40))}]}
    image = picture(chartimage.png(chart))
    assert len(columns_of(image, BLUE)) == chartimage.MAX_POINTS - 1  # 24 bars drawn, the first is 0 high


def test_the_scheduled_email_has_an_html_version_with_its_charts_inline(quotas):  # noqa: F811
    from rapport.reports.tasks import send_dashboards_now

    member = quotas["member"]
    member.email = "member@example.com"
    member.save(update_fields=["email"])
    board = services.default_dashboard()
    services.update_dashboard(board, actor=quotas["admin"], name="Sales <b>team</b>", schedule="weekly",
                              recipients=[member])  # fmt: skip
    mail.outbox.clear()
    assert send_dashboards_now(dt.datetime(2026, 2, 16, 8, 0, tzinfo=dt.UTC)) == 1
    [sent] = mail.outbox
    assert sent.to == ["member@example.com"] and sent.subject == "Weekly: Sales <b>team</b>"
    assert "Open deals: 3" in sent.body  # the text version stays
    [(html, mimetype)] = sent.alternatives
    assert mimetype == "text/html"
    assert "Sales &lt;b&gt;team&lt;/b&gt;" in html and "<b>team</b>" not in html  # names are escaped
    # the member's figures: 3 open deals, $3,100.00 of pipeline, $1,670.00 won against a $5,300.00 target
    assert ">3</p>" in html and "$3,100.00" in html and "Target $5,300.00, 31.5% reached" in html
    funnel = board.widgets.get(standard="funnel")
    cid = f"chart-{funnel.pk}@rapport"
    assert f'src="cid:{cid}"' in html
    message = sent.message()
    assert message.get_content_type() == "multipart/related"
    parts = {part.get("Content-ID"): part for part in message.walk() if part.get_content_maintype() == "image"}
    assert list(parts) == [f"<{cid}>"]  # only the funnel has a chart; the four numbers are figures
    image = picture(parts[f"<{cid}>"].get_payload(decode=True))
    assert image.size == (1120, 520) and BLUE in set(pixels(image))
    assert parts[f"<{cid}>"].get("Content-Disposition").startswith("inline")
