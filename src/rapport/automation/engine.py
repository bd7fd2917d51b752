"""The rule engine: which active rules an event triggers, their conditions, and running their actions.

Rules never run on the write path: ``consume`` is an event consumer (``rapport.jobs.events``), called after the
write committed. For each event it looks at the active rules of the record's type — kept in memory and reloaded
at most every ``RULE_CACHE_SECONDS`` or when a rule changes in this process — so an event no rule wants costs a
dictionary lookup. Triggers and "changed from/to" are checked in Python on the event's diff; the list-filter
conditions of the rules still in play are checked in ONE query (an ``EXISTS`` per rule). A match becomes a
``RuleRun`` (once per rule and event), run by the ``run_rules`` job: each action in its own transaction that also
records its outcome, so a retried run never repeats an action that was done.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.http import QueryDict
from django.utils import timezone

from rapport.core import bulk, customfields, listing, registry
from rapport.core.models import Event, Record
from rapport.core.services import request_context

from .models import EVENT_TRIGGERS, Rule, RuleRun

logger = logging.getLogger("rapport.automation")

RULE_CACHE_SECONDS = 2.0
# Waits after failed attempt 1, 2, 3 of a run; after the last the run is failed (shown on the rule's log).
RETRY_SCHEDULE = [timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=10)]
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
LEASE = timedelta(minutes=5)
REQUEST_ID = re.compile(r"^rule-(\d+)-run-(\d+)$")


def max_depth() -> int:
    return int(getattr(settings, "RAPPORT_AUTOMATION_MAX_DEPTH", 5))


# --- the cache of active rules ------------------------------------------------------------------------------


@dataclass
class _Cache:
    loaded_at: float = -1e9
    stamp: Any = None
    by_type: dict[str, list[Rule]] = field(default_factory=dict)
    queries: dict[tuple[str, tuple[int, ...]], Any] = field(default_factory=dict)


_cache = _Cache()


def forget_rules() -> None:
    """A rule changed: reload on next use (this process now; others within RULE_CACHE_SECONDS)."""
    _cache.loaded_at = -1e9
    _cache.stamp = None


def active_rules(type_key: str) -> list[Rule]:
    """The active rules of a type, in order. Every RULE_CACHE_SECONDS one small query checks whether any rule
    changed (count, last change); only then are they read again, their conditions parsed once."""
    now = time.monotonic()
    if now - _cache.loaded_at > RULE_CACHE_SECONDS:
        stamp = Rule.objects.aggregate(n=Count("id"), on=Count("id", filter=Q(active=True)), at=Max("updated_at"))
        if stamp != _cache.stamp:
            by_type: dict[str, list[Rule]] = {}
            with customfields.memoized():
                for rule in Rule.objects.filter(active=True).select_related("created_by").order_by("position", "id"):
                    if rule.conditions.strip():
                        try:
                            conditions_q(rule)
                        except listing.QueryError as exc:  # a custom field deleted since: it cannot match
                            logger.warning("rule %s: conditions no longer valid (%s)", rule.pk, exc)
                    rule._cached = True  # type: ignore[attr-defined]
                    by_type.setdefault(rule.type_key, []).append(rule)
            _cache.by_type, _cache.stamp, _cache.queries = by_type, stamp, {}
        _cache.loaded_at = now
    return _cache.by_type.get(type_key, [])


# --- triggers and "changed from/to" -----------------------------------------------------------------------


def field_change(changes: dict[str, Any], name: str) -> tuple[bool, Any, Any]:
    """Whether ``name`` (a field, or ``cf_<key>`` for a custom field) changed in an event's diff, and how."""
    if name.startswith("cf_"):
        pair = changes.get("custom")
        if not isinstance(pair, list) or len(pair) != 2:
            return False, None, None
        before = (pair[0] or {}).get(name[3:])
        after = (pair[1] or {}).get(name[3:])
        return before != after, before, after
    pair = changes.get(name)
    if not isinstance(pair, list) or len(pair) != 2:
        return False, None, None
    return True, pair[0], pair[1]


def same_value(stored: Any, wanted: Any) -> bool:
    """A JSON value from a diff against a value a rule names: equal as given, as text, or as numbers
    (a diff holds amounts as "1000.00", ids as numbers)."""
    if stored == wanted:
        return True
    if stored is None or wanted is None:
        return stored in (None, "") and wanted in (None, "")
    if isinstance(stored, list):
        return isinstance(wanted, list) and sorted(map(str, stored)) == sorted(map(str, wanted))
    if str(stored) == str(wanted):
        return True
    try:
        return Decimal(str(stored)) == Decimal(str(wanted))
    except (InvalidOperation, ValueError):
        return False


