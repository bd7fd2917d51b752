"""A quote as an A4 PDF (reportlab): seller and customer blocks, the lines in a table with
right-aligned amounts, totals, terms and "Page n of m" on every page.

Text is set in embedded DejaVu Sans (Latin, Greek, Cyrillic, many symbols and emoticons; shipped in
``fonts/``); runs of Chinese, Japanese and Korean switch to reportlab's CJK fonts (Adobe's standard CID
fonts, which PDF readers provide). Amounts have their currency's ISO 4217 decimals (none for JPY).
"""

from __future__ import annotations

import functools
import io
import os
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from rapport.core import formatting
from rapport.core import money as money_

from .models import Quote

MARGIN = 18 * mm
FONT_DIR = Path(__file__).resolve().parent / "fonts"
SANS, SANS_BOLD = "RapportSans", "RapportSans-Bold"
JAPANESE, CHINESE, KOREAN = "HeiseiKakuGo-W5", "STSong-Light", "HYGothic-Medium"


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode map with code points past U+FFFF written as UTF-16 (its own writes them as
    five hex digits, which readers reject: an emoji would be lost to copy, search and text extraction)."""

    def utf16(code: int) -> str:
        return chr(code).encode("utf-16-be", "surrogatepass").hex().upper()

    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *[f"<{i:02X}> <{utf16(v)}>" for i, v in enumerate(subset)],
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


ttfonts.makeToUnicodeCMap = _to_unicode_cmap


@functools.cache
def register_fonts() -> None:
    pdfmetrics.registerFont(ttfonts.TTFont(SANS, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(ttfonts.TTFont(SANS_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(SANS, normal=SANS, bold=SANS_BOLD, italic=SANS, boldItalic=SANS_BOLD)
    for name in (JAPANESE, CHINESE, KOREAN):
        pdfmetrics.registerFont(UnicodeCIDFont(name))


@functools.cache
def _glyphs(font: str) -> frozenset[int]:
    register_fonts()
    return frozenset(pdfmetrics.getFont(font).face.charToGlyph)


def _is_kana(code: int) -> bool:
    return 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF65 <= code <= 0xFF9F


def _is_hangul(code: int) -> bool:
    return 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F


def _is_cjk(code: int) -> bool:
    return (
        0x2E80 <= code <= 0x2FDF  # radicals
        or 0x3000 <= code <= 0x303F  # CJK punctuation
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
    )


def font_for(char: str, base: str = SANS, *, japanese: bool = False) -> str:
    """The font that has a glyph for ``char``: the base font, the regular face for a glyph its bold face
    lacks, or a CJK font (Han characters read as Japanese in text that has kana, else as Chinese)."""
    code = ord(char)
    if code in _glyphs(base) or char in "\n\t":
        return base
    if _is_hangul(code):
        return KOREAN
    if _is_kana(code):
        return JAPANESE
    if _is_cjk(code):
        return JAPANESE if japanese else CHINESE
    if code in _glyphs(SANS):
        return SANS
    return base  # no font has it: the base font's empty box


def font_runs(text: str, base: str = SANS) -> list[tuple[str, str]]:
    """``text`` cut into runs of one font each."""
    japanese = any(_is_kana(ord(c)) for c in text)
    runs: list[tuple[str, str]] = []
    for char in text:
        font = font_for(char, base, japanese=japanese)
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def markup(text: str, base: str = SANS) -> str:
    """Paragraph markup for plain ``text``: escaped, line breaks kept, each run in a font with its glyphs."""
    out = []
    for font, run in font_runs(text, base):
        chunk = escape(run).replace("\n", "<br/>")
        out.append(chunk if font == base else f'<font name="{font}">{chunk}</font>')
    return "".join(out)


def seller() -> tuple[str, list[str]]:
    """The organisation issuing quotes, from RAPPORT_COMPANY_NAME and RAPPORT_COMPANY_ADDRESS
    (address lines separated by newlines or semicolons)."""
    name = os.environ.get("RAPPORT_COMPANY_NAME", "").strip() or "Rapport"
    raw = os.environ.get("RAPPORT_COMPANY_ADDRESS", "")
    lines = [x.strip() for x in raw.replace(";", "\n").splitlines() if x.strip()]
    return name, lines


def format_money(value: Decimal, currency: str) -> str:
    """``€1,187.49`` in en-US, ``1.187,49 €`` in de-DE: the locale of whoever asked for the PDF."""
    return formatting.money(value, currency)


def format_amount(value: Decimal, currency: str) -> str:
    """A line's amount with the currency's own decimals, grouped in that locale, without the symbol."""
    return formatting.number(money_.round_amount(Decimal(str(value)), currency), places=money_.minor_units(currency))


def format_number(value: Decimal) -> str:
    """Quantities and percents without trailing zeros, in that locale: 10, 2.5 (2,5 in de-DE)."""
    return formatting.number(value)


def _footer(total_pages: int, number: str) -> Any:
    class NumberedCanvas(pdfcanvas.Canvas):
        """Draws "Page n of m" once the page count is known (pages are buffered until save)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["initialFontName"] = kwargs.get("initialFontName") or SANS  # not Helvetica: Latin-1 only
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 — reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            count = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont(SANS, 8)
                self.setFillColor(colors.HexColor("#667085"))
                self.drawString(MARGIN, 10 * mm, number)
                self.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {self._pageNumber} of {count}")
                super().showPage()
            super().save()

    return NumberedCanvas


