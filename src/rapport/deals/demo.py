"""Sales demo data for ``rapport demo --if-empty``: two pipelines, products, a few hundred deals over
the past year and the next six months, exchange rates, quotas and a few quotes. Everything goes
through the real write paths (serializers and services); deterministic with ``random.Random(42)``."""

from __future__ import annotations

import datetime as dt
import importlib
import random
from decimal import Decimal
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from rapport.core.demo import DemoContext, write
from rapport.core.visibility import SYSTEM
from rapport.forecasting import services as forecasting
from rapport.forecasting.forecast import make_period
from rapport.forecasting.money import base_currency
from rapport.forecasting.serializers import ExchangeRateSerializer, QuotaSerializer
from rapport.quotes.models import Product

from . import pipelines
from .models import Deal, LostReason, Pipeline

SEED = 42
# Rough value of one unit in USD; rates to the base currency are derived from it, so any base works.
USD_VALUE = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
CURRENCY_WEIGHTS = (("USD", 60), ("EUR", 25), ("GBP", 15))
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
DEAL_KINDS = ("seats", "expansion", "platform", "pilot", "migration", "support plan", "analytics rollout")
SOURCES = ("website", "referral", "event", "webinar", "cold outreach", "partner", "linkedin")
RENEWAL_STAGES = (
    # name, probability, rotting days
    ("Due for renewal", 60, 30),
    ("Renewal review", 70, 21),
    ("Terms agreed", 90, 14),
)
CONTACT_ROLES = ("decision_maker", "champion", "influencer", "user", "other")


def _validated(serializer_class: Any, data: dict[str, Any]) -> dict[str, Any]:
    serializer = serializer_class(data=data, context={"actor": SYSTEM})
    if not serializer.is_valid():
        raise CommandError(f"demo data is invalid: {serializer.errors}")
    return dict(serializer.validated_data)


def _rate(currency: str, base: str, wobble: float) -> Decimal:
    value = USD_VALUE[currency] / USD_VALUE[base] * Decimal(str(1 + wobble))
    return value.quantize(Decimal("0.0001"))


