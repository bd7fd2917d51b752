"""Pre-aggregated deal figures: the dashboards and the builder read these instead of the deals when they can.

:class:`~.models.DealSummary` holds the deals per day of a date (created, expected close, closed) ×
status × stage × pipeline × owner × team × currency × exchange-rate stretch, counted and summed in
cents. Each deal's current contribution is kept in :class:`~.models.DealSummaryEntry`, so keeping
the summaries current is "make this deal's contribution match the deal": the new contribution minus
the old one is added to the buckets. That is idempotent and does not depend on the order events
arrive in, which the outbox (at least once) needs.

- **Kept current** by the event outbox (:func:`keep_current`, a ``jobs.events`` consumer: every write
  of a deal, its stage moves, deletes and restores), and every minute by :func:`reconcile` (deals
  changed since the last run, in case an event was missed or a write bypassed the outbox; a full
  :func:`rebuild` when the exchange-rate stretches or the time zone changed).
- **Read** by :func:`plan` / :func:`rows` for a report whose filters are only status, stage,
  pipeline, owner, team, currency and one date range, grouped by those and by that date, counting
  or summing/averaging the amount (optionally weighted by probability). Anything else, a viewer in a
  time zone other than the organisation's for the creation day, or summaries not built for the
  current exchange-rate stretches: ``None``, and the engine runs the live query.
- **Visibility** holds exactly: the summaries carry the deals' owner and team, and are filtered by
  the same rule (``core.visibility.scope_q``) as the deals.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import datetime as dt
import hashlib
import logging
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, IntegerField, Q, Sum, Value, When
from django.http import QueryDict
from django.utils import timezone

from rapport.core.listing import QueryError, build_filter, parse_day
from rapport.core.registry import RecordType
from rapport.core.visibility import scope_q
from rapport.forecasting.money import Rates

from .config import Config, GroupField
from .models import DealSummary, DealSummaryEntry, SummaryState

log = logging.getLogger(__name__)

# the deals' date columns a summary can be keyed on, by group path and by list filter
BASIS_OF_PATH = {"created_at": "c", "expected_close_date": "e", "closed_on": "x"}
BASIS_OF_FILTER = {"created": "c", "close_date": "e", "closed": "x"}
PLAIN_FILTERS = frozenset({"status", "stage", "pipeline", "owner", "team", "currency"})
GROUP_COLUMNS = frozenset({"owner_id", "team_id", "stage_id", "pipeline_id", "status", "currency"})
CHUNK = 2000


# --- what a deal adds ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    created_day: dt.date
    close_day: dt.date | None
    closed_day: dt.date | None
    rate_day: dt.date | None
    status: str
    stage_id: int
    pipeline_id: int
    owner_id: int | None
    team_id: int | None
    currency: str
    amount_cents: int | None
    probability: int


ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)
DEAL_FIELDS = (
    "id",
    "created_at",
    "expected_close_date",
    "closed_on",
    "status",
    "stage_id",
    "pipeline_id",
    "owner_id",
    "team_id",
    "currency",
    "amount",
    "probability",
)


def summary_zone() -> dt.tzinfo:
    """The zone whose days the creation day is counted in: the organisation's (``RAPPORT_TIME_ZONE``)."""
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


LAYOUT = "2"  # the buckets' layout: summaries built with another are rebuilt


def rates_key(rates: Rates) -> str:
    """The exchange-rate stretches the summaries are keyed by (their first days, and the base)."""
    days = ",".join(d.isoformat() for d in rates.change_days())
    return hashlib.sha1(f"{LAYOUT}:{rates.base}:{days}".encode(), usedforsecurity=False).hexdigest()


def rates_values_key(rates: Rates) -> str:
    """Every rate: a cached figure converted with them is stale when one changes."""
    parts = [rates.base]
    for currency in sorted(rates._days):
        parts += [currency, *(f"{d}={r}" for d, r in zip(rates._days[currency], rates._rates[currency], strict=True))]
    return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()


