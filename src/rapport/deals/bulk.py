"""Many synthetic deals loaded in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL) for
benchmarks: every row follows the write path's rules (``Deal.prepare_write``) and carries its
"created" event, its first stage change and its search entry, so nothing is stale afterwards."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from rapport.accounts.models import Role, Team, User
from rapport.contacts.models import Company
from rapport.core import bulk
from rapport.forecasting.models import ExchangeRate
from rapport.forecasting.money import base_currency

from . import totals
from .models import LostReason, Pipeline, Stage

DEAL_COLS = (
    "id owner_id team_id tags custom notes created_at updated_at created_by_id deleted_at version title "
    "pipeline_id stage_id status amount currency expected_close_date probability probability_overridden "
    "forecast_category company_id source lost_reason_id closed_on stage_entered_at"
).split()
STAGE_CHANGE_COLS = "id deal_id from_stage_id to_stage_id changed_at actor_id seconds_in_previous".split()
EVENT_COLS = (
    "id occurred_at type_key record_id record_title kind actor_id source request_id changes dispatched_at".split()
)
SEARCH_COLS = "id type_key record_id owner_id team_id title body identifiers".split()

RENEWALS = "Renewals"
RENEWAL_STAGES = (  # name, probability, rotting days, kind
    ("Upcoming", 40, 30, "open"),
    ("Quote sent", 70, 21, "open"),
    ("Renewed", 100, None, "won"),
    ("Churned", 0, None, "lost"),
)
# Dollars buy one unit of each currency; rates between any two follow from these.
USD_PER_UNIT = {"USD": Decimal("1"), "EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
CURRENCIES = (("USD", 70), ("EUR", 20), ("GBP", 10))
DEAL_KINDS = (
    "annual licence",
    "50 seats",
    "200 seats",
    "pilot",
    "expansion",
    "support plan",
    "onboarding package",
    "enterprise upgrade",
    "analytics add-on",
    "multi-year renewal",
)
SOURCES = ("website", "referral", "event", "webinar", "cold outreach", "partner", "linkedin", "")
# What happens to the deals beyond the open ones of the chosen pipeline.
REST_MIX = (("open", 20), ("won", 45), ("lost", 35))


@dataclass
class DealLoadResult:
    pipeline_id: int
    other_pipeline_id: int
    deals: int
    open_in_pipeline: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


def renewals_pipeline() -> Pipeline:
    """The second pipeline of the synthetic data set (created with its stages if missing)."""
    pipeline, created = Pipeline.objects.get_or_create(name=RENEWALS, defaults={"position": 1})
    if created:
        for n, (name, probability, rotting, kind) in enumerate(RENEWAL_STAGES):
            Stage.objects.create(
                pipeline=pipeline, name=name, position=n, probability=probability, rotting_days=rotting, kind=kind
            )
    return pipeline


def ensure_exchange_rates(today: dt.date) -> int:
    """Monthly rates over the past 13 months for every non-base currency of the mix, so deals
    closed in the past year and those closing later all convert; returns the rows added."""
    base = base_currency()
    if base not in USD_PER_UNIT:
        raise ValueError(f"Synthetic deals need a base currency among {sorted(USD_PER_UNIT)}, not {base}.")
    rng = random.Random(11)
    added = 0
    for currency, per_unit in USD_PER_UNIT.items():
        if currency == base:
            continue
        month = dt.date(today.year - 1, today.month, 1) - dt.timedelta(days=31)
        month = month.replace(day=1)
        while month <= today:
            drift = Decimal(1) + Decimal(rng.randint(-30, 30)) / Decimal(1000)
            rate = (per_unit / USD_PER_UNIT[base] * drift).quantize(Decimal("0.00000001"))
            _, made = ExchangeRate.objects.get_or_create(currency=currency, valid_from=month, defaults={"rate": rate})
            added += made
            month = (month + dt.timedelta(days=32)).replace(day=1)
    return added


def sellers() -> list[tuple[int, int | None]]:
    """(user id, team id) of the active managers and members with a team; a few reps are created
    when there are none (a database loaded by ``rapport demo --people`` has them)."""
    found: list[tuple[int, int | None]] = list(
        User.objects.filter(is_active=True, role__key__in=["manager", "member"], team__isnull=False)
        .order_by("id")
        .values_list("id", "team_id")
    )
    if found:
        return found
    member = Role.objects.get(key="member")
    teams = [Team.objects.get_or_create(name=name)[0] for name in ("Sales East", "Sales West")]
    for i in range(6):
        user = User(username=f"deal-rep{i + 1}", first_name="Rep", last_name=str(i + 1), role=member)
        user.team = teams[i % len(teams)]
        user.set_unusable_password()
        user.save()
        found.append((user.pk, user.team_id))
    return found


def load_deals(
    total: int,
    *,
    open_in_pipeline: int,
    pipeline: Pipeline | None = None,
    batch: int = 5000,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
) -> DealLoadResult:
    """Write ``total`` deals: ``open_in_pipeline`` open ones in ``pipeline`` (the first pipeline by
    default), the rest open in the Renewals pipeline or won/lost in either over the past year."""
    if total < 0 or open_in_pipeline < 0 or open_in_pipeline > total or batch < 1:
        raise ValueError("Need 0 <= open_in_pipeline <= total and batch >= 1.")
    started = time.monotonic()
    pipeline = pipeline or Pipeline.objects.filter(archived=False).exclude(name=RENEWALS).first()
    if pipeline is None:
        raise ValueError("No pipeline to put the deals in.")
    loader = _DealRows(pipeline, renewals_pipeline(), random.Random(seed), batch=batch)
    with bulk.LoadSession():
        written = 0
        for tables in loader.batches(total, open_in_pipeline):
            bulk.write_batch(tables)
            written += len(tables["sales_deal"][1])
            if progress:
                elapsed = time.monotonic() - started
                progress(f"deals: {written:,}/{total:,}, {elapsed:.1f}s, {written / max(elapsed, 1e-6):,.0f} rows/s")
        bulk.reset_sequences(["sales_deal", "sales_stagechange", "core_event", "core_searchentry"])
        totals.rebuild()  # rows written without the write path: the board's kept figures afresh
        if total >= 10_000 and not connection.in_atomic_block:
            bulk.analyze()
    return DealLoadResult(
        pipeline_id=pipeline.pk,
        other_pipeline_id=loader.other.pk,
        deals=total,
        open_in_pipeline=open_in_pipeline,
        seconds=round(time.monotonic() - started, 1),
        counts=dict(loader.counts),
    )


class _DealRows:
    def __init__(self, main: Pipeline, other: Pipeline, rng: random.Random, *, batch: int):
        self.main, self.other, self.rng, self.batch = main, other, rng, batch
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.request_id = uuid.uuid4().hex
        self.counts: dict[str, int] = {"open": 0, "won": 0, "lost": 0}
        ensure_exchange_rates(self.today)
        self.stages: dict[tuple[int, str], list[Stage]] = {}
        for p in (main, other):
            for s in p.stages.filter(archived=False).order_by("position", "id"):
                self.stages.setdefault((p.pk, s.kind), []).append(s)
            for kind in ("open", "won", "lost"):
                if (p.pk, kind) not in self.stages:
                    raise ValueError(f"The pipeline {p.name} has no {kind} stage.")
        self.reasons = list(LostReason.objects.filter(active=True).values_list("id", flat=True))
        if not self.reasons:
            raise ValueError("Lost deals need at least one active lost reason.")
        self.owners = sellers()
        self.companies = list(Company.objects.live().values_list("id", "name", "owner_id", "team_id")[:200_000])
        self.team_of = dict(self.owners)
        self.team_of |= dict(
            User.objects.filter(pk__in={c[2] for c in self.companies if c[2]}).values_list("id", "team_id")
        )
        self.currencies = [c for c, _ in CURRENCIES]
        self.currency_weights = [w for _, w in CURRENCIES]

    def batches(self, total: int, open_in_main: int) -> Iterator[dict[str, tuple[list[str], list[Any]]]]:
        ids = {t: bulk.next_ids(t) for t in ("sales_deal", "sales_stagechange", "core_event", "core_searchentry")}
        first = ids["sales_deal"]
        # Open deals of the main pipeline are interleaved with the rest, as in a real history.
        plan = ["main"] * open_in_main + ["rest"] * (total - open_in_main)
        self.rng.shuffle(plan)
        for start in range(0, total, self.batch):
            deals, changes, events, entries = [], [], [], []
            for n, which in enumerate(plan[start : start + self.batch]):
                offset = start + n
                deal_id = first + offset
                deal, title, created, entered, change, entry = self._deal(deal_id, which)
                deals.append(deal)
                changes.append(
                    (ids["sales_stagechange"] + offset, deal_id, None, deal[13], bulk.sql_value(entered), None, None)
                )
                events.append(self._event(ids["core_event"] + offset, created, deal_id, title, change))
                entries.append((ids["core_searchentry"] + offset, *entry))
            yield {
                "sales_deal": (DEAL_COLS, deals),
                "sales_stagechange": (STAGE_CHANGE_COLS, changes),
                "core_event": (EVENT_COLS, events),
                "core_searchentry": (SEARCH_COLS, entries),
            }

    def _deal(self, deal_id: int, which: str) -> tuple[tuple, str, dt.datetime, dt.datetime, dict, tuple]:
        rng, v = self.rng, bulk.sql_value
        if which == "main":
            pipeline, kind = self.main, "open"
        else:
            kind = rng.choices([k for k, _ in REST_MIX], [w for _, w in REST_MIX])[0]
            pipeline = self.other if kind == "open" or rng.random() < 0.3 else self.main
        stage = rng.choice(self.stages[(pipeline.pk, kind)])
        self.counts[kind] += 1
        company_id, company_name, c_owner, c_team = (
            rng.choice(self.companies) if self.companies else (None, "", None, None)
        )
        if c_owner and rng.random() < 0.7 and c_owner in self.team_of:
            owner_id = c_owner
        else:
            owner_id = rng.choice(self.owners)[0]
        team_id = self.team_of.get(owner_id)  # a record's team is its owner's team
        title = f"{company_name} — {rng.choice(DEAL_KINDS)}" if company_name else f"Deal {deal_id}"
        title = title[:200]
        currency = rng.choices(self.currencies, self.currency_weights)[0]
        amount = Decimal(rng.randint(10, 2000) * 100)
        source = rng.choice(SOURCES)
        closed_on: dt.date | None = None
        lost_reason = None
        if kind == "open":
            probability = stage.probability
            created = self.now - dt.timedelta(seconds=rng.randrange(1, 365 * 86400))
            entered = created + dt.timedelta(seconds=rng.randrange(int((self.now - created).total_seconds()) + 1))
            expected = self.today + dt.timedelta(days=rng.randint(-90, 183))
            forecast = rng.choices(("pipeline", "best_case", "commit"), (50, 30 + probability // 5, probability))[0]
        else:
            probability = 100 if kind == "won" else 0
            closed_on = self.today - dt.timedelta(days=rng.randint(0, 364))
            closed_at = dt.datetime.combine(closed_on, dt.time(rng.randint(8, 17), rng.randint(0, 59)), dt.UTC)
            closed_at = min(closed_at, self.now)
            created = closed_at - dt.timedelta(days=rng.randint(7, 180), seconds=rng.randrange(86400))
            entered = closed_at
            expected = closed_on + dt.timedelta(days=rng.randint(-20, 20))
            forecast = "closed"
            if kind == "lost":
                lost_reason = rng.choice(self.reasons)
        row = (
            deal_id, owner_id, team_id, "[]", "{}", "", v(created), v(entered), None, None, 1, title,
            pipeline.pk, stage.pk, kind, amount, currency, self._day(expected), probability, v(False),
            forecast, company_id, source, lost_reason, self._day(closed_on), v(entered),
        )  # fmt: skip
        # The "created" event's diff: the snapshot of tracked fields without empty values.
        change: dict[str, Any] = {
            "owner": owner_id,
            "title": title,
            "pipeline": pipeline.pk,
            "stage": stage.pk,
            "status": kind,
            "amount": str(amount.quantize(Decimal("0.01"))),
            "currency": currency,
            "expected_close_date": expected.isoformat(),
            "probability": probability,
            "probability_overridden": False,
            "forecast_category": forecast,
            "company": company_id,
            "source": source,
            "lost_reason": lost_reason,
            "closed_on": closed_on.isoformat() if closed_on else None,
        }
        diff = {k: [None, val] for k, val in change.items() if val not in (None, "")}
        # The company's name is in the entry only within its team (visibility.search_label).
        shown = company_name if (team_id == c_team if team_id else owner_id == c_owner) else ""
        body = " ".join(x for x in (shown, source) if x)
        entry = ("deals", deal_id, owner_id, team_id, title[:300], body, "")
        return row, title, created, entered, diff, entry

    def _day(self, day: dt.date | None) -> Any:
        if day is None:
            return None
        return day.isoformat() if connection.vendor == "sqlite" else day

    def _event(self, eid: int, at: dt.datetime, deal_id: int, title: str, changes: dict[str, Any]) -> tuple:
        v = bulk.sql_value
        return (
            eid, v(at), "deals", deal_id, title[:300], "created", None, "system", self.request_id,
            orjson.dumps(changes).decode(),
            v(self.now),  # synthetic history predates any automation or webhook: nothing to deliver
        )  # fmt: skip