def event_kinds(event: Event) -> set[str]:
    """Every trigger an event is: a deal's update that wins it is ``won``, ``stage_changed`` and ``updated``."""
    kinds = {event.kind}
    changes = event.changes or {}
    if event.type_key == "deals" and event.kind == "updated":
        status = changes.get("status")
        if isinstance(status, list) and len(status) == 2 and status[1] in ("won", "lost"):
            kinds.add(status[1])
        if "stage" in changes:
            kinds.add("stage_changed")
    if event.type_key == "activities":
        done = changes.get("done")
        if event.kind == "updated" and isinstance(done, list) and done == [False, True]:
            kinds.add("activity_completed")
        elif event.kind == "created" and isinstance(done, list) and done[1] is True:
            kind = changes.get("kind")
            if not (isinstance(kind, list) and kind[1] == "note"):  # a note is written done: nothing completes
                kinds.add("activity_completed")
    return kinds


def trigger_matches(rule: Rule, event: Event, kinds: set[str]) -> bool:
    """Whether the event is the rule's trigger. An "updated" rule with ``or_created`` also takes a record created
    with the watched change (a created event's diff is every field from None)."""
    config = rule.trigger_config or {}
    if rule.trigger not in kinds and not (
        rule.trigger == "updated" and config.get("or_created") and "created" in kinds
    ):
        return False
    changes = event.changes or {}
    if rule.trigger == "updated":
        fields = config.get("fields") or []
        if fields:
            moved = [name for name in fields if field_change(changes, name)[0]]
            if not moved:
                return False
            if "value" in config:
                return any(same_value(field_change(changes, name)[2], config["value"]) for name in moved)
    if rule.trigger == "stage_changed" and config.get("stage"):
        return same_value(field_change(changes, "stage")[2], config["stage"])
    return True


def changes_match(rule: Rule, changes: dict[str, Any]) -> bool:
    """The rule's "changed from/to" conditions on the event's diff (all must hold)."""
    for wanted in rule.changes or []:
        changed, before, after = field_change(changes, wanted["field"])
        if not changed:
            return False
        if "from" in wanted and not same_value(before, wanted["from"]):
            return False
        if "to" in wanted and not same_value(after, wanted["to"]):
            return False
    return True


# --- conditions (the list filter syntax) ----------------------------------------------------------------------


class _Nobody:
    id = None
    pk = None


def conditions_q(rule: Rule) -> Q:
    """The rule's conditions as a filter, parsed by the lists' own parser (custom fields included); raises
    listing.QueryError for an unknown or malformed one. Cached on the rule object."""
    cached = getattr(rule, "_conditions_q", None)
    if cached is not None:
        return cached
    q = parse_conditions(rule.type_key, rule.conditions, rule.created_by or _Nobody())
    rule._conditions_q = q  # type: ignore[attr-defined]
    return q


def parse_conditions(type_key: str, text: str, user: Any) -> Q:
    params = QueryDict(text.lstrip("?"), mutable=False)
    unknown = [p for p in params if p in listing.CONTROL_PARAMS]
    if unknown:
        raise listing.QueryError(unknown[0], "is a list setting, not a condition.")
    return listing.build_filter(registry.get(type_key), params, user)


_SENTINEL = -918_273_645  # stands for the record id in a compiled conditions query


def rules_whose_conditions_hold(rules: list[Rule], type_key: str, record_id: int) -> set[int]:
    """Of ``rules``, the ids whose conditions the record meets now, in one query. The query is compiled once
    per set of rules (the ORM's compiling cost ten times its running) and kept with the cached rules."""
    plain = {rule.pk for rule in rules if not rule.conditions.strip()}
    checked = [rule for rule in rules if rule.conditions.strip()]
    if not checked:
        return plain
    key = (type_key, tuple(rule.pk for rule in checked))
    compiled = _cache.queries.get(key) if all(getattr(r, "_cached", False) for r in checked) else None
    if compiled is None:
        compiled = _compile(checked, type_key)
        if all(getattr(r, "_cached", False) for r in checked):
            _cache.queries[key] = compiled
    if compiled is None:
        return plain
    alias, sql, params, ids = compiled
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [record_id if p == _SENTINEL else p for p in params])
        row = cursor.fetchone()
    if row is None:
        return plain
    return plain | {pk for pk, held in zip(ids, row, strict=True) if held}


