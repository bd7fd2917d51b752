"""A quote as an A4 PDF (reportlab): seller and customer blocks, the lines in a table with
right-aligned amounts, totals, terms and "Page n of m" on every page."""

from __future__ import annotations

import io
import os
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .models import Quote

MARGIN = 18 * mm


def seller() -> tuple[str, list[str]]:
    """The organisation issuing quotes, from RAPPORT_COMPANY_NAME and RAPPORT_COMPANY_ADDRESS
    (address lines separated by newlines or semicolons)."""
    name = os.environ.get("RAPPORT_COMPANY_NAME", "").strip() or "Rapport"
    raw = os.environ.get("RAPPORT_COMPANY_ADDRESS", "")
    lines = [x.strip() for x in raw.replace(";", "\n").splitlines() if x.strip()]
    return name, lines


def format_money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def format_number(value: Decimal) -> str:
    """Quantities and percents without trailing zeros: 10, 2.5, 7.25."""
    text = f"{value.normalize():f}"
    return text


def _footer(total_pages: int, number: str) -> Any:
    class NumberedCanvas(pdfcanvas.Canvas):
        """Draws "Page n of m" once the page count is known (pages are buffered until save)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 — reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            count = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("Helvetica", 8)
                self.setFillColor(colors.HexColor("#667085"))
                self.drawString(MARGIN, 10 * mm, number)
                self.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {self._pageNumber} of {count}")
                super().showPage()
            super().save()

    return NumberedCanvas


def build_pdf(quote: Quote, *, compress: bool = True) -> bytes:
    """The quote as PDF bytes. ``compress=False`` writes an invariant, uncompressed file (tests
    read the text straight from the content streams)."""
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
    body = ParagraphStyle("body", parent=styles["Normal"], fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#667085"))
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    heading = ParagraphStyle("heading", parent=styles["Title"], fontSize=20, leading=24, alignment=0, spaceAfter=0)
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=11.5)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

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
                        ParagraphStyle("seller", parent=body, fontName="Helvetica-Bold", fontSize=12, leading=15),
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
    top.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [top, Spacer(1, 10 * mm)]

    customer = [para("Prepared for", small), para(quote.customer_name or "—")]
    customer += [para(x) for x in quote.customer_address.splitlines() if x.strip()]
    meta_rows = [
        ("Quote number", quote.number),
        ("Date", issued.isoformat()),
        ("Valid until", quote.valid_until.isoformat() if quote.valid_until else "—"),
        ("Currency", quote.currency),
    ]
    meta = Table(
        [[para(k, small), para(v, right)] for k, v in meta_rows],
        colWidths=[doc.width * 0.18, doc.width * 0.22],
    )
    meta.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    blocks = Table([[customer, meta]], colWidths=[doc.width * 0.6, doc.width * 0.4])
    blocks.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [blocks, Spacer(1, 8 * mm)]

    # Lines: the header row repeats on every page.
    header = ["Description", "Qty", "Unit price", "Disc. %", "Net", "Tax %"]
    rows: list[list[Any]] = [header]
    for ln in lines:
        rows.append(
            [
                para(ln.name, cell),
                format_number(ln.quantity),
                f"{ln.unit_price:,.2f}",
                format_number(ln.discount_percent) if ln.discount_percent else "",
                f"{ln.net:,.2f}",
                format_number(ln.tax_percent),
            ]
        )
    widths = [0.40, 0.09, 0.15, 0.09, 0.17, 0.10]
    table = Table(rows, colWidths=[doc.width * w for w in widths], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
                ("FONT", (0, 1), (-1, -1), "Helvetica", 9),
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
                ("FONT", (0, 0), (-1, -1), "Helvetica", 9.5),
                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 11),
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.HexColor("#1d2330")),
                ("TOPPADDING", (0, -1), (-1, -1), 6),
            ]
        )
    )
    story += [totals, Spacer(1, 10 * mm)]
    if quote.terms.strip():
        story += [para("Terms", ParagraphStyle("th", parent=body, fontName="Helvetica-Bold")), para(quote.terms, small)]

    doc.build(story, canvasmaker=_footer(0, quote.number))
    return buffer.getvalue()


def filename(quote: Quote) -> str:
    return f"{quote.number}.pdf"
