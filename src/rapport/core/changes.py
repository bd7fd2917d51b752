"""The sync cursor over the event log: which records of a type changed after a position, each at its
latest change, in the order changes became visible — so a client that keeps the cursor mirrors a
type without reading every record again (``GET /api/v1/<type>/changes/``, api/changes.py).

A position is (transaction, event id) on PostgreSQL and the event id on SQLite (migration
core/0008 explains why). Positions are handed out only below the oldest transaction still running,
so an event committed later can never land behind a cursor a client already holds.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from django.db import connection

from .listing import QueryError

Position = tuple[int, int]  # (transaction id, event id); the transaction is 0 on SQLite
START: Position = (0, 0)

# Events after a position, visible and handed out: on PostgreSQL only those of transactions that
# ended before the oldest one still running (the page's own transaction aside: it may read what it
# wrote itself), in the order (transaction, id).
_EVENTS_SQL = {
    "postgresql": (
        "SELECT commit_txid::text::bigint, id, record_id FROM core_event "
        "WHERE type_key = %s AND (commit_txid, id) > (%s::text::xid8, %s) "
        "AND (commit_txid < pg_snapshot_xmin(pg_current_snapshot()) "
        "OR commit_txid = pg_current_xact_id_if_assigned()) "
        "ORDER BY commit_txid, id LIMIT %s"
    ),
    "sqlite": "SELECT 0, id, record_id FROM core_event WHERE type_key = %s AND id > %s ORDER BY id LIMIT %s",
}


@dataclass
class ChangedPage:
    """A page of the feed: ``events`` the records changed, each with the id of its latest event in
    the page (in the order of those events), ``cursor`` the position after the page, ``more``
    whether events after it are already there to read."""

    events: dict[int, int]
    cursor: str
    more: bool


def encode(position: Position) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(position))).decode().rstrip("=")


def decode(raw: str | None) -> Position:
    """The position a cursor names; the start of the log without one."""
    if not raw:
        return START
    try:
        value = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise QueryError("cursor", "this cursor is not valid.")
    if not isinstance(value, list) or len(value) != 2 or not all(type(v) is int and 0 <= v < 2**63 for v in value):
        raise QueryError("cursor", "this cursor is not valid.")
    return value[0], value[1]


def changed_records(type_key: str, cursor: str | None, size: int) -> ChangedPage:
    """The records of ``type_key`` whose changes come after ``cursor``, ``size`` events at a time.

    A record appears at its latest visible change only: an earlier event of it in this page is
    skipped (the record comes with the later one), so one pass over the log names each record once,
    and again only when it changed after it was named. Callers read the records, then call
    :func:`latest_of` to drop those changed meanwhile (see ``api/changes.py``)."""
    txid, event_id = decode(cursor)
    vendor = connection.vendor
    with connection.cursor() as c:
        if vendor == "postgresql":
            c.execute(_EVENTS_SQL[vendor], [type_key, str(txid), event_id, size + 1])
        else:
            c.execute(_EVENTS_SQL["sqlite"], [type_key, event_id, size + 1])
        rows = c.fetchall()
    more = len(rows) > size
    rows = rows[:size]
    position = (rows[-1][0], rows[-1][1]) if rows else (txid, event_id)
    latest: dict[int, int] = {}
    for _, eid, record_id in rows:
        latest.pop(record_id, None)  # rows are in order: a record's last row here is its latest
        latest[record_id] = eid
    return ChangedPage(events=latest, cursor=encode(position), more=more)


def latest_of(type_key: str, events: dict[int, int]) -> set[int]:
    """Of ``{record id: event id}``, the records whose event is still their latest visible one.

    Writes to one record are serialised by its row lock, so its events' ids are in commit order and
    the latest is the highest id. A record whose later event is visible but not yet handed out (on
    PostgreSQL, behind a transaction still running) is left for that event's page."""
    if not events:
        return set()
    ids: Sequence[int] = list(events)
    placeholders = ", ".join(["%s"] * len(ids))
    with connection.cursor() as c:
        c.execute(
            f"SELECT record_id, MAX(id) FROM core_event WHERE type_key = %s AND record_id IN ({placeholders}) "  # noqa: S608
            "GROUP BY record_id",
            [type_key, *ids],
        )
        return {record_id for record_id, top in c.fetchall() if top == events[record_id]}