def _compile(rules: list[Rule], type_key: str) -> tuple[str, str, list[Any], list[int]] | None:
    model = registry.get(type_key).model
    annotations = {}
    for rule in rules:
        try:
            q = conditions_q(rule)
        except listing.QueryError as exc:  # a custom field deleted since: the rule cannot match
            logger.warning("rule %s: conditions no longer valid (%s)", rule.pk, exc)
            continue
        annotations[f"r{rule.pk}"] = Exists(model._base_manager.filter(q, pk=OuterRef("pk")))
    if not annotations:
        return None
    qs = model._base_manager.filter(pk=_SENTINEL).annotate(**annotations).values(*annotations)
    sql, params = qs.query.sql_with_params()
    return qs.db, sql, list(params), [int(name[1:]) for name in annotations]


def conditions_hold(rule: Rule, record: Record) -> bool:
    return rule.pk in rules_whose_conditions_hold([rule], rule.type_key, record.pk) if rule.pk else True


# --- from events to runs ---------------------------------------------------------------------------------------


def _parent_run_id(event: Event) -> int | None:
    """The run whose action wrote this event (its request id names it), for loop protection."""
    if event.source != "automation":
        return None
    match = REQUEST_ID.match(event.request_id or "")
    return int(match.group(2)) if match else None


def parent_run(event: Event) -> RuleRun | None:
    pk = _parent_run_id(event)
    if pk is None:
        return None
    return RuleRun.objects.filter(pk=pk).only("id", "rule_id", "chain", "depth").first()


def consume(event: Event) -> list[RuleRun]:
    """The event consumer for one event (see ``consume_many``)."""
    return consume_many([event])


def matching_rules(event: Event) -> list[Rule]:
    """The active rules ``event`` triggers whose conditions hold now (one query when some have conditions)."""
    rules = active_rules(event.type_key)
    if not rules:
        return []
    kinds = event_kinds(event)
    changes = event.changes or {}
    candidates = [
        rule
        for rule in rules
        if rule.trigger in EVENT_TRIGGERS
        and (rule.activated_at is None or event.occurred_at >= rule.activated_at)
        and trigger_matches(rule, event, kinds)
        and changes_match(rule, changes)
    ]
    if not candidates:
        return []
    holding = rules_whose_conditions_hold(candidates, event.type_key, event.record_id)
    return [rule for rule in candidates if rule.pk in holding]


def consume_many(events: list[Event]) -> list[RuleRun]:
    """The event consumer: a run for each active rule an event triggers and whose conditions hold, for a dispatch
    batch of events, made with one INSERT. Idempotent by (rule, event id)."""
    matches = [(event, rules) for event in events if (rules := matching_rules(event))]
    if not matches:
        return []
    # The cache may be up to RULE_CACHE_SECONDS old: a rule deleted or switched off in another process since makes
    # no run (one query per batch that has matches).
    still_on = set(
        Rule.objects.filter(pk__in={rule.pk for _, rules in matches for rule in rules}, active=True).values_list(
            "pk", flat=True
        )
    )
    matches = [(event, kept) for event, rules in matches if (kept := [r for r in rules if r.pk in still_on])]
    if not matches:
        return []
    parent_ids = {pk for event, _ in matches if (pk := _parent_run_id(event)) is not None}
    parents = RuleRun.objects.only("id", "rule_id", "chain", "depth").in_bulk(parent_ids) if parent_ids else {}
    runs = []
    now = timezone.now()
    for event, matched in matches:
        parent_id = _parent_run_id(event)
        parent = parents.get(parent_id) if parent_id is not None else None
        chain = [*parent.chain, parent.rule_id] if parent else []
        depth = parent.depth + 1 if parent else 1
        for rule in matched:
            run = RuleRun(
                rule=rule,
                key=f"event:{event.pk}",
                event_id=event.pk,
                type_key=event.type_key,
                record_id=event.record_id,
                record_title=event.record_title,
                trigger=rule.trigger,
                chain=chain,
                depth=depth,
                outcomes=pending_outcomes(rule),
                next_attempt_at=now,
            )
            stop = loop_reason(rule, chain, depth)
            if stop:
                run.status, run.error, run.next_attempt_at, run.finished_at = RuleRun.STOPPED, stop, None, now
                run.outcomes = [{**o, "status": "skipped"} for o in run.outcomes]
                logger.warning("rule %s stopped on %s #%s: %s", rule.pk, event.type_key, event.record_id, stop)
            runs.append(run)
    made = RuleRun.objects.bulk_create(runs, ignore_conflicts=True)
    if any(run.status == RuleRun.PENDING for run in made):
        schedule_runs()
    return made