def build_pdf(quote: Quote, *, compress: bool = True) -> bytes:
    """The quote as PDF bytes. ``compress=False`` writes an invariant, uncompressed file (tests
    read the text straight from the content streams)."""
    register_fonts()
    lines = list(quote.lines.all())
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=20 * mm,
        title=f"Quote {quote.number}",
        author=seller()[0],
        invariant=0 if compress else 1,
        pageCompression=1 if compress else 0,
    )
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["Normal"], fontName=SANS, fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#667085"))
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    heading = ParagraphStyle(
        "heading", parent=styles["Title"], fontName=SANS_BOLD, fontSize=20, leading=24, alignment=0, spaceAfter=0
    )
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=11.5)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(markup(text, style.fontName), style)

    cell_font = [("FONT", (0, 0), (-1, -1), SANS, 9.5)]  # a table's default is Helvetica, Latin-1 only
    seller_name, seller_lines = seller()
    issued = timezone.localtime(quote.created_at).date()
    story: list[Any] = []

    # Heading: seller on the left, "Quote" and its number on the right.
    top = Table(
        [
            [
                [
                    para(
                        seller_name,
                        ParagraphStyle("seller", parent=body, fontName=SANS_BOLD, fontSize=12, leading=15),
                    ),
                    *[para(x, small) for x in seller_lines],
                ],
                [
                    Paragraph("QUOTE", ParagraphStyle("q", parent=heading, alignment=TA_RIGHT)),
                    para(quote.number, right),
                ],
            ]
        ],
        colWidths=[doc.width * 0.6, doc.width * 0.4],
    )
    top.setStyle(TableStyle([*cell_font, ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [top, Spacer(1, 10 * mm)]

    customer = [para("Prepared for", small), para(quote.customer_name or "—")]
    customer += [para(x) for x in quote.customer_address.splitlines() if x.strip()]
    meta_rows = [
        ("Quote number", quote.number),
        ("Date", formatting.date(issued)),
        ("Valid until", formatting.date(quote.valid_until) if quote.valid_until else "—"),
        ("Currency", quote.currency),
    ]
    meta = Table(
        [[para(k, small), para(v, right)] for k, v in meta_rows],
        colWidths=[doc.width * 0.18, doc.width * 0.22],
    )
    meta.setStyle(TableStyle([*cell_font, ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    blocks = Table([[customer, meta]], colWidths=[doc.width * 0.6, doc.width * 0.4])
    blocks.setStyle(TableStyle([*cell_font, ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [blocks, Spacer(1, 8 * mm)]

    # Lines: the header row repeats on every page.
    header = ["Description", "Qty", "Unit price", "Disc. %", "Net", "Tax %"]
    rows: list[list[Any]] = [header]
    for ln in lines:
        rows.append(
            [
                para(ln.name, cell),
                format_number(ln.quantity),
                format_amount(ln.unit_price, quote.currency),
                format_number(ln.discount_percent) if ln.discount_percent else "",
                format_amount(ln.net, quote.currency),
                format_number(ln.tax_percent),
            ]
        )
    widths = [0.40, 0.09, 0.15, 0.09, 0.17, 0.10]
    table = Table(rows, colWidths=[doc.width * w for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), SANS_BOLD, 8.5),
                ("FONT", (0, 1), (-1, -1), SANS, 9),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.HexColor("#444c5c")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f2f5")),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#dde1e7")),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story += [table, Spacer(1, 5 * mm)]

    totals = Table(
        [
            ["Subtotal", format_money(quote.subtotal, quote.currency)],
            ["Tax", format_money(quote.tax_total, quote.currency)],
            ["Total", format_money(quote.total, quote.currency)],
        ],
        colWidths=[doc.width * 0.2, doc.width * 0.25],
        hAlign="RIGHT",
    )
    totals.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), SANS, 9.5),
                ("FONT", (0, -1), (-1, -1), SANS_BOLD, 11),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.HexColor("#1d2330")),
                ("TOPPADDING", (0, -1), (-1, -1), 6),
            ]
        )
    )
    story += [totals, Spacer(1, 10 * mm)]
    if quote.terms.strip():
        story += [para("Terms", ParagraphStyle("th", parent=body, fontName=SANS_BOLD)), para(quote.terms, small)]

    doc.build(story, canvasmaker=_footer(0, quote.number))
    return buffer.getvalue()


def filename(quote: Quote) -> str:
    return f"{quote.number}.pdf"
