"""The writes of duplicates: remembering likely pairs (scan, create anyway, import), "Not a duplicate",
and the scan itself. Pages, API, commands and jobs all call these."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rapport.core import registry, visibility
from rapport.core.errors import PermissionDenied
from rapport.core.registry import RecordType

from . import finder
from .models import DuplicateCandidate, DuplicateScan

log = logging.getLogger(__name__)

WRITE_BATCH = 1000


def checked_types(type_key: str = "") -> list[RecordType]:
    """The record types checked for duplicates (those declaring an identity), or just ``type_key``."""
    return [t for t in registry.all_types() if t.identity is not None and (not type_key or t.key == type_key)]


def store_pairs(type_key: str, pairs: Mapping[tuple[int, int], tuple[float, Sequence[str]]], *, found_by: str) -> int:
    """Add or refresh likely pairs (``{(a, b): (score, reasons)}``, any order of a and b): a new pair is
    open; a known one gets its new score and reasons and keeps its status, so a dismissed pair stays
    dismissed. Returns how many pairs were new."""
    rows = {}
    for (x, y), (score, reasons) in pairs.items():
        if x == y:
            continue
        a, b = (x, y) if x < y else (y, x)
        rows[(a, b)] = DuplicateCandidate(
            type_key=type_key, record_a=a, record_b=b, score=score, reasons=list(reasons), found_by=found_by
        )
    added = 0
    keys = list(rows)
    for start in range(0, len(keys), WRITE_BATCH):
        chunk = keys[start : start + WRITE_BATCH]
        lows = {a for a, _ in chunk}
        with transaction.atomic():
            known = set(
                DuplicateCandidate.objects.filter(type_key=type_key, record_a__in=lows).values_list(
                    "record_a", "record_b"
                )
            )
            added += sum(1 for key in chunk if key not in known)
            DuplicateCandidate.objects.bulk_create(
                [rows[key] for key in chunk],
                update_conflicts=True,
                unique_fields=["type_key", "record_a", "record_b"],
                update_fields=["score", "reasons"],
            )
    return added


def remember_matches(rtype: RecordType, record_id: int, matches: Iterable[finder.Match], *, found_by: str) -> int:
    """The likely duplicates a user saw and overrode (create anyway) or an import met, as open pairs."""
    pairs = {(record_id, m.record_id): (m.score, m.reasons) for m in matches}
    return store_pairs(rtype.key, pairs, found_by=found_by)


def may_review(user: Any, type_key: str) -> bool:
    """May ``user`` work the queue of ``type_key`` (dismiss, merge)? Those who may change its records."""
    return bool(getattr(user, "is_authenticated", False) and user.scope_for(type_key, "change") is not None)


def dismiss(candidate: DuplicateCandidate, *, actor: Any) -> DuplicateCandidate:
    """Not a duplicate: the pair leaves the queue and no later scan brings it back. Only for users who
    may change both records' type and see both records (anything else is answered as a missing pair)."""
    rtype = registry.find(candidate.type_key)
    if rtype is None or not may_review(actor, rtype.key):
        raise PermissionDenied("You may not review these duplicates.")
    visible = rtype.model.objects.visible_to(actor).filter(pk__in=candidate.ids).count()
    if visible != 2:
        raise PermissionDenied("You may not review these duplicates.")
    if candidate.status == DuplicateCandidate.DISMISSED:
        return candidate
    candidate.status = DuplicateCandidate.DISMISSED
    candidate.dismissed_at = timezone.now()
    candidate.dismissed_by = actor
    candidate.save(update_fields=["status", "dismissed_at", "dismissed_by"])
    return candidate


# --- the scan ---------------------------------------------------------------------------------------------
def start_scan(*, actor: Any, type_key: str = "", full: bool = True) -> tuple[DuplicateScan, bool]:
    """Queue a scan (administrators; the nightly job passes SYSTEM). A scan already queued or running is
    returned instead of a second one: ``(scan, created)``. The caller enqueues the job on commit."""
    if actor is not visibility.SYSTEM and not actor.can_manage_settings():
        raise PermissionDenied("Only administrators start a duplicate scan.")
    with transaction.atomic():
        busy = DuplicateScan.objects.select_for_update().filter(
            status__in=[DuplicateScan.QUEUED, DuplicateScan.RUNNING]
        )
        current = busy.order_by("-id").first()
        if current is not None:
            return current, False
        by = None if actor is visibility.SYSTEM else actor
        return DuplicateScan.objects.create(type_key=type_key, full=full, started_by=by), True