def loop_reason(rule: Rule, chain: list[int], depth: int) -> str:
    if rule.pk in chain:
        names = dict(Rule.objects.filter(pk__in=chain).values_list("pk", "name"))
        path = " → ".join(names.get(pk, f"#{pk}") for pk in [*chain, rule.pk])
        return f"Stopped: this rule's own actions triggered it again ({path})."
    if depth > max_depth():
        return f"Stopped: {depth} rules in a chain, each triggered by the one before (the limit is {max_depth()})."
    return ""


def pending_outcomes(rule: Rule) -> list[dict[str, Any]]:
    from .actions import ACTIONS

    out = []
    for spec in rule.actions or []:
        action = ACTIONS.get(spec.get("type", ""))
        out.append(
            {
                "action": spec.get("type", ""),
                "label": action.label if action else spec.get("type", ""),
                "status": "pending",
            }
        )
    return out


def schedule_runs() -> None:
    """Run the new runs once the transaction that made them commits (one job per transaction)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block and any(entry[1] is _enqueue_runs for entry in connection.run_on_commit):
        return
    transaction.on_commit(_enqueue_runs, robust=True)


def _enqueue_runs() -> None:
    from .tasks import run_rules

    run_rules.enqueue()


def make_run(rule: Rule, record: Record, key: str) -> RuleRun | None:
    """A run of a time-based rule on ``record``, once per ``key``; None when that key already ran."""
    try:
        with transaction.atomic():
            run = RuleRun.objects.create(
                rule=rule,
                key=key[:120],
                type_key=rule.type_key,
                record_id=record.pk,
                record_title=str(record)[:300],
                trigger=rule.trigger,
                outcomes=pending_outcomes(rule),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return None
    schedule_runs()
    return run


# --- running ---------------------------------------------------------------------------------------------------


def due_runs() -> Any:
    return RuleRun.objects.filter(
        status__in=[RuleRun.PENDING, RuleRun.RUNNING, RuleRun.RETRYING], next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at", "id")


RUN_BATCH = 200


def run_due(limit: int = 1000) -> int:
    """Run what is due (new runs, retries, runs of a worker that died), oldest first, a batch at a time: claimed
    together, each action done for the batch's runs together where it can be (``Action.batch_fn``), the runs'
    ends written together. Returns how many ran."""
    done = 0
    while done < limit:
        batch = claim_batch(min(RUN_BATCH, limit - done))
        if not batch:
            break
        later: set[Any] = set()
        execute_batch(batch, later=later)
        _after(later)
        done += len(batch)
    return done


def claim_batch(size: int) -> list[RuleRun]:
    """Claim up to ``size`` due runs at once: each moves a lease ahead (a killed worker's runs become due again)
    with one UPDATE, and is ours if it carries this claim's own lease time (another worker's claim of the same
    run — SQLite takes no row locks — leaves it with theirs)."""
    for _ in range(5):  # (SQLite: another worker may have claimed the same rows first; look again)
        now = timezone.now()
        lease_until = now + LEASE + timedelta(microseconds=random.randrange(1, 1_000_000))  # noqa: S311 - a tag
        due_now = Q(status__in=[RuleRun.PENDING, RuleRun.RUNNING, RuleRun.RETRYING], next_attempt_at__lte=now)
        with transaction.atomic():
            rows = due_runs()
            if connections[rows.db].features.has_select_for_update_skip_locked:
                # Rows another worker is claiming right now are skipped, not waited for (nor returned).
                rows = rows.select_for_update(skip_locked=True)
            ids = list(rows.values_list("pk", flat=True)[:size])
            if not ids:
                return []
            RuleRun.objects.filter(due_now, pk__in=ids).update(
                status=RuleRun.RUNNING, next_attempt_at=lease_until, attempts=F("attempts") + 1
            )
        claimed = list(
            RuleRun.objects.filter(pk__in=ids, status=RuleRun.RUNNING, next_attempt_at=lease_until)
            .select_related("rule")
            .order_by("id")
        )
        if claimed:
            return claimed
    return []


def execute_batch(runs: list[RuleRun], *, later: set[Any]) -> None:
    """Run claimed runs' actions in order (see ``execute``), action by action across the batch: the runs of a rule
    whose action has a ``batch_fn`` do it together, in one transaction with their outcomes; other actions run
    one run at a time in their own transaction. The runs' ends are written with one statement."""
    from .actions import ACTIONS

    errors: dict[int, str] = {}
    gone: set[int] = set()
    by_type: dict[str, list[RuleRun]] = {}
    for run in runs:
        by_type.setdefault(run.type_key, []).append(run)
    for type_key, group in by_type.items():
        model = registry.get(type_key).model
        present = set(model._base_manager.filter(pk__in=[r.record_id for r in group]).values_list("pk", flat=True))
        for run in group:
            if run.record_id not in present:
                errors[run.pk], gone = "The record no longer exists.", gone | {run.pk}
    longest = max((len(run.rule.actions or []) for run in runs), default=0)
    for index in range(longest):
        batched: dict[int, list[RuleRun]] = {}
        for run in runs:
            actions = run.rule.actions or []
            if run.pk in errors or index >= len(actions):
                continue
            if index < len(run.outcomes) and run.outcomes[index]["status"] == "done":
                continue
            action = ACTIONS.get(actions[index].get("type", ""))
            if action is not None and action.batch_fn is not None:
                batched.setdefault(run.rule_id, []).append(run)
                continue
            error = _run_one_action(run, index, later)
            if error:
                errors[run.pk] = error
        for group in batched.values():
            for run_pk, error in _run_batched_action(group, index, later).items():
                errors[run_pk] = error
    for run in runs:
        _finish(run, errors.get(run.pk, ""), record_gone=run.pk in gone)
    bulk.update_objects(RuleRun, runs, ["status", "next_attempt_at", "finished_at", "error", "outcomes"])


