"""Workflow rules (trigger, conditions, ordered actions) and their run log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

TRIGGERS = [
    ("created", "Created"),
    ("updated", "Updated"),
    ("deleted", "Deleted"),
    ("stage_changed", "Deal moved to a stage"),
    ("won", "Deal won"),
    ("lost", "Deal lost"),
    ("activity_completed", "Activity completed"),
    ("date_reached", "A date is reached"),
    ("idle", "No change for some days"),
]
TRIGGER_KEYS = [key for key, _ in TRIGGERS]
EVENT_TRIGGERS = frozenset({"created", "updated", "deleted", "stage_changed", "won", "lost", "activity_completed"})
TIME_TRIGGERS = frozenset({"date_reached", "idle"})


class Rule(models.Model):
    """When ``trigger`` happens to a record of ``type_key`` and the conditions hold, run ``actions`` in order.

    ``trigger_config``: updated → ``{"fields": [...], "value": ..., "or_created": bool}`` (any of the fields
    changes, to ``value`` when given; with ``or_created`` also a record created so); stage_changed →
    ``{"stage": id}``; date_reached → ``{"field": name, "offset_days": n}``; idle → ``{"days": n}``.
    ``conditions``: the list filter syntax (a query string, as saved views store it).
    ``changes``: ``[{"field", "from"?, "to"?}]`` checked on the event's diff. ``actions``: ``[{"type", "params"}]``."""

    name = models.CharField(max_length=100)
    type_key = models.CharField(max_length=40)
    trigger = models.CharField(max_length=20, choices=TRIGGERS)
    trigger_config = models.JSONField(default=dict, blank=True)
    conditions = models.TextField(blank=True, default="")
    changes = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    active = models.BooleanField(default=False)
    # When it was last switched on: it acts on changes made from then on, not on events still in the outbox.
    activated_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Set on the rules Rapport ships (``automation.shipped``): every installation has them from its migrations.
    # They are edited and switched off like any rule, but not deleted (they would come back with the next
    # migrate).
    shipped = models.CharField(max_length=40, null=True, blank=True, unique=True, editable=False)
    # Time-based rules: the moment up to which dates were looked at (records reached before it are done).
    checked_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["type_key", "active"], name="automation_rule_type_idx")]

    def __str__(self) -> str:
        return self.name


class RuleRun(models.Model):
    """One run of a rule on one record: the event (or date) that triggered it and each action's outcome.

    ``key`` makes a run happen once: ``event:<id>`` for events, ``date:<record>:<value>`` for time-based triggers.
    ``outcomes``: ``[{"action", "label", "status": done|failed|skipped|pending, "message", "changes"}]``."""

    PENDING, RUNNING, SUCCEEDED, FAILED, RETRYING, STOPPED = (
        "pending",
        "running",
        "succeeded",
        "failed",
        "retrying",
        "stopped",
    )
    STATUSES = [
        (PENDING, "Waiting"),
        (RUNNING, "Running"),
        (SUCCEEDED, "Succeeded"),
        (FAILED, "Failed"),
        (RETRYING, "Failed, will retry"),
        (STOPPED, "Stopped (loop)"),
    ]

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    key = models.CharField(max_length=120)
    event_id = models.BigIntegerField(null=True, blank=True)
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    record_title = models.CharField(max_length=300, blank=True)
    trigger = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=STATUSES, default=PENDING)
    # The rules whose actions led here, in order (loop protection): a run of a rule already in its chain, or
    # deeper than RAPPORT_AUTOMATION_MAX_DEPTH, is stopped.
    chain = models.JSONField(default=list, blank=True)
    depth = models.PositiveSmallIntegerField(default=1)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the run may be (re)tried: due now when made; a claim moves it a lease ahead (a killed worker's run
    # becomes due again); a failure moves it by the backoff. None once finished.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    outcomes = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "key"], name="automation_run_once")]
        indexes = [
            models.Index(fields=["rule", "-id"], name="automation_run_log_idx"),
            models.Index(
                fields=["next_attempt_at", "id"],
                name="automation_run_due_idx",
                condition=models.Q(status__in=["pending", "running", "retrying"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.type_key} #{self.record_id}"

    @property
    def request_id(self) -> str:
        """Tags the events this run's actions write: history names the rule, and the next rules see the chain."""
        return f"rule-{self.rule_id}-run-{self.pk}"


class RoundRobin(models.Model):
    """The member of a team who got the last record from a rule's "assign owner, round robin" action."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    action_index = models.PositiveSmallIntegerField()
    last_user_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "action_index"], name="automation_round_robin_once")]
