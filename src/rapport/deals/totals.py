"""The board's column figures and the forecast's figures kept current by the write path (``StageTotal``,
``ForecastTotal``): each write of a deal adds its contribution to a row per (stage, team, owner, currency,
rate period) — open deals — and to a row per (month, team, owner, currency, figure, rate period) — won
deals by month closed, open ones by month of expected close and forecast category — in the same
transaction, so the board's totals and a forecast read a few rows instead of every deal.

A deal contributes to the board while it is live and open, to the forecast while it is live, priced and
won (with a close date) or open (with an expected close date, not omitted). The period is the first day of
the stretch of days without an exchange-rate change (``forecasting.money.RatePeriods``) holding its expected
close date (the forecast's won deals: their close date), computed by the database in the same statement;
adding or deleting a rate moves the stretches, so the rate services :func:`rebuild` the tables.
:func:`rebuild` is also the reconcile: ``differences`` compares the tables with the deals (the periodic job
and the tests use it), and bulk loaders that write rows directly rebuild after. Both tables are kept,
compared and rebuilt together.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, Sum

from rapport.forecasting.models import ExchangeRate
from rapport.forecasting.money import Rates, base_currency

from .models import Deal, ForecastTotal, StageTotal

NO_DAY = dt.date(9999, 12, 31)  # no expected close date: converted at today's rate
BEFORE_RATES = dt.date(1, 1, 1)  # before the first rate change: no rate in force (base currency aside)

Key = tuple[int, int, int, str, dt.date | None]  # stage, team, owner, currency, expected close date
Amounts = tuple[int, int, int, int]  # n, priced, total cents, cents × probability


def contribution(deal: Deal | dict[str, Any] | None) -> tuple[Key, Amounts] | None:
    """What a deal in this state adds to the table (None: it adds nothing)."""
    if deal is None:
        return None
    s = deal if isinstance(deal, dict) else state_of(deal)
    if s is None or s["status"] != "open":
        return None
    cents = None if s["amount"] is None else int(Decimal(s["amount"]) * 100)
    key = (s["stage_id"], s["team_id"] or 0, s["owner_id"] or 0, s["currency"], s["expected_close_date"])
    return key, (1, 0 if cents is None else 1, cents or 0, (cents or 0) * int(s["probability"] or 0))


FieldKey = tuple[int, int, str, str, dt.date]  # team, owner, currency, figure, day (close or expected close)
FieldAmounts = tuple[int, int, int]  # n, total cents, cents × probability


def forecast_contribution(deal: Mapping[str, Any] | None) -> tuple[FieldKey, FieldAmounts] | None:
    """What a deal in this state adds to the forecast's table (None: it adds nothing) — the deals that
    ``forecasting.forecast.compute`` counts: priced, and won with a close date, or open with an expected
    close date and not omitted."""
    if deal is None or deal["amount"] is None:
        return None
    if deal["status"] == "won" and deal["closed_on"] is not None:
        figure, day = "won", deal["closed_on"]
    elif (
        deal["status"] == "open" and deal["expected_close_date"] is not None and deal["forecast_category"] != "omitted"
    ):
        figure, day = deal["forecast_category"], deal["expected_close_date"]
    else:
        return None
    cents = int(Decimal(deal["amount"]) * 100)
    key = (deal["team_id"] or 0, deal["owner_id"] or 0, deal["currency"], figure, day)
    return key, (1, cents, cents * int(deal["probability"] or 0))


FIELDS = (
    "stage_id",
    "team_id",
    "owner_id",
    "currency",
    "expected_close_date",
    "amount",
    "probability",
    "status",
    "forecast_category",
    "closed_on",
)
# The history diff's name of each field (its snapshot key) when it is not the attribute's own name.
CHANGE_KEYS = {"stage_id": "stage", "team_id": "team", "owner_id": "owner"}


def state_of(deal: Deal, *, live: bool = False) -> dict[str, Any] | None:
    """The fields that decide a deal's contribution; None for a binned deal (unless ``live``)."""
    if deal.deleted_at is not None and not live:
        return None
    return {name: getattr(deal, name) for name in FIELDS}


KEEP: Any = object()  # state_before's team_before when the write left the team as it was


def state_before(deal: Deal, changes: dict[str, Any], team_before: Any = KEEP) -> dict[str, Any] | None:
    """The deal's state before a write, from its state after and the write's history diff (JSON values);
    ``team_before`` is the team before an update that gave the deal its new owner's team (the team is
    not in the diff)."""
    state = state_of(deal)
    if state is None:
        return None
    for name in FIELDS:
        key = CHANGE_KEYS.get(name, name)
        if key in changes:
            value = changes[key][0]
            if name in ("expected_close_date", "closed_on") and value is not None:
                value = dt.date.fromisoformat(value)
            state[name] = value
    if "team" not in changes and team_before is not KEEP:
        state["team_id"] = team_before
    return state