def _run_one_action(run: RuleRun, index: int, later: set[Any]) -> str:
    """One action of one run in its own transaction with its outcome; the error in words, or ""."""
    from .actions import Context, run_action

    spec = (run.rule.actions or [])[index]
    model = registry.get(run.type_key).model
    with request_context(run.request_id):
        try:
            with transaction.atomic():
                # The record as it is now: an earlier action of this run may have changed it.
                current = model._base_manager.select_for_update().get(pk=run.record_id)
                ctx = Context(rule=run.rule, record=current, run=run, index=index, dry_run=False, later=later)
                message = run_action(ctx, spec)
                _set_outcome(run, index, spec, "done", message)
                RuleRun.objects.filter(pk=run.pk).update(outcomes=run.outcomes)
        except Exception as exc:
            logger.warning("rule %s run %s action %s failed: %s", run.rule_id, run.pk, index + 1, exc)
            error = describe_error(exc)
            _set_outcome(run, index, spec, "failed", error)
            return error
    return ""


def _run_batched_action(runs: list[RuleRun], index: int, later: set[Any]) -> dict[int, str]:
    """Action ``index`` of one rule for many runs at once, with their outcomes, in one transaction. If it fails,
    nothing of it stays and each run does it on its own (so a failure is logged on the run it belongs to)."""
    from .actions import ACTIONS, validate_params

    rule = runs[0].rule
    spec = (rule.actions or [])[index]
    action = ACTIONS[spec["type"]]
    assert action.batch_fn is not None
    mine: set[Any] = set()
    try:
        with transaction.atomic():
            params = validate_params(action, spec.get("params") or {}, rule.type_key)
            messages = action.batch_fn(rule, runs, params, mine)
            for run in runs:
                _set_outcome(run, index, spec, "done", messages.get(run.pk, "Done."))
            bulk.update_objects(RuleRun, runs, ["outcomes"])
    except Exception as exc:
        logger.warning("rule %s action %s failed for a batch of %s runs (%s): one by one", rule.pk, index + 1,
                       len(runs), exc)  # fmt: skip
        for run in runs:
            _set_outcome(run, index, spec, "pending", "")
        return {run.pk: error for run in runs if (error := _run_one_action(run, index, later))}
    later.update(mine)
    return {}


