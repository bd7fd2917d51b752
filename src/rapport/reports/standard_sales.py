"""The sales reports: funnel, win and loss, pipeline per period, revenue per product, lead sources.

Definitions (also on each page and in docs/reports.md) are in each report's ``definitions``. Every
query starts from ``Deal.objects.visible_to(actor)`` (or the same rule through a join), so a member's
figures count only what that member may see."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, DecimalField, Exists, F, Q, Sum

from rapport.contacts.models import Person
from rapport.core.visibility import scope_q, sees
from rapport.deals.models import LostReason, Pipeline, Stage, StageChange
from rapport.deals.queries import moved_on_later
from rapport.quotes.models import LineItem, Product

from .standard import (
    Bucket,
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
    per,
    periods,
    ratio,
    report,
    visible_deals,
)

AMOUNT = DecimalField(max_digits=30, decimal_places=10)
DAY = Decimal(86400)


def _closed_link(filters: Filters, status: str, start: dt.date, end: dt.date, *extra: tuple[str, str]) -> str:
    return link(
        "/deals/",
        [
            ("status", status),
            ("closed__after", start.isoformat()),
            ("closed__before", end.isoformat()),
            *filters.list_params(),
            *extra,
        ],
    )


def _created_link(filters: Filters, start: dt.date, end: dt.date, *extra: tuple[str, str]) -> str:
    return link(
        "/deals/",
        [("created__after", start.isoformat()), ("created__before", end.isoformat()), *filters.list_params(), *extra],
    )


# --- funnel ------------------------------------------------------------------------------------------
FUNNEL_COLS = (
    Col("entered", "Entered", "count", chart=True),
    Col("advanced", "Advanced", "count", chart=True),
    Col("conversion", "Conversion", "percent"),
    Col("won", "Won since", "count"),
    Col("lost", "Lost since", "count"),
    Col("days_in_stage", "Average days in stage", "days"),
)

FUNNEL_HEADLINE = (
    Col("entered_first", "Entered the first stage"),
    Col("reached_won", "Reached won"),
    Col("overall", "First stage to won", "percent"),
)


def funnel_pipeline(filters: Filters) -> Pipeline | None:
    if filters.pipeline_id is not None:
        return Pipeline.objects.filter(pk=filters.pipeline_id).first()
    return Pipeline.objects.filter(archived=False).order_by("position", "id").first()


def _funnel_links(filters: Filters, pipeline: Pipeline, stage_id: int) -> dict[str, str]:
    """The deals list behind each figure of a stage: the deals of the pipeline (and the report's owner and
    team) that entered the stage in the period (the ``entered`` list filter, deals.queries.entered_q), of
    those the ones that moved on, and the ones won or lost by now."""
    entered = [
        ("pipeline", str(pipeline.pk)),
        ("entered", str(stage_id)),
        ("entered__after", filters.start.isoformat()),
        ("entered__before", filters.end.isoformat()),
        *filters.list_params(pipeline=False),
    ]
    return {
        "entered": link("/deals/", entered),
        "advanced": link("/deals/", [*entered, ("entered__advanced", "yes")]),
        "won": link("/deals/", [*entered, ("status", "won")]),
        "lost": link("/deals/", [*entered, ("status", "lost")]),
    }


def funnel(actor: Any, filters: Filters) -> Result:
    pipeline = funnel_pipeline(filters)
    rows: list[Row] = []
    totals = {"entered": 0, "won": 0, "lost": 0}
    heads: dict[str, str] = {}  # the headline figures' drill-down links
    if pipeline is not None:
        rule = scope_q(actor, "deals", prefix="deal__")
        changes = StageChange.objects.none()
        if rule is not None:
            changes = StageChange.objects.filter(
                rule,
                filters.record_q("deal__"),
                deal__deleted_at__isnull=True,
                deal__pipeline_id=pipeline.pk,
            )
        in_period = changes.filter(changed_at__gte=filters.start_moment(), changed_at__lt=filters.end_moment())
        entered = {
            g["to_stage_id"]: g
            for g in in_period.annotate(moved_on=Exists(moved_on_later()))
            .values("to_stage_id")
            .annotate(
                entered=Count("deal_id", distinct=True),
                advanced=Count("deal_id", distinct=True, filter=Q(moved_on=True)),
                won=Count("deal_id", distinct=True, filter=Q(deal__status="won")),
                lost=Count("deal_id", distinct=True, filter=Q(deal__status="lost")),
            )
            .order_by()
        }
        spent = {
            g["from_stage_id"]: g["seconds"]
            for g in in_period.filter(from_stage__isnull=False, seconds_in_previous__isnull=False)
            .values("from_stage_id")
            .annotate(seconds=Avg("seconds_in_previous"))
            .order_by()
        }
        stages = Stage.objects.filter(pipeline=pipeline).order_by("position", "id")
        for stage in stages:
            g = entered.get(stage.pk)
            if stage.archived and g is None and stage.pk not in spent:
                continue
            n = g["entered"] if g else 0
            advanced = g["advanced"] if g else 0
            values = {
                "entered": n,
                "advanced": advanced if stage.kind == "open" else None,
                "conversion": ratio(advanced, n) if stage.kind == "open" else None,
                "won": g["won"] if g else 0,
                "lost": g["lost"] if g else 0,
                "days_in_stage": Decimal(spent[stage.pk]) / DAY if spent.get(stage.pk) is not None else None,
            }
            links = _funnel_links(filters, pipeline, stage.pk)
            rows.append(Row(str(stage.pk), stage.name, values, {k: u for k, u in links.items() if values.get(k)}))
            if stage.kind == "won":
                totals["won"] = n
                heads["reached_won"] = rows[-1].links.get("entered", "")
            elif stage.kind == "lost":
                totals["lost"] = n
        first = next((r for r in rows), None)
        totals["entered"] = first.values["entered"] if first else 0
        heads["entered_first"] = first.links.get("entered", "") if first else ""
    figures = {
        "entered_first": totals["entered"],
        "reached_won": totals["won"],
        "overall": ratio(totals["won"], totals["entered"]),
    }
    summary = [(c, figures[c.key], heads.get(c.key, "")) for c in FUNNEL_HEADLINE]
    result = Result("funnel", filters, list(FUNNEL_COLS), rows, summary, Converter().base)
    result.note = pipeline.name if pipeline else ""
    if not any(r.values["entered"] for r in rows):
        result.rows = []
    return result


report(
    Report(
        "funnel",
        "Funnel conversion",
        "How many deals entered each stage, moved on, were won or lost, and how long they stayed.",
        funnel,
        FUNNEL_COLS,
        FUNNEL_HEADLINE,
        needs_pipeline=True,
        definitions=(
            ("Entered", "Deals that moved into the stage (or were created in it) during the period."),
            ("Advanced", "Of those, the deals that later reached a further stage that is not a lost stage."),
            ("Conversion", "Advanced ÷ entered."),
            ("Won since, lost since", "Of the deals that entered the stage in the period, those now won or lost."),
            ("Average days in stage", "The average time spent in the stage by the deals that left it in the period."),
            ("Pipeline", "One pipeline at a time: the one chosen, or the first."),
        ),
    )
)


# --- win and loss -------------------------------------------------------------------------------------
WIN_COLS = (
    Col("lost", "Deals lost", "count", chart=True),
    Col("share", "Share of losses", "percent"),
    Col("amount", "Amount lost", "money"),
)
WIN_HEADLINE = (
    Col("won", "Won"),
    Col("lost", "Lost"),
    Col("win_rate", "Win rate", "percent"),
    Col("won_amount", "Revenue won", "money"),
    Col("average_won", "Average deal size (won)", "money"),
    Col("cycle_won", "Sales cycle, won (days)", "days"),
    Col("cycle_lost", "Sales cycle, lost (days)", "days"),
)


def _closed_groups(actor: Any, filters: Filters, conv: Converter, start: dt.date, end: dt.date, *by: str) -> Any:
    """Deals won or lost between ``start`` and ``end``, grouped by ``by``, currency and rate period."""
    return (
        visible_deals(actor, filters)
        .filter(status__in=("won", "lost"), closed_on__gte=start, closed_on__lte=end)
        .annotate(rate_period=conv.expression("closed_on"), cycle=DaysBetween("created_at", "closed_on"))
        .values(*by, "status", "currency", "rate_period")
        .annotate(
            n=Count("id"),
            amounted=Count("amount"),
            total=Sum("amount", output_field=AMOUNT),
            cycle_days=Sum("cycle"),
        )
        .order_by()
    )


def win_loss(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    counts: dict[str, int] = defaultdict(int)
    sized: dict[str, int] = defaultdict(int)  # deals with an amount that could be converted
    cycle: dict[str, float] = defaultdict(float)
    reasons: dict[int | None, int] = defaultdict(int)
    for g in _closed_groups(actor, filters, conv, filters.start, filters.end, "lost_reason_id"):
        status = g["status"]
        counts[status] += g["n"]
        cycle[status] += g["cycle_days"] or 0
        if g["amounted"]:
            unconverted = not conv.add(status, g["total"], g["currency"], g["rate_period"], g["amounted"])
            if not unconverted:
                sized[status] += g["amounted"]
                if status == "lost":
                    conv.add(("reason", g["lost_reason_id"]), g["total"], g["currency"], g["rate_period"], 0)
        if status == "lost":
            reasons[g["lost_reason_id"]] += g["n"]
    won, lost = counts["won"], counts["lost"]
    names = dict(LostReason.objects.filter(pk__in=[k for k in reasons if k]).values_list("pk", "name"))
    rows = [
        Row(
            str(pk or "none"),
            names.get(pk, "No reason") if pk else "No reason",
            {"lost": n, "share": ratio(n, lost), "amount": conv.total(("reason", pk))},
            {"lost": _closed_link(filters, "lost", filters.start, filters.end, ("lost_reason", str(pk)))} if pk else {},
        )
        for pk, n in sorted(reasons.items(), key=lambda kv: (-kv[1], names.get(kv[0] or 0, "")))
    ]
    won_amount = conv.total("won")
    won_link = _closed_link(filters, "won", filters.start, filters.end)
    lost_link = _closed_link(filters, "lost", filters.start, filters.end)
    values = {
        "won": won,
        "lost": lost,
        "win_rate": ratio(won, won + lost),
        "won_amount": won_amount,
        "average_won": per(won_amount, sized["won"]),
        "cycle_won": per(Decimal(str(cycle["won"])), won),
        "cycle_lost": per(Decimal(str(cycle["lost"])), lost),
    }
    links = {"won": won_link, "lost": lost_link, "won_amount": won_link, "average_won": won_link}
    summary = [(c, values[c.key], links.get(c.key, "")) for c in WIN_HEADLINE]
    return Result("win-loss", filters, list(WIN_COLS), rows, summary, conv.base, conv.unconverted)


report(
    Report(
        "win-loss",
        "Win rate and loss reasons",
        "Deals won and lost, win rate, average deal size, sales cycle, and why deals were lost.",
        win_loss,
        WIN_COLS,
        WIN_HEADLINE,
        definitions=(
            ("Won, lost", "Deals won or lost with a close date (closed on) in the period."),
            ("Win rate", "Won ÷ (won + lost)."),
            ("Revenue won", "The amounts of the won deals, in the base currency at the rate of each close date."),
            ("Average deal size", "Revenue won ÷ the number of won deals that have an amount."),
            ("Sales cycle", "Average whole days from the day a deal was created (UTC) to its close date."),
            ("Loss reasons", "The lost deals per reason, with their share of all losses and their amounts."),
        ),
    )
)


# --- pipeline per period --------------------------------------------------------------------------------
TREND_COLS = (
    Col("created", "Created", "count"),
    Col("created_amount", "Pipeline created", "money", chart=True),
    Col("won", "Won", "count"),
    Col("won_amount", "Revenue won", "money", chart=True),
    Col("lost", "Lost", "count"),
    Col("lost_amount", "Amount lost", "money", chart=True),
)


def pipeline_trend(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    buckets = periods(filters)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    deals = visible_deals(actor, filters)
    created = (
        deals.filter(created_at__gte=filters.start_moment(), created_at__lt=filters.end_moment())
        .annotate(
            bucket=bucket_index(buckets, "created_at", moments=True),
            rate_period=conv.expression("created_at", moments=True),
        )
        .values("bucket", "currency", "rate_period")
        .annotate(n=Count("id"), total=Sum("amount", output_field=AMOUNT))
        .order_by()
    )
    for g in created:
        b = bucket_at(buckets, g["bucket"])
        if b is None:
            continue
        counts[(b.key, "created")] += g["n"]
        conv.add((b.key, "created_amount"), g["total"], g["currency"], g["rate_period"], g["n"])
    closed = (
        deals.filter(status__in=("won", "lost"), closed_on__gte=filters.start, closed_on__lte=filters.end)
        .annotate(bucket=bucket_index(buckets, "closed_on"), rate_period=conv.expression("closed_on"))
        .values("bucket", "status", "currency", "rate_period")
        .annotate(n=Count("id"), total=Sum("amount", output_field=AMOUNT))
        .order_by()
    )
    for g in closed:
        b = bucket_at(buckets, g["bucket"])
        if b is None:
            continue
        counts[(b.key, g["status"])] += g["n"]
        conv.add((b.key, f"{g['status']}_amount"), g["total"], g["currency"], g["rate_period"], g["n"])
    rows = []
    for b in buckets:
        start, end = max(b.start, filters.start), min(b.end, filters.end)
        values: dict[str, Any] = {
            "created": counts[(b.key, "created")],
            "won": counts[(b.key, "won")],
            "lost": counts[(b.key, "lost")],
        }
        for key in ("created_amount", "won_amount", "lost_amount"):
            values[key] = conv.total((b.key, key))
        links = {
            "created": _created_link(filters, start, end),
            "won": _closed_link(filters, "won", start, end),
            "lost": _closed_link(filters, "lost", start, end),
        }
        links.update({f"{k}_amount": v for k, v in links.items()})
        rows.append(Row(b.key, b.label, values, {k: v for k, v in links.items() if values[k.removesuffix("_amount")]}))
    total = {c.key: sum((r.values[c.key] for r in rows), Decimal(0) if c.kind == "money" else 0) for c in TREND_COLS}
    summary = [(c, total[c.key], "") for c in TREND_COLS]
    result = Result("pipeline", filters, list(TREND_COLS), rows, summary, conv.base, conv.unconverted, chart="line")
    if not any(total.values()):
        result.rows = []
    return result


report(
    Report(
        "pipeline",
        "Pipeline created, won and lost",
        "Per month or quarter: deals created, won and lost, and the revenue won.",
        pipeline_trend,
        TREND_COLS,
        TREND_COLS,
        default_period="last_12_months",
        per_period=True,
        definitions=(
            (
                "Created",
                "Deals created in the month or quarter (in your time zone), with their amounts at the "
                "rate of their creation day.",
            ),
            ("Won, lost", "Deals won or lost with a close date in the month or quarter, at the rate of that day."),
            ("Revenue won", "The amounts of the won deals."),
        ),
    )
)


# --- revenue per product ----------------------------------------------------------------------------
PRODUCT_COLS = (
    Col("revenue", "Revenue won", "money", chart=True),
    Col("quantity", "Quantity", "number"),
    Col("deals", "Won deals", "count"),
)

PRODUCT_HEADLINE = (Col("revenue", "Revenue won from line items", "money"),)


def products(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    won = visible_deals(actor, filters).filter(status="won", closed_on__gte=filters.start, closed_on__lte=filters.end)
    net = F("quantity") * F("unit_price") * (100 - F("discount_percent")) / 100
    groups = (
        LineItem.objects.filter(deal__in=won)
        .annotate(rate_period=conv.expression("deal__closed_on"))
        .values("product_id", "deal__currency", "rate_period")
        .annotate(
            revenue=Sum(net, output_field=AMOUNT), quantity=Sum("quantity"), deals=Count("deal_id", distinct=True)
        )
        .order_by()
    )
    quantity: dict[int | None, Decimal] = defaultdict(Decimal)
    deal_count: dict[int | None, int] = defaultdict(int)
    for g in groups:
        pid = g["product_id"]
        conv.add(pid, g["revenue"], g["deal__currency"], g["rate_period"], g["deals"])
        quantity[pid] += Decimal(g["quantity"] or 0)
        deal_count[pid] += g["deals"]  # a deal with lines in two currencies' periods is one deal: one group
    names: dict[int | None, str] = {None: "Lines without a product"}
    for p in Product.objects.filter(pk__in=[k for k in quantity if k]).only("pk", "name", "owner_id", "team_id"):
        names[p.pk] = p.name if sees(actor, "products", p.owner_id, p.team_id) else f"#{p.pk}"
    rows = [
        Row(
            str(pid or "none"),
            names.get(pid, f"#{pid}"),
            {"revenue": conv.total(pid), "quantity": quantity[pid], "deals": deal_count[pid]},
        )
        for pid in quantity
    ]
    rows.sort(key=lambda r: (-r.values["revenue"], r.label))
    total = sum((r.values["revenue"] for r in rows), Decimal(0))
    won_link = _closed_link(filters, "won", filters.start, filters.end)
    summary = [(PRODUCT_HEADLINE[0], total, won_link if rows else "")]
    return Result("products", filters, list(PRODUCT_COLS), rows, summary, conv.base, conv.unconverted)


report(
    Report(
        "products",
        "Revenue per product",
        "What the won deals' line items sold, per product.",
        products,
        PRODUCT_COLS,
        PRODUCT_HEADLINE,
        definitions=(
            (
                "Revenue",
                "Net of the line items (quantity × unit price − discount) of the deals won in the "
                "period, at the rate of each deal's close date. Deals without line items are not counted.",
            ),
            ("Won deals", "How many won deals have a line of the product."),
        ),
    )
)


# --- lead sources ----------------------------------------------------------------------------------------
SOURCE_COLS = (
    Col("leads", "New people", "count", chart=True),
    Col("deals", "New deals", "count", chart=True),
    Col("won", "Won", "count"),
    Col("revenue", "Revenue won", "money"),
    Col("lead_to_deal", "Deals per lead", "percent"),
    Col("win_rate", "Won of new deals", "percent"),
)

SOURCE_HEADLINE = (Col("leads", "New people"), Col("deals", "New deals"), Col("revenue", "Revenue won", "money"))


def sources(actor: Any, filters: Filters) -> Result:
    conv = Converter()
    window = Q(created_at__gte=filters.start_moment(), created_at__lt=filters.end_moment())
    leads = dict(
        Person.objects.visible_to(actor)
        .filter(filters.record_q(), window)
        .values("source")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("source", "n")
    )
    deal_counts: dict[str, int] = defaultdict(int)
    won: dict[str, int] = defaultdict(int)
    groups = (
        visible_deals(actor, filters)
        .filter(window)
        .annotate(rate_period=conv.expression("closed_on"))
        .values("source", "status", "currency", "rate_period")
        .annotate(n=Count("id"), total=Sum("amount", output_field=AMOUNT))
        .order_by()
    )
    for g in groups:
        deal_counts[g["source"]] += g["n"]
        if g["status"] == "won":
            won[g["source"]] += g["n"]
            conv.add(g["source"], g["total"], g["currency"], g["rate_period"], g["n"])
    keys = sorted(set(leads) | set(deal_counts), key=lambda s: (s == "", s.lower()))
    created = [("created__after", filters.start.isoformat()), ("created__before", filters.end.isoformat())]
    rows = []
    for source in keys:
        n_leads, n_deals = leads.get(source, 0), deal_counts[source]
        values = {
            "leads": n_leads,
            "deals": n_deals,
            "won": won[source],
            "revenue": conv.total(source),
            "lead_to_deal": ratio(n_deals, n_leads),
            "win_rate": ratio(won[source], n_deals),
        }
        links: dict[str, str] = {}
        if source:
            if n_leads:
                links["leads"] = link("/people/", [("source", source), *created, *filters.list_params(pipeline=False)])
            if n_deals:
                links["deals"] = link("/deals/", [("source", source), *created, *filters.list_params()])
            if won[source]:
                links["won"] = link(
                    "/deals/", [("source", source), ("status", "won"), *created, *filters.list_params()]
                )
                links["revenue"] = links["won"]
        rows.append(Row(source or "none", source or "No source", values, links))
    figures = {
        "leads": sum(leads.values()),
        "deals": sum(deal_counts.values()),
        "revenue": sum((r.values["revenue"] for r in rows), Decimal(0)),
    }
    summary = [(c, figures[c.key], "") for c in SOURCE_HEADLINE]
    return Result("sources", filters, list(SOURCE_COLS), rows, summary, conv.base, conv.unconverted)


report(
    Report(
        "sources",
        "Lead source performance",
        "Per source: new people, new deals, deals won and their revenue.",
        sources,
        SOURCE_COLS,
        SOURCE_HEADLINE,
        definitions=(
            ("New people", "People created in the period, by their source."),
            ("New deals", "Deals created in the period, by their source."),
            (
                "Won, revenue won",
                "Of those new deals, the ones won by now, with their amounts at the rate of their close date.",
            ),
            ("Deals per lead", "New deals ÷ new people of the same source."),
        ),
    )
)


__all__ = ["Bucket"]
