"""Sales velocity and forecast accuracy: what the pipeline makes per day, and how what was committed at
the start of each month or quarter compared with what was won in it.

Forecast accuracy reconstructs each deal as it stood at a past moment from its history: the value of a
field at moment T is the "before" value of the first change to that field after T (core ``Event`` diffs),
or its current value when it has not changed since. In SQL, per field, one correlated lookup on the
events index (type, record, id) — no deal is read into Python."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from rapport.core.models import Event

from .standard import (
    Col,
    Converter,
    DaysBetween,
    Filters,
    Report,
    Result,
    Row,
    bucket_at,
    bucket_index,
    link,
    moment,
    per,
    periods,
    ratio,
    report,
    visible_deals,
)
from .standard_sales import AMOUNT, _closed_link

# --- sales velocity --------------------------------------------------------------------------------------
VELOCITY_COLS = (
    Col("open", "Open deals", "count"),
    Col("win_rate", "Win rate", "percent"),
    Col("average_won", "Average won size", "money"),
    Col("cycle", "Sales cycle (days)", "days"),
    Col("velocity", "Velocity per day", "money", chart=True),
)


def _velocity(open_count: int, won: int, lost: int, won_amount: Decimal, sized: int, cycle_days: float) -> dict:
    win_rate = ratio(won, won + lost)
    average = per(won_amount, sized)
    cycle = per(Decimal(str(cycle_days)), won)
    velocity = None
    if win_rate is not None and average is not None and cycle:
        velocity = Decimal(open_count) * win_rate / 100 * average / cycle
    return {"open": open_count, "win_rate": win_rate, "average_won": average, "cycle": cycle, "velocity": velocity}


def velocity(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    buckets = periods(filters)
    today = conv.periods.no_day
    deals = visible_deals(actor, filters)

    def open_at(day: dt.date) -> Q:
        """Deals open at the end of ``day``: created by then, not closed by then."""
        return Q(created_at__lt=moment(day + dt.timedelta(days=1))) & (Q(closed_on__isnull=True) | Q(closed_on__gt=day))

    ends = {b.key: min(b.end, filters.end, today) for b in buckets}
    period_end = min(filters.end, today)
    opened = deals.aggregate(
        _all=Count("id", filter=open_at(period_end)),
        **{f"b{i}": Count("id", filter=open_at(ends[b.key])) for i, b in enumerate(buckets)},
    )
    stats: dict[Any, dict[str, Any]] = defaultdict(lambda: {"won": 0, "lost": 0, "sized": 0, "cycle": 0.0})
    groups = (
        deals.filter(status__in=("won", "lost"), closed_on__gte=filters.start, closed_on__lte=filters.end)
        .annotate(
            bucket=bucket_index(buckets, "closed_on"),
            rate_period=conv.expression("closed_on"),
            cycle=DaysBetween("created_at", "closed_on"),
        )
        .values("bucket", "status", "currency", "rate_period")
        .annotate(n=Count("id"), amounted=Count("amount"), total=Sum("amount", output_field=AMOUNT), days=Sum("cycle"))
        .order_by()
    )
    for g in groups:
        b = bucket_at(buckets, g["bucket"])
        for key in (b.key if b else None, "_all"):
            if key is None:
                continue
            s = stats[key]
            s[g["status"]] += g["n"]
            if g["status"] == "won":
                s["cycle"] += g["days"] or 0
                if g["amounted"] and conv.add(
                    (key, "won"), g["total"], g["currency"], g["rate_period"], g["amounted"] if key == "_all" else 0
                ):
                    s["sized"] += g["amounted"]

    def figures(key: str, open_count: int) -> dict:
        s = stats[key]
        return _velocity(open_count, s["won"], s["lost"], conv.total((key, "won")), s["sized"], s["cycle"])

    rows = [Row(b.key, b.label, figures(b.key, opened[f"b{i}"])) for i, b in enumerate(buckets) if b.start <= today]
    overall = figures("_all", opened["_all"])
    links = {"open": link("/deals/", [("status", "open"), *filters.list_params()])}
    summary = [
        (c, overall[c.key], links.get(c.key, "") if c.key == "open" and period_end == today else "")
        for c in VELOCITY_COLS
    ]
    result = Result("velocity", filters, list(VELOCITY_COLS), rows, summary, conv.base, conv.unconverted, chart="line")
    if not any(r.values["velocity"] or r.values["open"] for r in rows) and not overall["open"]:
        result.rows = []
    return result


report(
    Report(
        "velocity",
        "Sales velocity",
        "Open deals × win rate × average won size ÷ sales cycle: the revenue the pipeline makes per day.",
        velocity,
        VELOCITY_COLS,
        VELOCITY_COLS,
        default_period="last_12_months",
        per_period=True,
        definitions=(
            (
                "Open deals",
                "Deals open at the end of the period (or today, if the period runs on): created by then "
                "and not won or lost by then.",
            ),
            ("Win rate", "Won ÷ (won + lost), of the deals closed in the period."),
            ("Average won size", "Revenue won ÷ won deals with an amount, in the base currency."),
            ("Sales cycle", "Average days from creation to close of the deals won in the period."),
            ("Velocity", "Open deals × win rate × average won size ÷ sales cycle, in the base currency per day."),
        ),
    )
)


# --- forecast accuracy -----------------------------------------------------------------------------------
ACCURACY_COLS = (
    Col("committed", "Committed deals", "count"),
    Col("committed_amount", "Committed", "money", chart=True),
    Col("committed_won", "Committed and won", "count"),
    Col("committed_won_amount", "Committed and won, amount", "money"),
    Col("won", "Won deals", "count"),
    Col("won_amount", "Won", "money", chart=True),
    Col("accuracy", "Won ÷ committed", "percent"),
)
# The deal's fields as its history records them, with the type to read them back as.
TRACKED: dict[str, Any] = {
    "status": CharField(),
    "forecast_category": CharField(),
    "expected_close_date": DateField(),
    "amount": DecimalField(max_digits=14, decimal_places=2),
    "currency": CharField(),
}


def as_of(deals: Any, at: dt.datetime) -> Any:
    """``deals`` annotated with ``<field>_then``: each tracked field's value at moment ``at``."""
    annotations: dict[str, Any] = {}
    for name, field in TRACKED.items():
        later = Event.objects.filter(
            type_key="deals", record_id=OuterRef("pk"), kind="updated", occurred_at__gte=at, changes__has_key=name
        )
        before = later.order_by("occurred_at", "id").annotate(value=KT(f"changes__{name}__0")).values("value")[:1]
        annotations[f"{name}_then"] = Case(
            When(Exists(later), then=Cast(Subquery(before), output_field=field)),
            default=F(name),
            output_field=field,
        )
    return deals.annotate(**annotations)