def apply(before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """Move a deal's contribution from its state ``before`` a write to its state ``after`` it, in both
    tables: per table, no statement when the write changed nothing that counts there, one when only the
    amounts changed, two when the deal moved to another row (a stage, owner, currency or date)."""
    _move(contribution(before), contribution(after), _add)
    _move(forecast_contribution(before), forecast_contribution(after), _add_forecast)


def _move(old: Any, new: Any, add: Any) -> None:
    if old == new:
        return
    if old is not None and new is not None and old[0] == new[0]:
        add(old[0], tuple(b - a for a, b in zip(old[1], new[1], strict=True)))
        return
    if old is not None:
        add(old[0], tuple(-v for v in old[1]))
    if new is not None:
        add(new[0], new[1])


def _table() -> str:
    return connection.ops.quote_name(StageTotal._meta.db_table)


def _period_sql(day: dt.date | None) -> tuple[str, list[Any]]:
    """SQL for the rate period of ``day``, with its parameters."""
    if day is None:
        return "%s", [connection.ops.adapt_datefield_value(NO_DAY)]
    rates = connection.ops.quote_name(ExchangeRate._meta.db_table)
    # The stretch's first day: the last day on or before the close date on which some rate changed.
    sql = f"COALESCE((SELECT MAX(valid_from) FROM {rates} WHERE currency <> %s AND valid_from <= %s), %s)"  # noqa: S608
    return sql, [
        base_currency(),
        connection.ops.adapt_datefield_value(day),
        connection.ops.adapt_datefield_value(BEFORE_RATES),
    ]


def _add(key: Key, amounts: tuple[int, ...]) -> None:
    stage_id, team_id, owner_id, currency, day = key
    table = _table()
    period_sql, period_params = _period_sql(day)
    sql = (
        f"INSERT INTO {table} (stage_id, team_id, owner_id, currency, period, n, priced, total, weighted) "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, {period_sql}, %s, %s, %s, %s) "
        "ON CONFLICT (stage_id, team_id, owner_id, currency, period) DO UPDATE SET "
        f"n = {table}.n + excluded.n, priced = {table}.priced + excluded.priced, "
        f"total = {table}.total + excluded.total, weighted = {table}.weighted + excluded.weighted"
    )
    with connection.cursor() as c:
        c.execute(sql, [stage_id, team_id, owner_id, currency, *period_params, *amounts])


def _add_forecast(key: FieldKey, amounts: tuple[int, ...]) -> None:
    team_id, owner_id, currency, figure, day = key
    table = connection.ops.quote_name(ForecastTotal._meta.db_table)
    period_sql, period_params = _period_sql(day)
    sql = (
        f"INSERT INTO {table} (month, team_id, owner_id, currency, figure, period, n, total, weighted) "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, %s, {period_sql}, %s, %s, %s) "
        "ON CONFLICT (month, team_id, owner_id, currency, figure, period) DO UPDATE SET "
        f"n = {table}.n + excluded.n, total = {table}.total + excluded.total, "
        f"weighted = {table}.weighted + excluded.weighted"
    )
    month = connection.ops.adapt_datefield_value(day.replace(day=1))
    with connection.cursor() as c:
        c.execute(sql, [month, team_id, owner_id, currency, figure, *period_params, *amounts])


# --- reading -------------------------------------------------------------------------------------
def period_day(period: dt.date, today: dt.date) -> dt.date:
    """The day whose rates convert a row of ``period``."""
    return today if period == NO_DAY else period


def stage_sums(stage_ids: list[int], scope: Q) -> list[dict[str, Any]]:
    """Per (stage, currency, period): n, priced, total and weighted of the open deals within ``scope``
    (the visibility rule over the table's team_id/owner_id)."""
    rows: Any = (
        StageTotal.objects.filter(scope, stage_id__in=stage_ids)
        .values("stage_id", "currency", "period")
        .annotate(sn=Sum("n"), sp=Sum("priced"), st=Sum("total"), sw=Sum("weighted"))
        .order_by()
    )
    return list(rows)


