"""Deals demo data for ``rapport demo --if-empty``: two pipelines and a few hundred deals over the past
year and the next six months (their line items and quotes come from quotes/demo.py, exchange rates
and quotas from forecasting/demo.py). Everything goes through the real write paths (serializers and
services), each write at the moment of the story it tells (the demo clock); deterministic with
``random.Random(42)``."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.utils import timezone

from rapport.core.demo import DemoContext, clock, local_today, working_moment, write

from . import pipelines
from .models import Deal, LostReason, Pipeline

# What a new installation starts with (sales/0002_default_pipeline).
DEFAULT_LOST_REASONS = ["Price", "Chose a competitor", "No budget", "No decision", "Timing", "Missing feature", "Other"]

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
ROTTING_SHARE = 0.15  # open deals left in their stage past its rotting days


class DealsDemo:
    def __init__(self, *, sellers: list[Any], companies: list[Any], people: list[Any], admin: Any, now: dt.datetime):
        self.rng = random.Random(SEED)
        self.sellers = sellers
        self.companies = companies
        self.people_by_company: dict[int, list[Any]] = {}
        for p in people:
            if p.company_id and p.deleted_at is None:
                self.people_by_company.setdefault(p.company_id, []).append(p)
        self.admin = admin
        self.now = now
        self.today = timezone.localdate(now)
        self.when_rng = random.Random(SEED + 1)  # times only, so the deals themselves stay as they were

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
        """Each deal is opened in its pipeline's first stage on the day it was created and moved on stage by
        stage, under the demo clock, so its history, stage changes and days in stage are a believable past.
        Open deals: ROTTING_SHARE entered their stage longer ago than its rotting days allow."""
        rng, when = self.rng, self.when_rng
        reasons = list(LostReason.objects.filter(active=True))
        if not reasons:  # an installation whose reasons were all removed (or a flushed test database)
            reasons = [pipelines.add_lost_reason(name, actor=self.admin) for name in DEFAULT_LOST_REASONS]
        stages = {
            p.pk: [s for s in p.stages.filter(kind="open", archived=False).order_by("position")]
            for p in (new_business, renewals)
        }
        currencies = [c for c, _ in CURRENCY_WEIGHTS]
        weights = [w for _, w in CURRENCY_WEIGHTS]
        sellers = [u for u in self.sellers if not u.is_superuser] or self.sellers
        made: list[Deal] = []
        for n in range(300):
            pipeline = renewals if n % 4 == 3 else new_business
            company = rng.choice(self.companies)
            seller_ids = {u.pk for u in sellers}
            owner = company.owner if company.owner_id in seller_ids and rng.random() < 0.6 else None
            owner = owner or rng.choice(sellers)
            currency = rng.choices(currencies, weights)[0]
            kind = "renewal" if pipeline == renewals else rng.choice(DEAL_KINDS)
            first = stages[pipeline.pk][0]
            data: dict[str, Any] = {
                "title": f"{company.name} — {kind}",
                "pipeline": pipeline.pk,
                "stage": first.pk,
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
            path: list[tuple[dt.datetime, dict[str, Any]]] = []  # the later writes, each at its time
            if roll < 0.38:  # won over the past year (a few more in the current quarter), or lost with a reason
                won = roll < 0.22
                if won:
                    closed = self.today - dt.timedelta(days=rng.choice((rng.randint(0, 60), rng.randint(0, 360))))
                    created_day = closed - dt.timedelta(days=rng.randint(20, 120))
                    final: dict[str, Any] = {"status": "won", "closed_on": closed.isoformat()}
                else:
                    closed = self.today - dt.timedelta(days=rng.randint(0, 360))
                    created_day = closed - dt.timedelta(days=rng.randint(15, 100))
                    final = {"status": "lost", "closed_on": closed.isoformat(), "lost_reason": rng.choice(reasons).pk}
                created = self._moment(created_day, owner)
                closed_at = min(self._moment(closed, owner), self.now - dt.timedelta(minutes=when.randint(5, 90)))
                reached = stages[pipeline.pk][: when.randint(1, len(stages[pipeline.pk]))]
                path += self._walk(reached[1:], created, closed_at, owner)
                path.append((closed_at, final))
            else:  # open, closing within six months
                stage = rng.choice(stages[pipeline.pk])
                data["expected_close_date"] = (self.today + dt.timedelta(days=rng.randint(-10, 182))).isoformat()
                data["forecast_category"] = rng.choices(
                    ("pipeline", "best_case", "commit", "omitted"), (50, 25, 20, 5)
                )[0]
                if rng.random() < 0.1:
                    data["probability"] = rng.choice((20, 40, 65, 85))
                entered = self._entered(stage, when.random() < ROTTING_SHARE, owner)
                through = stages[pipeline.pk][1 : stages[pipeline.pk].index(stage) + 1]
                created = entered
                if through:
                    opened = local_today(entered, owner.time_zone) - dt.timedelta(
                        days=when.randint(2, 12) * len(through)
                    )
                    created = working_moment(opened, when, zone=owner.time_zone)
                path += self._walk(through, created, entered, owner)
            with clock(created):
                deal = write("deals", data, actor=owner)
            for moment, change in path:
                with clock(moment):
                    deal = write("deals", change, actor=owner, instance=deal)
            made.append(deal)
        return made

    def _moment(self, day: dt.date, owner: Any) -> dt.datetime:
        """A working hour of ``day`` (a weekday) on ``owner``'s wall clock."""
        return working_moment(day, self.when_rng, zone=owner.time_zone)

    def _entered(self, stage: Any, rotting: bool, owner: Any) -> dt.datetime:
        """When an open deal entered ``stage``, in working hours: longer ago than the stage's rotting days
        if it is to rot (a weekend moves it earlier), else within them (later; a stage without rotting
        days never rots: up to 30 days), never after now."""
        limit = stage.rotting_days
        rots = bool(rotting and limit)
        days = limit + self.when_rng.randint(1, 25) if rots else self.when_rng.randint(1, (limit or 31) - 1)
        today = local_today(self.now, owner.time_zone)
        moment = working_moment(today - dt.timedelta(days=days), self.when_rng, zone=owner.time_zone, later=not rots)
        return min(moment, self.now - dt.timedelta(hours=1))

    def _walk(
        self, stages: list[Any], start: dt.datetime, end: dt.datetime, owner: Any
    ) -> list[tuple[dt.datetime, dict[str, Any]]]:
        """Moves into each of ``stages`` in turn between ``start`` and ``end``, in working hours (the last
        at ``end``)."""
        if not stages:
            return []
        step = (end - start) / len(stages)
        moves = []
        for i, stage in enumerate(stages):
            moment = start + step * (i + 1)
            if i < len(stages) - 1:
                day = local_today(moment, owner.time_zone)
                moment = min(max(working_moment(day, self.when_rng, zone=owner.time_zone), start), end)
            moves.append((moment, {"stage": stage.pk}))
        return sorted(moves, key=lambda move: move[0])


def load_deals_demo(
    *, sellers: list[Any], companies: list[Any], people: list[Any], admin: Any, now: dt.datetime | None = None
) -> list[Deal]:
    """Called at the end of the small demo with its users and contacts (the ones still live)."""
    from rapport.contacts.models import Company, Person

    live_companies = list(
        Company.objects.live().filter(pk__in=[c.pk for c in companies]).select_related("owner").order_by("pk")
    )
    live_people = list(Person.objects.live().filter(pk__in=[p.pk for p in people]).order_by("pk"))
    demo = DealsDemo(
        sellers=sellers, companies=live_companies, people=live_people, admin=admin, now=now or timezone.now()
    )
    return demo.run()


def load_demo(ctx: DemoContext) -> None:
    ctx.deals = load_deals_demo(
        sellers=ctx.sellers, companies=ctx.companies, people=ctx.people, admin=ctx.admin, now=ctx.now
    )