class SalesDemo:
    def __init__(self, *, sellers: list[Any], companies: list[Any], people: list[Any], admin: Any):
        self.rng = random.Random(SEED)
        self.sellers = sellers
        self.companies = companies
        self.people_by_company: dict[int, list[Any]] = {}
        for p in people:
            if p.company_id and p.deleted_at is None:
                self.people_by_company.setdefault(p.company_id, []).append(p)
        self.admin = admin
        self.today = timezone.localdate()
        self.base = base_currency()

    def run(self) -> None:
        new_business, renewals = self._pipelines()
        self._rates()
        products = self._products()
        self._quotas()
        deals = self._deals(new_business, renewals, products)
        self._quotes(deals)

    # --- set-up -------------------------------------------------------------------------------
    def _pipelines(self) -> tuple[Pipeline, Pipeline]:
        default = (
            Pipeline.objects.filter(name="Sales pipeline").first() or Pipeline.objects.order_by("position").first()
        )
        if default is None:
            default = pipelines.create_pipeline("New business", actor=self.admin)
        elif default.name != "New business":
            default = pipelines.rename_pipeline(default, "New business", actor=self.admin)
        renewals = Pipeline.objects.filter(name="Renewals").first()
        if renewals is None:
            renewals = pipelines.create_pipeline("Renewals", actor=self.admin)
            first = renewals.stages.get(kind="open")
            name, probability, rotting = RENEWAL_STAGES[0]
            pipelines.update_stage(first, name=name, probability=probability, rotting_days=rotting, actor=self.admin)
            added = [
                pipelines.add_stage(renewals, name=n, probability=p, rotting_days=r, actor=self.admin).pk
                for n, p, r in RENEWAL_STAGES[1:]
            ]
            won, lost = renewals.stages.get(kind="won").pk, renewals.stages.get(kind="lost").pk
            pipelines.set_stage_order(renewals, [first.pk, *added, won, lost], actor=self.admin)
        return default, renewals

    def _rates(self) -> None:
        """A rate on the first of each month for the past year, so every close date has one."""
        start = self.today.replace(day=1)
        for currency in sorted(USD_VALUE):
            if currency == self.base:
                continue
            for back in range(13, -1, -1):
                index = start.year * 12 + start.month - 1 - back
                day = dt.date(index // 12, index % 12 + 1, 1)
                data = {
                    "currency": currency,
                    "rate": str(_rate(currency, self.base, self.rng.uniform(-0.04, 0.04))),
                    "valid_from": day.isoformat(),
                }
                forecasting.add_exchange_rate(_validated(ExchangeRateSerializer, data), actor=self.admin)

    def _products(self) -> list[Product]:
        out = []
        for name, sku, tax, usd in PRODUCTS:
            prices = [
                {"currency": c, "unit_price": str((Decimal(usd) / USD_VALUE[c]).quantize(Decimal("1")))}
                for c in ("USD", "EUR", "GBP")
            ]
            out.append(
                write(
                    "products",
                    {"name": name, "sku": sku, "tax_rate": tax, "prices": prices, "owner": self.admin.pk},
                    actor=self.admin,
                )
            )
        return out

    def _quotas(self) -> None:
        quarter = make_period("quarter", self.today)
        for user in self.sellers:
            if user.is_superuser:
                continue
            yearly = self.rng.choice((800_000, 1_000_000, 1_200_000, 1_400_000))
            quota = {"user": user.pk, "period": "quarter", "period_start": quarter.start.isoformat()}
            forecasting.set_quota(
                _validated(QuotaSerializer, {**quota, "amount": str(yearly // 4)}), actor=self.admin
            )
            for month in quarter.months():
                data = {
                    "user": user.pk,
                    "period": "month",
                    "period_start": month.isoformat(),
                    "amount": str(yearly // 12),
                }
                forecasting.set_quota(_validated(QuotaSerializer, data), actor=self.admin)

    # --- deals ----------------------------------------------------------------------------------
    def _deals(self, new_business: Pipeline, renewals: Pipeline, products: list[Product]) -> list[Deal]:
        rng = self.rng
        reasons = list(LostReason.objects.filter(active=True))
        stages = {
            p.pk: [s for s in p.stages.filter(kind="open", archived=False).order_by("position")]
            for p in (new_business, renewals)
        }
        currencies = [c for c, _ in CURRENCY_WEIGHTS]
        weights = [w for _, w in CURRENCY_WEIGHTS]
        sellers = [u for u in self.sellers if not u.is_superuser] or self.sellers
        made: list[Deal] = []
        backdate: dict[int, dt.datetime] = {}
        for n in range(300):
            pipeline = renewals if n % 4 == 3 else new_business
            company = rng.choice(self.companies)
            seller_ids = {u.pk for u in sellers}
            owner = company.owner if company.owner_id in seller_ids and rng.random() < 0.6 else None
            owner = owner or rng.choice(sellers)
            currency = rng.choices(currencies, weights)[0]
            kind = "renewal" if pipeline == renewals else rng.choice(DEAL_KINDS)
            data: dict[str, Any] = {
                "title": f"{company.name} — {kind}",
                "pipeline": pipeline.pk,
                "company": company.pk,
                "currency": currency,
                "owner": owner.pk,
                "source": "renewal" if pipeline == renewals else rng.choice(SOURCES),
            }
            if rng.random() < 0.3:
                lines = rng.sample(products, rng.randint(1, 3))
                data["line_items"] = [
                    {
                        "product": p.pk,
                        "quantity": str(rng.choice((1, 2, 5, 10, 25, 50)) if "seat" in p.name else 1),
                        "discount_percent": str(rng.choice((0, 0, 5, 10, 15))),
                    }
                    for p in lines
                ]
            else:
                data["amount"] = str(rng.choice((5, 8, 12, 15, 20, 30, 45, 60, 90, 120)) * 1000)
            contacts = self.people_by_company.get(company.pk, [])
            if contacts and rng.random() < 0.7:
                picked = rng.sample(contacts, min(len(contacts), rng.randint(1, 2)))
                data["contacts"] = [{"person": p.pk, "role": rng.choice(CONTACT_ROLES)} for p in picked]
            roll = rng.random()
            if roll < 0.22:  # won over the past year, a few more in the current quarter
                closed = self.today - dt.timedelta(days=rng.choice((rng.randint(0, 60), rng.randint(0, 360))))
                data.update(status="won", closed_on=closed.isoformat())
                created = closed - dt.timedelta(days=rng.randint(20, 120))
            elif roll < 0.38:  # lost, with a reason
                closed = self.today - dt.timedelta(days=rng.randint(0, 360))
                data.update(status="lost", closed_on=closed.isoformat(), lost_reason=rng.choice(reasons).pk)
                created = closed - dt.timedelta(days=rng.randint(15, 100))
            else:  # open, closing within six months
                stage = rng.choice(stages[pipeline.pk])
                data["stage"] = stage.pk
                data["expected_close_date"] = (self.today + dt.timedelta(days=rng.randint(-10, 182))).isoformat()
                data["forecast_category"] = rng.choices(
                    ("pipeline", "best_case", "commit", "omitted"), (50, 25, 20, 5)
                )[0]
                if rng.random() < 0.1:
                    data["probability"] = rng.choice((20, 40, 65, 85))
                created = timezone.localtime().date() - dt.timedelta(days=rng.randint(1, 90))
            deal = write("deals", data, actor=owner)
            made.append(deal)
            backdate[deal.pk] = timezone.make_aware(
                dt.datetime.combine(created, dt.time(9, 0)) + dt.timedelta(minutes=rng.randint(0, 480))
            )
        # Realism: the write path stamps "now" on created_at and on the time a deal entered its stage;
        # demo deals must look like they were opened weeks or months ago. These timestamps are not
        # writable through the serializer, so they are set afterwards with a plain update, and only them.
        with transaction.atomic():
            for pk, when in backdate.items():
                Deal.objects.filter(pk=pk).update(created_at=when, stage_entered_at=when)
        return made

    def _quotes(self, deals: list[Deal]) -> None:
        try:
            quotes = importlib.import_module("rapport.quotes.services")
        except ImportError:
            return
        create = getattr(quotes, "create_quote_from_deal", None)
        if create is None:
            return
        with_lines = [d for d in deals if d.status == "open" and d.line_items.exists()]
        for deal in with_lines[:8]:
            create(deal, actor=deal.owner, source="system")


def load_sales_demo(*, sellers: list[Any], companies: list[Any], people: list[Any], admin: Any) -> None:
    """Called at the end of the small demo with its users and contacts (the ones still live)."""
    from rapport.contacts.models import Company, Person

    live_companies = list(
        Company.objects.live().filter(pk__in=[c.pk for c in companies]).select_related("owner").order_by("pk")
    )
    live_people = list(Person.objects.live().filter(pk__in=[p.pk for p in people]).order_by("pk"))
    SalesDemo(sellers=sellers, companies=live_companies, people=live_people, admin=admin).run()


def load_demo(ctx: DemoContext) -> None:
    load_sales_demo(sellers=ctx.sellers, companies=ctx.companies, people=ctx.people, admin=ctx.admin)
