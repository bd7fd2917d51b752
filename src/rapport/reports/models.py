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
    """One saved report on a dashboard, at a position, in a size."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="widgets")
    report = models.ForeignKey(SavedReport, on_delete=models.CASCADE, related_name="widgets")
    position = models.PositiveIntegerField(default=0)
    size = models.CharField(max_length=1, choices=SIZES, default="m")
    # {"target": "quota"}: a number widget compared with the quotas of the period
    options = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.report} on {self.dashboard}"


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