def stretch_day(days: Sequence[dt.date], day: dt.date | None) -> dt.date | None:
    """A day of the stretch (between two rate changes) holding ``day``: every day of a stretch has
    the same rates (``forecasting.money.RatePeriods``). None stays None (today's rate)."""
    if day is None:
        return None
    i = bisect.bisect_right(days, day)
    if i > 0:
        return days[i - 1]
    return days[0] - dt.timedelta(days=1) if days else dt.date(1970, 1, 1)


def entry_for(row: Mapping[str, Any], days: Sequence[dt.date], tz: dt.tzinfo) -> Entry:
    created = row["created_at"]
    if timezone.is_naive(created):
        created = timezone.make_aware(created, dt.UTC)
    amount = row["amount"]
    return Entry(
        created_day=created.astimezone(tz).date(),
        close_day=row["expected_close_date"],
        closed_day=row["closed_on"],
        rate_day=stretch_day(days, row["closed_on"] or row["expected_close_date"]),
        status=row["status"],
        stage_id=row["stage_id"],
        pipeline_id=row["pipeline_id"],
        owner_id=row["owner_id"],
        team_id=row["team_id"],
        currency=(row["currency"] or "").upper(),
        amount_cents=None if amount is None else int(Decimal(amount) * 100),
        probability=int(row["probability"] or 0),
    )


def _month(day: dt.date | None) -> dt.date | None:
    return None if day is None else day.replace(day=1)


def _iso(day: dt.date | None) -> str:
    return "-" if day is None else day.isoformat()


BUCKET_COLUMNS = (
    "key",
    "basis",
    "day",
    "month",
    "rate_day",
    "status",
    "stage_id",
    "pipeline_id",
    "owner_id",
    "team_id",
    "currency",
    "n",
    "n_amount",
    "amount_cents",
    "weighted_centi",
)


def buckets(entry: Entry) -> Iterable[tuple[str, tuple[Any, ...], tuple[int, int, int, int]]]:
    """The summary buckets ``entry`` counts in (one per basis): key, key columns, figures."""
    cents = entry.amount_cents
    figures = (1, 0 if cents is None else 1, cents or 0, (cents or 0) * entry.probability)
    days = (("c", entry.created_day), ("e", entry.close_day), ("x", entry.closed_day))
    # each date twice: per day ("c", "e", "x") and per month ("C", "E", "X": ``day`` is the month's first),
    # so a report over whole months (a quarter, a grouping by month) reads far fewer rows
    for basis, day in (*days, *((b.upper(), _month(d)) for b, d in days)):
        parts = (
            basis,
            _iso(day),
            _iso(entry.rate_day),
            entry.status,
            entry.stage_id,
            entry.pipeline_id,
            entry.owner_id if entry.owner_id is not None else "-",
            entry.team_id if entry.team_id is not None else "-",
            entry.currency,
        )
        key = "|".join(str(p) for p in parts)
        columns = (
            basis,
            day,
            _month(day),
            entry.rate_day,
            entry.status,
            entry.stage_id,
            entry.pipeline_id,
            entry.owner_id,
            entry.team_id,
            entry.currency,
        )
        yield key, columns, figures


def _db(value: Any) -> Any:
    if isinstance(value, dt.date) and connection.vendor == "sqlite":
        return value.isoformat()
    return value


# --- keeping them current -----------------------------------------------------------------------
def state() -> SummaryState:
    found = SummaryState.objects.order_by("pk").first()
    if found is None:
        found = SummaryState.objects.create()
    return found


_SNAPSHOT: contextvars.ContextVar[SummaryState | None] = contextvars.ContextVar("summary_state", default=None)


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """Read the summaries' state once for everything inside (a dashboard's widgets)."""
    token = _SNAPSHOT.set(SummaryState.objects.order_by("pk").first() or SummaryState())
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)


def usable(rates: Rates, found: SummaryState | None = None) -> SummaryState | None:
    """The summaries' state when they may be read with ``rates`` (else None: read the deals)."""
    found = found or _SNAPSHOT.get() or SummaryState.objects.order_by("pk").first()
    if found is None or found.built_at is None:
        return None
    if found.rates_key != rates_key(rates) or found.time_zone != settings.TIME_ZONE:
        return None
    return found


