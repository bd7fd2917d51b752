"""Deals demo data for ``rapport demo --if-empty``: two pipelines and a few hundred deals over the past
year and the next six months (their line items and quotes come from quotes/demo.py, exchange rates
and quotas from forecasting/demo.py). Everything goes through the real write paths (serializers and
services); deterministic with ``random.Random(42)``."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.db import transaction
from django.utils import timezone

from rapport.core.demo import DemoContext, write

from . import pipelines
from .models import Deal, LostReason, Pipeline

SEED = 42
CURRENCY_WEIGHTS = (("USD", 60), ("EUR", 25), ("GBP", 15))
DEAL_KINDS = ("seats", "expansion", "platform", "pilot", "migration", "support plan", "analytics rollout")
SOURCES = ("website", "referral", "event", "webinar", "cold outreach", "partner", "linkedin")
RENEWAL_STAGES = (
    # name, probability, rotting days
    ("Due for renewal", 60, 30),
    ("Renewal review", 70, 21),
    ("Terms agreed", 90, 14),
)
CONTACT_ROLES = ("decision_maker", "champion", "influencer", "user", "other")


class DealsDemo:
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

    def run(self) -> list[Deal]:
        new_business, renewals = self._pipelines()
        return self._deals(new_business, renewals)

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

    # --- deals ----------------------------------------------------------------------------------
    def _deals(self, new_business: Pipeline, renewals: Pipeline) -> list[Deal]:
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


def load_deals_demo(*, sellers: list[Any], companies: list[Any], people: list[Any], admin: Any) -> list[Deal]:
    """Called at the end of the small demo with its users and contacts (the ones still live)."""
    from rapport.contacts.models import Company, Person

    live_companies = list(
        Company.objects.live().filter(pk__in=[c.pk for c in companies]).select_related("owner").order_by("pk")
    )
    live_people = list(Person.objects.live().filter(pk__in=[p.pk for p in people]).order_by("pk"))
    return DealsDemo(sellers=sellers, companies=live_companies, people=live_people, admin=admin).run()


def load_demo(ctx: DemoContext) -> None:
    ctx.deals = load_deals_demo(sellers=ctx.sellers, companies=ctx.companies, people=ctx.people, admin=ctx.admin)
