"""Invoices for the demo data: the won deals with a company are invoiced when they closed, due 30 days later;
most are paid (in full or in part), one or two are overdue."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rapport.core.demo import DemoContext, clock, write

from . import services

INVOICED = 12


def load_demo(ctx: DemoContext) -> None:
    won = [d for d in ctx.deals if d.status == "won" and d.company_id and d.amount and d.closed_on][:INVOICED]
    for n, deal in enumerate(won, start=1):
        issued = deal.closed_on
        at = dt.datetime.combine(issued, dt.time(10), tzinfo=dt.UTC)
        with clock(min(at, ctx.now)):
            invoice = write(
                "invoices",
                {
                    "number": f"INV-{issued:%Y}-{n:04d}",
                    "company": deal.company_id,
                    "deal": deal.pk,
                    "issue_date": issued.isoformat(),
                    "due_date": (issued + dt.timedelta(days=30)).isoformat(),
                    "currency": deal.currency,
                    "amount": str(deal.amount),
                    "status": "sent",
                    "owner": deal.company.owner_id,
                },
                actor=None,
            )
        share = (Decimal("1"), Decimal("1"), Decimal("0.5"), Decimal("0"))[n % 4]
        if share:
            paid_at = min(at + dt.timedelta(days=20), ctx.now)
            with clock(paid_at):
                _pay(invoice, (invoice.amount * share).quantize(Decimal("0.01")), paid_at.date(), None, n)
    with clock(ctx.now):
        services.mark_overdue(on=ctx.now.date())


def _pay(invoice: Any, amount: Decimal, day: dt.date, actor: Any, n: int) -> None:
    write(
        "payments",
        {
            "owner": invoice.owner_id,
            "invoice": invoice.pk,
            "amount": str(amount),
            "paid_on": day.isoformat(),
            "method": "bank_transfer",
            "reference": f"TR-{1000 + n}",
        },
        actor=actor,
    )