def _finish(run: RuleRun, error: str, *, record_gone: bool = False) -> None:
    """A run's end after its actions: succeeded, to be retried after the backoff, or failed."""
    now = timezone.now()
    if not error:
        run.status, run.next_attempt_at, run.finished_at, run.error = RuleRun.SUCCEEDED, None, now, ""
    elif run.attempts < MAX_ATTEMPTS and not record_gone:
        run.status, run.error = RuleRun.RETRYING, error[:1000]
        run.next_attempt_at = now + RETRY_SCHEDULE[run.attempts - 1]
    else:
        run.status, run.next_attempt_at, run.finished_at, run.error = RuleRun.FAILED, None, now, error[:1000]
        for outcome in run.outcomes:
            if outcome["status"] == "pending":
                outcome["status"] = "skipped"


def _after(later: set[Any]) -> None:
    """What actions asked to do once after their runs (enqueue the webhook sender once for the whole batch)."""
    for hook in later:
        with transaction.atomic():
            hook()


def execute(run: RuleRun, *, later: set[Any] | None = None) -> RuleRun:
    """Run a claimed run's actions in order, each in its own transaction with its outcome; an action done on an
    earlier attempt is not done again. A failure stops the run (later actions may rely on it): retried after
    the backoff, then failed. (``run_due`` does this for a batch of runs: ``execute_batch``.)"""
    batch: set[Any] = later if later is not None else set()
    execute_batch([run], later=batch)
    if later is None:  # a run on its own: what its actions asked for, now (run_due does it once per batch)
        _after(batch)
    return run


def _set_outcome(run: RuleRun, index: int, spec: dict[str, Any], status: str, message: str) -> None:
    while len(run.outcomes) <= index:
        run.outcomes.append({"action": spec.get("type", ""), "label": spec.get("type", ""), "status": "pending"})
    run.outcomes[index] = {**run.outcomes[index], "status": status, "message": message[:500]}


def describe_error(exc: BaseException) -> str:
    """An action's failure in words for the log: a validation error names the field."""
    from django.core.exceptions import ValidationError
    from rest_framework.exceptions import ValidationError as DRFValidationError

    if isinstance(exc, DRFValidationError):
        from rapport.api.errors import flatten

        parts = [f"{name}: {' '.join(map(str, msgs))}" for name, msgs in flatten(exc.detail).items()]
        return "; ".join(parts)[:1000] or str(exc)
    if isinstance(exc, ValidationError):
        if hasattr(exc, "message_dict"):
            return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())[:1000]
        return " ".join(exc.messages)[:1000]
    return (str(exc) or type(exc).__name__)[:1000]


# --- dry run -----------------------------------------------------------------------------------------------------


def dry_run(rule: Rule, record: Record) -> dict[str, Any]:
    """What the rule would do to ``record`` now: whether its conditions hold, and each action's outcome with the
    changes it would write — run in a transaction that is rolled back, so nothing is written, sent or queued."""
    from .actions import Context, run_action

    try:
        holds = rules_whose_conditions_hold([rule], rule.type_key, record.pk) if rule.conditions.strip() else None
        conditions = {"met": True if holds is None else rule.pk in holds, "error": ""}
    except listing.QueryError as exc:
        conditions = {"met": False, "error": f"{exc.param}: {exc.message}"}
    outcomes: list[dict[str, Any]] = []
    request_id = f"dry-run-rule-{rule.pk or 0}"
    written: list[dict[str, Any]] = []
    with transaction.atomic():
        with request_context(request_id):
            for index, spec in enumerate(rule.actions or []):
                try:
                    with transaction.atomic():
                        current = type(record)._base_manager.get(pk=record.pk)
                        ctx = Context(rule=rule, record=current, run=None, index=index, dry_run=True)
                        message = run_action(ctx, spec)
                    outcomes.append({"action": spec.get("type", ""), "status": "done", "message": message})
                except Exception as exc:
                    outcomes.append(
                        {"action": spec.get("type", ""), "status": "failed", "message": describe_error(exc)}
                    )
                    break
        for event in Event.objects.filter(request_id=request_id).order_by("id"):
            written.append(
                {
                    "record_type": event.type_key,
                    "record_id": event.record_id,
                    "record_title": event.record_title,
                    "kind": event.kind,
                    "changes": event.changes or {},
                }
            )
        transaction.set_rollback(True)
    from .actions import ACTIONS

    for outcome in outcomes:
        action = ACTIONS.get(outcome["action"])
        outcome["label"] = action.label if action else outcome["action"]
    return {"conditions": conditions, "actions": outcomes, "changes": written}
