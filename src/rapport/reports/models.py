"""Saved reports of the builder, dashboards and their widgets. These are settings-like rows, not
registered record types: they are written by ``reports.services`` with the settings audit trail."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

PRIVATE, TEAM, EVERYONE = "private", "team", "everyone"
SHARING = [(PRIVATE, "Only me"), (TEAM, "My team"), (EVERYONE, "Everyone")]
SCHEDULES = [("", "Not sent"), ("weekly", "Weekly (Monday morning)"), ("monthly", "Monthly (the 1st)")]
SIZES = [("s", "Small"), ("m", "Medium"), ("l", "Large"), ("w", "Wide")]


class SharedQuerySet(models.QuerySet):
    def readable_by(self, user: Any) -> SharedQuerySet:
        """Rows ``user`` may open: their own, their team's shared ones, those shared with everyone
        and the installation's own (no owner, e.g. the default Sales dashboard)."""
        q = Q(owner_id=user.pk) | Q(sharing=EVERYONE) | Q(owner__isnull=True)
        if user.team_id:
            q |= Q(sharing=TEAM, team_id=user.team_id)
        return self.filter(q)


class SavedReport(models.Model):
    """A builder report: ``config`` is ``reports.engine.Config.as_json()`` (validated on every write)."""

    name = models.CharField(max_length=100)
    type_key = models.CharField(max_length=40)
    config = models.JSONField(default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_reports"
    )
    sharing = models.CharField(max_length=10, choices=SHARING, default=PRIVATE)
    # The team a report shared with "my team" is shared with (the owner's team when shared).
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["owner", "name"], name="savedreport_owner_idx")]

    def __str__(self) -> str:
        return self.name


class Dashboard(models.Model):
    """A grid of widgets with filters applied to every widget, optionally emailed on a schedule."""

    name = models.CharField(max_length=100)
    # "sales" for the installation's default Sales dashboard (created once, see services.default_dashboard)
    slug = models.CharField(max_length=40, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="dashboards"
    )
    sharing = models.CharField(max_length=10, choices=SHARING, default=PRIVATE)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filters = models.JSONField(default=dict, blank=True)  # default {period, owner, team}
    schedule = models.CharField(max_length=10, choices=SCHEDULES, blank=True, default="")
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["slug"], condition=~Q(slug=""), name="dashboard_unique_slug"),
        ]

    def __str__(self) -> str:
        return self.name


class Widget(models.Model):
    """One report on a dashboard, at a position, in a size: a saved builder report, or a standard report
    (``standard``: its key, e.g. "funnel" for the conversion per stage) run with the dashboard's filters."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="widgets")
    report = models.ForeignKey(SavedReport, null=True, blank=True, on_delete=models.CASCADE, related_name="widgets")
    standard = models.CharField(max_length=40, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    size = models.CharField(max_length=1, choices=SIZES, default="m")
    # {"target": "quota"}: a number widget compared with the quotas of the period
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(report__isnull=False) & Q(standard="")) | (Q(report__isnull=True) & ~Q(standard="")),
                name="widget_report_or_standard",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} on {self.dashboard}"

    @property
    def title(self) -> str:
        if self.report_id is not None:
            return self.report.name  # type: ignore[union-attr]
        from .standard import get

        spec = get(self.standard)
        return spec.title if spec is not None else self.standard

    @property
    def ref(self) -> str:
        """What the widget shows, in the settings audit trail: a saved report's id or a standard report's key."""
        return str(self.report_id) if self.report_id is not None else self.standard


class QualitySnapshot(models.Model):
    """One day's data quality (standard report ``data-quality-trend``): of the live records of a type in a
    team, how many have a key field filled. Written by the daily ``snapshot_data_quality`` job; per team so
    that each viewer's history sums only the teams they may see."""

    day = models.DateField()
    type_key = models.CharField(max_length=40)
    field_key = models.CharField(max_length=60)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    filled = models.PositiveIntegerField()
    total = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["type_key", "day", "team"], name="quality_snapshot_idx")]


# --- pre-aggregated deal figures (reports.summaries) ------------------------------------------------
class DealSummary(models.Model):
    """Deals counted and summed per day of one of their dates (``basis``: created, expected close,
    closed) × status × stage × pipeline × owner × team × currency × exchange-rate stretch. Kept current
    by ``reports.summaries`` from the event outbox; the dashboards and the builder read it instead of
    the deals when a report's filters and groupings are all among these columns.

    Money is in cents (integers: exact on SQLite too); ``weighted_centi`` is Σ amount in cents ×
    probability (divide by 10,000 for the weighted amount). ``rate_day`` is a day of the stretch of
    days over which no exchange rate changed that holds each deal's money day (null: the deal has no
    such day and converts at today's rate), so a sum is converted once per currency and stretch."""

    key = models.CharField(max_length=120, unique=True)
    # "c" created (organisation's zone), "e" expected close, "x" closed; upper case: per month (``day`` is
    # the month's first day)
    basis = models.CharField(max_length=1)
    day = models.DateField(null=True)
    month = models.DateField(null=True)  # the first day of ``day``'s month
    rate_day = models.DateField(null=True)
    status = models.CharField(max_length=10)
    stage_id = models.IntegerField()
    pipeline_id = models.IntegerField()
    owner_id = models.IntegerField(null=True)
    team_id = models.IntegerField(null=True)
    currency = models.CharField(max_length=3)
    n = models.BigIntegerField(default=0)  # deals
    n_amount = models.BigIntegerField(default=0)  # deals with an amount
    amount_cents = models.BigIntegerField(default=0)
    weighted_centi = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["basis", "day"], name="deal_summary_day_idx"),
            models.Index(fields=["basis", "team_id", "day"], name="deal_summary_team_idx"),
            models.Index(fields=["basis", "owner_id", "day"], name="deal_summary_owner_idx"),
        ]


class DealSummaryEntry(models.Model):
    """What one deal currently adds to :class:`DealSummary` (its keys and values), so a change is
    applied as the difference from it: idempotent and independent of event order."""

    deal_id = models.BigIntegerField(primary_key=True)
    created_day = models.DateField()
    close_day = models.DateField(null=True)
    closed_day = models.DateField(null=True)
    rate_day = models.DateField(null=True)
    status = models.CharField(max_length=10)
    stage_id = models.IntegerField()
    pipeline_id = models.IntegerField()
    owner_id = models.IntegerField(null=True)
    team_id = models.IntegerField(null=True)
    currency = models.CharField(max_length=3)
    amount_cents = models.BigIntegerField(null=True)
    probability = models.IntegerField()


class SummaryState(models.Model):
    """One row: whether the summaries may be read (built, for the exchange-rate stretches and the
    time zone they were built with) and a version bumped by every change (the dashboards' cache key)."""

    built_at = models.DateTimeField(null=True)
    rates_key = models.CharField(max_length=64, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    version = models.BigIntegerField(default=0)
    reconciled_at = models.DateTimeField(null=True)
