"""Quotes demo data for ``rapport demo --if-empty``: the product catalogue priced in USD, EUR and GBP,
line items on about a third of the demo deals (their amount becomes the lines' sum), and quotes for a
few open deals. Runs after deals/demo.py (``ctx.deals``); everything through the write path;
deterministic with ``random.Random(42)``."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from rapport.core.demo import DemoContext, clock, write
from rapport.forecasting.demo import USD_VALUE

from . import services
from .models import Product

SEED = 42
PRODUCTS = (
    # name, sku, tax %, USD price
    ("Rapport Cloud seat (annual)", "RC-SEAT", "20", 240),
    ("Rapport Cloud Enterprise seat (annual)", "RC-ENT", "20", 480),
    ("Onboarding package", "SVC-ONB", "20", 3500),
    ("Data migration", "SVC-MIG", "20", 6000),
    ("Premium support (annual)", "SUP-PREM", "20", 9000),
    ("Training day", "SVC-TRN", "20", 1800),
    ("API add-on (annual)", "ADD-API", "20", 2400),
    ("Analytics add-on (annual)", "ADD-ANL", "20", 4200),
)
QUOTED_DEALS = 8


def _products(admin: Any) -> list[Product]:
    out = []
    for name, sku, tax, usd in PRODUCTS:
        prices = [
            {"currency": c, "unit_price": str((Decimal(usd) / USD_VALUE[c]).quantize(Decimal("1")))}
            for c in ("USD", "EUR", "GBP")
        ]
        data = {"name": name, "sku": sku, "tax_rate": tax, "prices": prices, "owner": admin.pk}
        out.append(write("products", data, actor=admin))
    return out


def load_demo(ctx: DemoContext) -> None:
    rng = random.Random(SEED)
    products = _products(ctx.admin)
    with_lines = []
    for deal in ctx.deals:
        if rng.random() >= 0.3:
            continue
        lines = [
            {
                "product": p.pk,
                "quantity": str(rng.choice((1, 2, 5, 10, 25, 50)) if "seat" in p.name else 1),
                "discount_percent": str(rng.choice((0, 0, 5, 10, 15))),
            }
            for p in rng.sample(products, rng.randint(1, 3))
        ]
        # Priced a day after the deal was opened (for closed deals, the timeline shows it before the close).
        with clock(min(deal.created_at + dt.timedelta(days=1), ctx.now)):
            with_lines.append(write("deals", {"line_items": lines}, actor=deal.owner, instance=deal))
    for deal in [d for d in with_lines if d.status == "open"][:QUOTED_DEALS]:
        with clock(min(deal.created_at + dt.timedelta(days=3), ctx.now)):
            services.create_quote_from_deal(deal, actor=deal.owner, source="system")
