"""Jobs of automation: the event consumer that starts runs, the job that runs them (on commit and every minute,
for retries), and the periodic check of time-based rules (a date reached, a record idle)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from rapport.core import customfields, registry
from rapport.core.listing import QueryError
from rapport.core.models import Event
from rapport.jobs import job, periodic
from rapport.jobs.events import register_batch_consumer

from . import engine
from .models import TIME_TRIGGERS, Rule

logger = logging.getLogger("rapport.automation")
TIME_RULES_EVERY = timedelta(minutes=5)
MAX_PER_RULE = 5000


@register_batch_consumer
def start_runs(events: list[Event]) -> None:
    """The outbox consumer: a run for each active rule each event triggers, made with one INSERT per dispatch
    batch (see engine.consume_many)."""
    engine.consume_many(events)


@job(max_attempts=3, backoff=5)
def run_rules() -> int:
    """Run the rule runs that are due (each run's own retries are kept on the run, not on this job)."""
    return engine.run_due()


@job(max_attempts=3, backoff=30)
def check_time_rules() -> int:
    """Start runs of the time-based rules whose date was reached (or whose records went idle) since last time."""
    return run_time_rules()


def run_time_rules(now: datetime | None = None) -> int:
    now = now or timezone.now()
    started = 0
    for rule in Rule.objects.filter(active=True, trigger__in=TIME_TRIGGERS).select_related("created_by"):
        since = rule.checked_until or now
        if since >= now:
            Rule.objects.filter(pk=rule.pk, checked_until__isnull=True).update(checked_until=now)
            continue
        try:
            started += _time_rule(rule, since, now)
        except QueryError as exc:
            logger.warning("rule %s: conditions no longer valid (%s)", rule.pk, exc)
        except Exception:
            logger.exception("time-based rule %s failed", rule.pk)
            continue
        Rule.objects.filter(pk=rule.pk).update(checked_until=now)
    return started


def _time_rule(rule: Rule, since: datetime, now: datetime) -> int:
    rtype = registry.get(rule.type_key)
    records: Any = rtype.model.objects.live()
    if rule.conditions.strip():
        records = records.filter(engine.conditions_q(rule))
    config = rule.trigger_config or {}
    if rule.trigger == "idle":
        days = timedelta(days=int(config["days"]))
        window = Q(updated_at__gt=since - days, updated_at__lte=now - days)
        found = records.filter(window).order_by("updated_at", "id")[:MAX_PER_RULE]
        return sum(
            1 for record in found if engine.make_run(rule, record, f"idle:{record.pk}:{record.updated_at.isoformat()}")
        )
    name, offset = config["field"], timedelta(days=int(config.get("offset_days", 0)))
    window = _date_window(rule.type_key, name, since - offset, now - offset)
    started = 0
    for record in records.filter(window).order_by("id")[:MAX_PER_RULE]:
        value = (record.custom or {}).get(name[3:]) if name.startswith("cf_") else getattr(record, name)
        if value is not None and engine.make_run(rule, record, f"date:{record.pk}:{value}"):
            started += 1
    return started


def _date_window(type_key: str, name: str, lower: datetime, upper: datetime) -> Q:
    """Records whose date ``name`` is after ``lower`` and at most ``upper``: for a day field, the days after
    lower's day up to upper's day (a day is reached when it starts, in the installation's time zone)."""
    from django.db import models

    if name.startswith("cf_"):
        definition = next(d for d in customfields.definitions(type_key) if d.key == name[3:])
        if definition.field_type == "date":
            first = (timezone.localdate(lower) + timedelta(days=1)).isoformat()
            return customfields.filter_q(definition, "gte", first) & customfields.filter_q(
                definition, "lte", timezone.localdate(upper).isoformat()
            )
        after = (lower + timedelta(seconds=1)).isoformat()
        return customfields.filter_q(definition, "gte", after) & customfields.filter_q(
            definition, "lte", upper.isoformat()
        )
    field = registry.get(type_key).model._meta.get_field(name)
    if isinstance(field, models.DateTimeField):
        return Q(**{f"{name}__gt": lower, f"{name}__lte": upper})
    return Q(**{f"{name}__gt": timezone.localdate(lower), f"{name}__lte": timezone.localdate(upper)})


periodic("run_rules", run_rules, every=timedelta(minutes=1))
periodic("check_time_rules", check_time_rules, every=TIME_RULES_EVERY)