# --- reconcile ---------------------------------------------------------------------------------
def expected_rows() -> dict[tuple[int, int, int, str, dt.date], Amounts]:
    """The table as the deals say it should be (read from the deals: linear in open deals)."""
    days = Rates().change_days()

    out: dict[tuple[int, int, int, str, dt.date], list[int]] = {}
    rows = (
        Deal.objects.filter(deleted_at__isnull=True, status="open")
        .values("stage_id", "team_id", "owner_id", "currency", "expected_close_date", "probability", "amount")
        .annotate(n=Count("id"), priced=Count("amount"))
        .order_by()
    )
    for row in rows:
        day = row["expected_close_date"]
        if day is None:
            period = NO_DAY
        else:
            i = bisect.bisect_right(days, day) - 1
            period = days[i] if i >= 0 else BEFORE_RATES
        key = (row["stage_id"], row["team_id"] or 0, row["owner_id"] or 0, row["currency"], period)
        cents = 0 if row["amount"] is None else int(Decimal(row["amount"]) * 100)
        acc = out.setdefault(key, [0, 0, 0, 0])
        acc[0] += row["n"]
        acc[1] += row["priced"]
        acc[2] += cents * row["n"]
        acc[3] += cents * row["n"] * row["probability"]
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def expected_forecast_rows() -> dict[tuple[dt.date, int, int, str, str, dt.date], FieldAmounts]:
    """The forecast's table as the deals say it should be (read from the deals: linear in deals)."""
    days = Rates().change_days()
    out: dict[tuple[dt.date, int, int, str, str, dt.date], list[int]] = {}
    rows = (
        Deal.objects.filter(deleted_at__isnull=True, status__in=("open", "won"), amount__isnull=False)
        .values(
            "team_id",
            "owner_id",
            "currency",
            "status",
            "forecast_category",
            "expected_close_date",
            "closed_on",
            "amount",
            "probability",
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        found = forecast_contribution(row)
        if found is None:
            continue
        (team_id, owner_id, currency, figure, day), (_, cents, weighted) = found
        i = bisect.bisect_right(days, day) - 1
        key = (day.replace(day=1), team_id, owner_id, currency, figure, days[i] if i >= 0 else BEFORE_RATES)
        acc = out.setdefault(key, [0, 0, 0])
        acc[0] += row["n"]
        acc[1] += cents * row["n"]
        acc[2] += weighted * row["n"]
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def stored_rows() -> dict[tuple[int, int, int, str, dt.date], Amounts]:
    return {
        (r.stage_id, r.team_id, r.owner_id, r.currency, r.period): (r.n, r.priced, r.total, r.weighted)
        for r in StageTotal.objects.all()
        if (r.n, r.priced, r.total, r.weighted) != (0, 0, 0, 0)
    }


def stored_forecast_rows() -> dict[tuple[dt.date, int, int, str, str, dt.date], FieldAmounts]:
    return {
        (r.month, r.team_id, r.owner_id, r.currency, r.figure, r.period): (r.n, r.total, r.weighted)
        for r in ForecastTotal.objects.all()
        if (r.n, r.total, r.weighted) != (0, 0, 0)
    }


def differences() -> dict[Any, tuple[Any, Any]]:
    """{(table, key): (stored, expected)} where a table and the deals disagree; empty when they agree."""
    out: dict[Any, tuple[Any, Any]] = {}
    pairs: list[tuple[str, dict[Any, Any], dict[Any, Any]]] = [
        ("board", stored_rows(), expected_rows()),
        ("forecast", stored_forecast_rows(), expected_forecast_rows()),
    ]
    for name, stored, expected in pairs:
        for k in stored.keys() | expected.keys():
            if stored.get(k) != expected.get(k):
                out[(name, k)] = (stored.get(k), expected.get(k))
    return out


def rebuild() -> int:
    """Write both tables afresh from the deals (after a rate change, a bulk load, or a drift found by the
    reconcile); rows locked for the time of the rewrite. Returns the number of rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Deal writes that already added to the tables commit first (and are read below); those that
            # have not yet wait and add their change to the rebuilt rows. (SQLite: one writer at a time.)
            forecast_table = connection.ops.quote_name(ForecastTotal._meta.db_table)
            with connection.cursor() as c:
                c.execute(f"LOCK TABLE {_table()}, {forecast_table} IN EXCLUSIVE MODE")
        StageTotal.objects.all().delete()
        ForecastTotal.objects.all().delete()
        rows = [
            StageTotal(
                stage_id=k[0],
                team_id=k[1],
                owner_id=k[2],
                currency=k[3],
                period=k[4],
                n=v[0],
                priced=v[1],
                total=v[2],
                weighted=v[3],
            )
            for k, v in expected_rows().items()
        ]
        StageTotal.objects.bulk_create(rows, batch_size=500)
        forecast_rows = [
            ForecastTotal(
                month=k[0],
                team_id=k[1],
                owner_id=k[2],
                currency=k[3],
                figure=k[4],
                period=k[5],
                n=v[0],
                total=v[1],
                weighted=v[2],
            )
            for k, v in expected_forecast_rows().items()
        ]
        ForecastTotal.objects.bulk_create(forecast_rows, batch_size=500)
    return len(rows) + len(forecast_rows)
