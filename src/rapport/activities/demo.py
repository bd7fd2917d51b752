"""Activities demo data for ``rapport demo --if-empty``: the calls, meetings and notes a sales team would
have logged on its deals over the past months, the next step planned on most open deals, and each demo
user's day — overdue tasks, tasks due today, a meeting today and the week ahead — relative to now in their
time zone. Every activity goes through its serializer and the write services, written at the moment it
was logged (the demo clock), so timelines, My day and the calendar tell one story. Deterministic with
``random.Random(42)``.

The rules the tests work from: every open deal has 1–3 past activities and every closed one 1–2; an open
deal has a planned next step with NEXT_STEP_SHARE (NEXT_STEP_SHARE_ROTTING when it is rotting), of which
OVERDUE_SHARE are tasks already overdue; every demo seller has MY_DAY (overdue tasks, tasks due today, a
meeting today, upcoming) on their own open deals; the read-only user attends two meetings."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from django.utils import timezone

from rapport.core.demo import DemoContext, at_local, clock, local_today, working_moment, write

SEED = 42
NEXT_STEP_SHARE = 0.85
NEXT_STEP_SHARE_ROTTING = 0.4
OVERDUE_SHARE = 0.15
MY_DAY = {"overdue": 2, "today": 2, "meeting_today": 1, "upcoming": 3}

CALLS = ("Intro call", "Discovery call", "Follow-up call", "Pricing call", "Check-in call", "Reference call")
MEETINGS = ("Product demo", "Kick-off meeting", "Technical deep dive", "Negotiation meeting", "Security review")
TASKS = (
    "Send the proposal",
    "Follow up on the quote",
    "Prepare the demo environment",
    "Send the security questionnaire",
    "Book the next meeting",
    "Confirm the budget with finance",
    "Share the case study",
    "Update the close date",
)
NOTES = (
    "**Budget** confirmed for next quarter; the decision is due by the end of the month.",
    "Champion is keen, but procurement wants three quotes. Send our references early.",
    "They use spreadsheets today and lose track of renewals. Migration effort is their main worry.",
    "Legal reviewed the terms; one open point on the liability cap.",
    "Asked for a discount on a two-year commitment. Checking with the manager.",
    "Competitor demo next week. Focus on reporting and the API in our follow-up.",
    "IT needs SSO before the rollout; sent the documentation.",
)
CALL_BODIES = (
    "Walked through their current process and pain points.",
    "Agreed on next steps and a date for the demo.",
    "They are comparing two vendors; pricing is the open question.",
    "",
)
OUTCOMES = (("connected", 70), ("left_voicemail", 15), ("no_answer", 15))


class ActivitiesDemo:
    def __init__(self, ctx: DemoContext):
        self.rng = random.Random(SEED)
        self.ctx = ctx
        self.now = ctx.now or timezone.now()
        from rapport.deals.models import DealContact

        self.contacts: dict[int, list[int]] = {}
        deal_ids = [d.pk for d in ctx.deals]
        for deal_id, person_id in DealContact.objects.filter(deal_id__in=deal_ids).values_list("deal", "person"):
            self.contacts.setdefault(deal_id, []).append(person_id)

    def run(self) -> None:
        open_deals = [d for d in self.ctx.deals if d.status == "open" and d.deleted_at is None]
        closed = [d for d in self.ctx.deals if d.status != "open" and d.deleted_at is None]
        for deal in open_deals:
            self._history(deal, deal.created_at, self.now - dt.timedelta(hours=2), self.rng.randint(1, 3))
        for deal in closed:
            end = at_local(deal.closed_on, 9, zone=deal.owner.time_zone)
            self._history(deal, deal.created_at, min(end, self.now - dt.timedelta(hours=2)), self.rng.randint(1, 2))
        planned = self._my_days(open_deals)
        for deal in open_deals:
            if deal.pk not in planned:
                share = NEXT_STEP_SHARE_ROTTING if deal.rotting else NEXT_STEP_SHARE
                if self.rng.random() < share:
                    self._next_step(deal)

    # --- what was logged ------------------------------------------------------------------------
    def _history(self, deal: Any, start: dt.datetime, end: dt.datetime, count: int) -> None:
        """``count`` calls, meetings and notes on ``deal`` between ``start`` and ``end``, oldest first;
        the first is the intro call."""
        if end <= start:
            end = start + dt.timedelta(hours=1)
        span, zone = (end - start).total_seconds(), deal.owner.time_zone
        moments = []
        for _ in range(count):  # on a weekday, in working hours, within the span
            day = local_today(start + dt.timedelta(seconds=self.rng.uniform(0, span)), zone)
            moments.append(min(max(working_moment(day, self.rng, zone=zone), start), end))
        moments.sort()
        for n, moment in enumerate(moments):
            kind = "call" if n == 0 else self.rng.choices(("call", "meeting", "note"), (40, 25, 35))[0]
            self._logged(deal, kind, moment, intro=n == 0)

    def _logged(self, deal: Any, kind: str, moment: dt.datetime, *, intro: bool = False) -> None:
        rng, owner = self.rng, deal.owner
        data: dict[str, Any] = {"kind": kind, "links": self._links(deal), "owner": owner.pk}
        logged_at = moment
        if kind == "call":
            data["subject"] = CALLS[0] if intro else rng.choice(CALLS[1:])
            data["outcome"] = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
            data["start_at"] = moment.isoformat()
            data["duration_minutes"] = rng.choice((10, 15, 20, 30))
            data["body"] = rng.choice(CALL_BODIES) if data["outcome"] == "connected" else ""
            data["done"] = True
            logged_at = moment + dt.timedelta(minutes=data["duration_minutes"])
        elif kind == "meeting":
            data["subject"] = rng.choice(MEETINGS)
            data["start_at"] = moment.isoformat()
            data["duration_minutes"] = rng.choice((30, 45, 60))
            data["done"] = True
            logged_at = moment + dt.timedelta(minutes=data["duration_minutes"])
        else:
            data["subject"] = f"Note on {deal.title.split(' — ')[0]}"
            data["body"] = rng.choice(NOTES)
        with clock(min(logged_at, self.now)):
            write("activities", data, actor=owner)

    # --- what is planned --------------------------------------------------------------------------
    def _next_step(self, deal: Any) -> None:
        rng, tz = self.rng, deal.owner.time_zone
        today = local_today(self.now, tz)
        if rng.random() < OVERDUE_SHARE:
            when = working_moment(today - dt.timedelta(days=rng.randint(1, 10)), rng, zone=tz)
            self._plan(deal, deal.owner, "task", min(when, self.now - dt.timedelta(hours=1)))
            return
        kind = rng.choices(("task", "call", "meeting"), (60, 20, 20))[0]
        day = today + dt.timedelta(days=rng.randint(1, 21))
        self._plan(deal, deal.owner, kind, working_moment(day, rng, zone=tz, later=True))

    def _my_days(self, open_deals: list[Any]) -> set[int]:
        """Each seller's day: overdue tasks, tasks due later today, a meeting today and the next days'
        work, on their own open deals (the admin, who owns none, on anyone's); the read-only user
        attends two meetings. Returns the deals that got a next step here."""
        rng, planned = self.rng, set()
        for user in self.ctx.sellers:
            mine = [d for d in open_deals if d.owner_id == user.pk] or open_deals
            picks = itertools.cycle(rng.sample(mine, min(len(mine), sum(MY_DAY.values()))))
            today, start, end = self._day(user)
            zone = user.time_zone
            for _ in range(MY_DAY["overdue"]):
                when = working_moment(today - dt.timedelta(days=rng.randint(1, 5)), rng, zone=zone)
                planned.add(self._plan(next(picks), user, "task", min(when, self.now - dt.timedelta(hours=1))))
            slots = self._later_today(zone, end, MY_DAY["today"] + MY_DAY["meeting_today"])
            for when in slots[: MY_DAY["today"]]:
                planned.add(self._plan(next(picks), user, "task", when))
            for when in slots[MY_DAY["today"] :]:
                planned.add(self._plan(next(picks), user, "meeting", when))
            for _ in range(MY_DAY["upcoming"]):
                day = today + dt.timedelta(days=rng.randint(1, 6))
                kind = rng.choice(("task", "call", "meeting"))
                planned.add(self._plan(next(picks), user, kind, working_moment(day, rng, zone=zone, later=True)))
        viewers = [u for u in self.ctx.users if u.role and u.role.key == "read-only"]
        for user in viewers:
            host = next((u for u in self.ctx.sellers if u.team_id == user.team_id), self.ctx.admin)
            team_deals = [d for d in open_deals if d.team_id == user.team_id] or open_deals
            today, start, end = self._day(user)
            for when in (
                self._later_today(user.time_zone, end, 1)[0],
                working_moment(today + dt.timedelta(days=2), rng, zone=user.time_zone, later=True),
            ):
                planned.add(self._plan(rng.choice(team_deals), host, "meeting", when, assignee=user))
        return planned

    def _later_today(self, zone: str, end: dt.datetime, count: int) -> list[dt.datetime]:
        """``count`` times still ahead today: working-hour slots after now (10:00, 11:30, 14:00, 15:30,
        16:30), else the next quarter hours; at the very end of the day, its last minute."""
        today = local_today(self.now, zone)
        soon = self.now + dt.timedelta(minutes=15)
        slots = [at_local(today, h, m, zone=zone) for h, m in ((10, 0), (11, 30), (14, 0), (15, 30), (16, 30))]
        ahead = [t for t in slots if t > soon]
        quarter = self.now.replace(minute=self.now.minute // 15 * 15, second=0, microsecond=0)
        n = 1
        while len(ahead) < count:
            ahead.append(min(quarter + dt.timedelta(minutes=30 * n), end - dt.timedelta(minutes=1)))
            n += 1
        return sorted(ahead[:count])

    def _day(self, user: Any) -> tuple[dt.date, dt.datetime, dt.datetime]:
        from .myday import day_bounds

        return day_bounds(user, self.now)

    def _plan(self, deal: Any, user: Any, kind: str, when: dt.datetime, *, assignee: Any = None) -> int:
        """A task (due at ``when``), call or meeting (at ``when``) on ``deal``, for ``assignee`` or
        ``user``, scheduled by ``user`` a few days before (never in the future)."""
        rng = self.rng
        data: dict[str, Any] = {"kind": kind, "links": self._links(deal), "owner": user.pk}
        if assignee is not None:
            data["assignee"] = assignee.pk
        if kind == "task":
            data["subject"] = rng.choice(TASKS)
            data["due_at"] = when.isoformat()
            data["priority"] = rng.choices(("low", "normal", "high"), (15, 65, 20))[0]
        else:
            data["subject"] = rng.choice(CALLS[1:] if kind == "call" else MEETINGS)
            data["start_at"] = when.isoformat()
            data["duration_minutes"] = rng.choice((15, 30)) if kind == "call" else rng.choice((30, 45, 60))
        scheduled = min(self.now, when) - dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 6))
        with clock(max(scheduled, deal.created_at)):
            write("activities", data, actor=user)
        return deal.pk

    def _links(self, deal: Any) -> list[dict[str, Any]]:
        links = [{"type": "deals", "id": deal.pk}]
        if deal.company_id:
            links.append({"type": "companies", "id": deal.company_id})
        people = self.contacts.get(deal.pk)
        if people:
            links.append({"type": "people", "id": people[0]})
        return links


def load_demo(ctx: DemoContext) -> None:
    ActivitiesDemo(ctx).run()