def forecast_accuracy(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    buckets = [b for b in periods(filters) if b.start <= conv.periods.no_day]
    deals = visible_deals(actor, filters)
    figures: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for b in buckets:
        at = moment(b.start)
        # Open at the start of the period: created before it, and open now or closed since (a superset,
        # narrowed by the reconstructed status).
        # Open then: created before, and open now or closed since. A deal unchanged since was committed then
        # only if it is committed now; any other was written since: its updated_at (set by every write, with
        # its event) is later, and an "updated" event follows that moment (one lookup on the events index).
        changed = Event.objects.filter(type_key="deals", record_id=OuterRef("pk"), kind="updated", occurred_at__gte=at)
        unchanged_match = Q(
            status="open",
            forecast_category="commit",
            expected_close_date__gte=b.start,
            expected_close_date__lte=b.end,
        )
        candidates = deals.filter(
            Q(created_at__lt=at)
            & (Q(status="open") | Q(closed_on__gte=b.start))
            & (unchanged_match | (Q(updated_at__gte=at) & Exists(changed)))
        )
        committed = (
            as_of(candidates, at)
            .filter(
                status_then="open",
                forecast_category_then="commit",
                expected_close_date_then__gte=b.start,
                expected_close_date_then__lte=b.end,
            )
            .annotate(rate_period=conv.expression("expected_close_date_then"))
            .values("currency_then", "rate_period")
            .annotate(
                n=Count("id"),
                total=Sum("amount_then", output_field=AMOUNT),
                won_n=Count("id", filter=Q(status="won", closed_on__gte=b.start, closed_on__lte=b.end)),
                won_total=Sum(
                    "amount_then",
                    filter=Q(status="won", closed_on__gte=b.start, closed_on__lte=b.end),
                    output_field=AMOUNT,
                ),
            )
            .order_by()
        )
        f = figures[b.key]
        for g in committed:
            f["committed"] += g["n"]
            f["committed_won"] += g["won_n"]
            conv.add((b.key, "committed_amount"), g["total"], g["currency_then"], g["rate_period"], g["n"])
            conv.add((b.key, "committed_won_amount"), g["won_total"], g["currency_then"], g["rate_period"], 0)
    last_day = buckets[-1].end if buckets else filters.start - dt.timedelta(days=1)
    won = (
        deals.filter(status="won", closed_on__gte=filters.start, closed_on__lte=min(filters.end, last_day))
        .annotate(bucket=bucket_index(buckets, "closed_on"), rate_period=conv.expression("closed_on"))
        .values("bucket", "currency", "rate_period")
        .annotate(n=Count("id"), total=Sum("amount", output_field=AMOUNT))
        .order_by()
    )
    for g in won:
        found = bucket_at(buckets, g["bucket"])
        if found is None:
            continue
        figures[found.key]["won"] += g["n"]
        conv.add((found.key, "won_amount"), g["total"], g["currency"], g["rate_period"], g["n"])
    rows = []
    for b in buckets:
        f = figures[b.key]
        values = {
            "committed": f["committed"],
            "committed_amount": conv.total((b.key, "committed_amount")),
            "committed_won": f["committed_won"],
            "committed_won_amount": conv.total((b.key, "committed_won_amount")),
            "won": f["won"],
            "won_amount": conv.total((b.key, "won_amount")),
        }
        values["accuracy"] = ratio(values["won_amount"], values["committed_amount"])
        links = {"won": _closed_link(filters, "won", b.start, min(b.end, filters.end))} if f["won"] else {}
        links.update({"won_amount": links["won"]} if links else {})
        rows.append(Row(b.key, b.label, values, links))
    total = {
        c.key: sum((r.values[c.key] for r in rows), Decimal(0) if c.kind == "money" else 0)
        for c in ACCURACY_COLS
        if c.key != "accuracy"
    }
    total["accuracy"] = ratio(total["won_amount"], total["committed_amount"])
    summary = [(c, total[c.key], "") for c in ACCURACY_HEADLINE]
    result = Result("forecast-accuracy", filters, list(ACCURACY_COLS), rows, summary, conv.base, conv.unconverted)
    if not any(r.values["committed"] or r.values["won"] for r in rows):
        result.rows = []
    return result


ACCURACY_HEADLINE = (
    Col("committed_amount", "Committed", "money"),
    Col("won_amount", "Won", "money"),
    Col("accuracy", "Won ÷ committed", "percent"),
    Col("committed_won", "Committed deals won"),
    Col("committed", "Committed deals"),
)

report(
    Report(
        "forecast-accuracy",
        "Forecast accuracy",
        "What was committed at the start of each month or quarter against what was won in it.",
        forecast_accuracy,
        ACCURACY_COLS,
        ACCURACY_HEADLINE,
        default_period="last_quarter",
        per_period=True,
        definitions=(
            (
                "Committed",
                "Deals that at the first moment of the month or quarter (your time zone) were open, in "
                "the forecast category commit, with an expected close date inside it — as they stood then, rebuilt "
                "from each deal's history — with their amounts then, at the rate of that expected close date.",
            ),
            ("Committed and won", "Of those, the deals won with a close date inside the month or quarter."),
            (
                "Won",
                "Every deal won with a close date in the month or quarter, at the rate of its close date "
                "(committed or not).",
            ),
            ("Won ÷ committed", "Won amount ÷ committed amount: above 100% the team beat its commit."),
            ("Deals in the bin", "Not counted."),
        ),
    )
)