def latest_scan() -> DuplicateScan | None:
    return DuplicateScan.objects.order_by("-id").first()


def run_scan(scan_id: int, *, final_attempt: bool = True) -> DuplicateScan:
    """Work a scan: per checked type, read every live record's profile, score the candidate pairs of
    the blocking (exact keys and sorted neighbourhoods), and add or refresh the likely pairs. An
    incremental scan (``full=False``) scores only pairs with a record changed since the last finished
    scan began; a full one also closes open scan pairs that no longer score (dismissed ones stay).
    Idempotent: running it again finds the same pairs."""
    scan = DuplicateScan.objects.get(pk=scan_id)
    if scan.status in (DuplicateScan.DONE, DuplicateScan.FAILED):
        return scan
    started = timezone.now()
    types = checked_types(scan.type_key)
    since = None
    if not scan.full:
        previous = (
            DuplicateScan.objects.filter(status=DuplicateScan.DONE, started_at__isnull=False)
            .exclude(pk=scan.pk)
            .order_by("-started_at")
            .first()
        )
        since = previous.started_at if previous is not None else None
    total = sum(t.model.objects.live().count() for t in types)
    DuplicateScan.objects.filter(pk=scan.pk).update(
        status=DuplicateScan.RUNNING, started_at=started, total=total, done=0, found=0, added=0, since=since
    )
    try:
        offset = 0
        for rtype in types:
            offset += _scan_type(scan, rtype, since=since, offset=offset)
    except Exception as exc:
        if final_attempt:
            _finish(scan.pk, DuplicateScan.FAILED, f"Stopped: {exc}")
        else:
            DuplicateScan.objects.filter(pk=scan.pk).update(error=f"Trying again after: {exc}")
        raise
    _finish(scan.pk, DuplicateScan.DONE, "")
    scan.refresh_from_db()
    return scan


def _scan_type(scan: DuplicateScan, rtype: RecordType, *, since: Any, offset: int) -> int:
    spec = finder.spec_for(rtype)
    began = time.monotonic()
    profiles = finder.load_profiles(spec, rtype.model.objects.live())
    n = len(profiles)
    loaded = time.monotonic() - began
    DuplicateScan.objects.filter(pk=scan.pk).update(done=offset + n // 2)
    expected = max(1, n * (finder.WINDOW - 1) * len(finder._orders(spec)))

    def progress(pairs: int) -> None:
        share = min(1.0, pairs / expected)
        DuplicateScan.objects.filter(pk=scan.pk).update(done=offset + n // 2 + int(share * (n - n // 2)))

    pairs = finder.scan(spec, profiles, changed_since=since, progress=progress)
    compared = time.monotonic() - began - loaded
    added = store_pairs(rtype.key, pairs, found_by=DuplicateCandidate.SCAN)
    if scan.full:
        _close_stale(rtype.key, pairs)
    DuplicateScan.objects.filter(pk=scan.pk).update(
        done=offset + n, found=F("found") + len(pairs), added=F("added") + added
    )
    log.info(
        "duplicate scan %s: %s %d records read in %.1fs, compared in %.1fs, %d likely pairs (%d new)",
        scan.pk,
        rtype.key,
        n,
        loaded,
        compared,
        len(pairs),
        added,
    )
    return n


def _close_stale(type_key: str, pairs: dict[tuple[int, int], Any]) -> None:
    """After a full scan: open pairs the scan found earlier that no longer score are removed (a pair
    from a create or an import stays until someone reviews it)."""
    stale = []
    open_pairs = DuplicateCandidate.objects.filter(
        type_key=type_key, status=DuplicateCandidate.OPEN, found_by=DuplicateCandidate.SCAN
    ).values_list("pk", "record_a", "record_b")
    for pk, a, b in open_pairs.iterator(chunk_size=5000):
        if (a, b) not in pairs:
            stale.append(pk)
    for start in range(0, len(stale), WRITE_BATCH):
        DuplicateCandidate.objects.filter(pk__in=stale[start : start + WRITE_BATCH]).delete()


def _finish(scan_id: int, status: str, error: str) -> None:
    DuplicateScan.objects.filter(pk=scan_id).update(status=status, error=error[:2000], finished_at=timezone.now())