def _add(into: dict[str, tuple[tuple[Any, ...], list[int]]], entry: Entry, sign: int) -> None:
    for key, columns, figures in buckets(entry):
        sums = into.setdefault(key, (columns, [0, 0, 0, 0]))[1]
        for i, f in enumerate(figures):
            sums[i] += sign * f


def _apply(deltas: Mapping[str, tuple[tuple[Any, ...], list[int]]]) -> None:
    """Add each bucket's figures (negative to remove), inserting missing buckets, deleting empty ones."""
    table = DealSummary._meta.db_table
    cols = ", ".join(BUCKET_COLUMNS)
    marks = ", ".join(["%s"] * len(BUCKET_COLUMNS))
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ("n", "n_amount", "amount_cents", "weighted_centi"))
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT (key) DO UPDATE SET {sums}"  # noqa: S608
    params = [
        (key, *(_db(c) for c in columns), *figures)
        for key, (columns, figures) in sorted(deltas.items())
        if any(figures)
    ]
    if not params:
        return
    with connection.cursor() as cur:
        cur.executemany(sql, params)
    DealSummary.objects.filter(key__in=[p[0] for p in params], n__lte=0).delete()


def sync_deals(ids: Iterable[int]) -> int:
    """Make the summaries count these deals as they are now (live ones; deleted or gone ones not at
    all). Returns the number of deals whose contribution changed; does nothing while the summaries
    are not usable (:func:`reconcile` rebuilds them)."""
    from rapport.deals.models import Deal

    wanted = sorted(set(ids))
    if not wanted:
        return 0
    rates = Rates()
    changed = 0
    with transaction.atomic():
        found = SummaryState.objects.select_for_update().order_by("pk").first()
        if usable(rates, found) is None:
            return 0
        assert found is not None
        days = rates.change_days()
        tz = summary_zone()
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            rows = Deal.objects.filter(pk__in=chunk, deleted_at__isnull=True).values(*DEAL_FIELDS)
            new = {r["id"]: entry_for(r, days, tz) for r in rows}
            old = {
                e["deal_id"]: Entry(*(e[f] for f in ENTRY_FIELDS))
                for e in DealSummaryEntry.objects.filter(deal_id__in=chunk).values("deal_id", *ENTRY_FIELDS)
            }
            deltas: dict[str, tuple[tuple[Any, ...], list[int]]] = {}

            gone: list[int] = []
            upserts: list[DealSummaryEntry] = []
            for pk in chunk:
                before, after = old.get(pk), new.get(pk)
                if before == after:
                    continue
                changed += 1
                if before is not None:
                    _add(deltas, before, -1)
                if after is not None:
                    _add(deltas, after, 1)
                    upserts.append(DealSummaryEntry(deal_id=pk, **{f: getattr(after, f) for f in ENTRY_FIELDS}))
                else:
                    gone.append(pk)
            _apply(deltas)
            if gone:
                DealSummaryEntry.objects.filter(deal_id__in=gone).delete()
            if upserts:
                DealSummaryEntry.objects.filter(deal_id__in=[e.deal_id for e in upserts]).delete()
                DealSummaryEntry.objects.bulk_create(upserts)
        if changed:
            SummaryState.objects.filter(pk=found.pk).update(version=found.version + 1)
    return changed


def keep_current(event: Any) -> None:
    """The outbox consumer: a deal's event brings its contribution up to date (in a savepoint: a
    failure here leaves the other consumers' work alone and :func:`reconcile` repairs it)."""
    if event.type_key != "deals":
        return
    try:
        with transaction.atomic():
            sync_deals([event.record_id])
    except DatabaseError:
        log.exception("report summaries: deal %s not synced (the reconcile job will)", event.record_id)


def rebuild() -> int:
    """Recompute every summary from the live deals in one transaction; returns the deals counted."""
    from rapport.core import bulk
    from rapport.deals.models import Deal

    started = timezone.now()
    rates = Rates()
    days = rates.change_days()
    tz = summary_zone()
    totals: dict[str, tuple[tuple[Any, ...], list[int]]] = {}
    counted = 0
    with transaction.atomic():
        found = SummaryState.objects.select_for_update().order_by("pk").first() or SummaryState.objects.create()
        DealSummary.objects.all()._raw_delete(DealSummary.objects.db)
        DealSummaryEntry.objects.all()._raw_delete(DealSummaryEntry.objects.db)
        rows = Deal.objects.filter(deleted_at__isnull=True).values(*DEAL_FIELDS).order_by()
        batch: list[tuple[Any, ...]] = []
        for row in rows.iterator(chunk_size=5000):
            entry = entry_for(row, days, tz)
            counted += 1
            batch.append((row["id"], *(_db(v) for v in astuple(entry))))
            if len(batch) >= 5000:
                bulk.insert_rows(DealSummaryEntry._meta.db_table, ("deal_id", *ENTRY_FIELDS), batch)
                batch = []
            _add(totals, entry, 1)
        bulk.insert_rows(DealSummaryEntry._meta.db_table, ("deal_id", *ENTRY_FIELDS), batch)
        bulk.insert_rows(
            DealSummary._meta.db_table,
            BUCKET_COLUMNS,
            [(key, *(_db(c) for c in columns), *figures) for key, (columns, figures) in totals.items()],
        )
        found.built_at = timezone.now()
        found.rates_key = rates_key(rates)
        found.time_zone = settings.TIME_ZONE
        found.version += 1
        found.reconciled_at = started
        found.save()
    return counted


def reconcile(*, margin: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """The periodic check: rebuild when the summaries are not usable (never built, new exchange-rate
    stretches, another time zone), else re-sync the deals changed since the last run (and drop deals
    purged from the recycle bin). Returns the deals synced or counted."""
    from rapport.deals.models import Deal

    rates = Rates()
    found = state()
    if usable(rates, found) is None:
        return rebuild()
    started = timezone.now()
    since = (found.reconciled_at or started) - margin
    ids = list(Deal.objects.filter(updated_at__gte=since).values_list("id", flat=True))
    purged = list(
        DealSummaryEntry.objects.exclude(deal_id__in=Deal.objects.values("id")).values_list("deal_id", flat=True)
    )
    synced = sync_deals(ids + purged)
    SummaryState.objects.filter(pk=found.pk).update(reconciled_at=started)
    return synced


# --- reading them -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """A report the summaries answer: the basis, the filter on the plain columns, the date range."""

    basis: str
    where: Q
    start: dt.date | None
    end: dt.date | None


def plan(rtype: RecordType, config: Config, params: Sequence[tuple[str, str]], user: Any, tz: dt.tzinfo) -> Plan | None:
    """How the summaries answer this report for ``user``, or None when they cannot."""
    if rtype.key != "deals":
        return None
    if config.op not in ("count", "sum", "avg"):
        return None
    if config.op != "count" and config.measure != "amount":
        return None
    if config.weight not in ("", "probability"):
        return None
    from .config import group_fields

    basis = ""
    fields = group_fields(rtype)
    for g in config.group_by:
        spec = fields.get(g.field)
        if spec is None or spec.custom is not None:
            return None
        if spec.is_date:
            found = BASIS_OF_PATH.get(spec.path)
            if found is None or (basis and basis != found):
                return None
            basis = found
        elif spec.path not in GROUP_COLUMNS:
            return None
    plain = QueryDict(mutable=True)
    start: dt.date | None = None
    end: dt.date | None = None
    for name, value in params:
        if value == "":
            continue
        base, _, op = name.partition("__")
        if base in BASIS_OF_FILTER and op in ("after", "gte", "before", "lte"):
            found = BASIS_OF_FILTER[base]
            if basis and basis != found:
                return None
            basis = found
            try:
                day = parse_day(name, value)
            except QueryError:
                return None
            if op in ("after", "gte"):
                start = day if start is None else max(start, day)
            else:
                end = day if end is None else min(end, day)
        elif base in PLAIN_FILTERS and not op:
            plain[name] = value
        else:
            return None
    basis = basis or "c"
    if basis == "c" and getattr(tz, "key", "UTC" if tz is dt.UTC else None) != settings.TIME_ZONE:
        return None  # creation days are counted in the organisation's zone only
    whole_months = (start is None or start.day == 1) and (end is None or (end + dt.timedelta(days=1)).day == 1)
    if whole_months and all(g.granularity in ("", "month", "quarter", "year") for g in config.group_by):
        basis = basis.upper()
    try:
        where = build_filter(rtype, plain, user)
    except QueryError:
        return None
    return Plan(basis, where, start, end)


def _truncate(day: dt.date | None, granularity: str) -> dt.date | None:
    if day is None:
        return None
    if granularity == "week":
        return day - dt.timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if granularity == "year":
        return dt.date(day.year, 1, 1)
    return day


def rows(
    found: Plan,
    config: Config,
    groups: Sequence[tuple[GroupField, str]],
    user: Any,
    *,
    previous: Plan | None = None,
) -> list[dict[str, Any]] | None:
    """The report's raw rows from the summaries, as the engine's live query returns them (``g0``,
    ``g1`` the group keys, ``_n``, ``_v``, ``_sum``, and for money ``_cur`` and ``_rday``), plus
    ``_p`` = 1 for the rows of ``previous`` (a second date range read by the same query)."""
    scope = scope_q(user, "deals", "view")
    if scope is None:
        return []
    qs = DealSummary.objects.filter(scope, found.where, basis=found.basis)

    def span(p: Plan) -> Q:
        q = Q()
        if p.start is not None:
            q &= Q(day__gte=p.start)
        if p.end is not None:
            q &= Q(day__lte=p.end)
        return q

    names: list[str] = []
    for spec, granularity in groups:
        names.append(("day" if granularity in ("day", "week") else "month") if spec.is_date else spec.path)
    annotations: dict[str, Any] = {}
    if previous is not None:
        current_q = span(found)
        qs = qs.filter(current_q | span(previous))
        annotations["_p"] = Case(When(current_q, then=Value(0)), default=Value(1), output_field=IntegerField())
    else:
        qs = qs.filter(span(found))
    money = config.op != "count"
    value_column = "weighted_centi" if config.weight else "amount_cents"
    aggregates: dict[str, Any] = {"_n": Sum("n"), "_v": Sum("n_amount")}
    if money:
        aggregates["_sum"] = Sum(value_column)
    columns = list(dict.fromkeys(names)) + (["currency", "rate_day"] if money else []) + list(annotations)
    if annotations:
        qs = qs.annotate(**annotations)
    raw = list(qs.values(*columns).annotate(**aggregates).order_by()) if columns else [qs.aggregate(**aggregates)]
    scale = Decimal(10_000 if config.weight else 100)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in raw:
        if not r.get("_n"):
            continue
        keys = tuple(
            _truncate(r[name], granularity) if spec.is_date else r[name]
            for name, (spec, granularity) in zip(names, groups, strict=True)
        )
        ident = (*keys, r.get("currency"), r.get("rate_day"), r.get("_p", 0))
        out = merged.get(ident)
        if out is None:
            out = merged[ident] = {f"g{i}": k for i, k in enumerate(keys)}
            out.update(_n=0, _v=0, _sum=Decimal(0) if money else None, _p=r.get("_p", 0))
            if money:
                out.update(_cur=r["currency"], _rday=r["rate_day"])
        out["_n"] += int(r["_n"])
        out["_v"] += int(r["_v"] or 0)
        if money:
            out["_sum"] += Decimal(int(r["_sum"] or 0)) / scale
    for out in merged.values():
        if money and not out["_v"]:
            out["_sum"] = None
    return list(merged.values())


def data_version() -> tuple[Any, ...] | None:
    """What a cached figure read from the summaries depends on: their build and every change since."""
    found = _SNAPSHOT.get()
    if found is not None:
        return None if found.built_at is None else (found.built_at, found.version, found.rates_key)
    return SummaryState.objects.order_by("pk").values_list("built_at", "version", "rates_key").first()
