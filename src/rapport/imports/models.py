"""Imports's tables: an import (its file, mapping, match settings, status, progress and checkpoint), the
change it made to each record (for undo), the rows it rejected (for the dry run's report and the CSV of
rejected rows), and named mappings saved for next time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class Import(models.Model):
    UPLOADED, MAPPED, CHECKING, CHECKED = "uploaded", "mapped", "checking", "checked"
    RUNNING, DONE, FAILED, CANCELLED, UNDOING, UNDONE = "running", "done", "failed", "cancelled", "undoing", "undone"
    STATUSES = [
        (UPLOADED, "Uploaded"),
        (MAPPED, "Mapped"),
        (CHECKING, "Checking"),
        (CHECKED, "Checked"),
        (RUNNING, "Importing"),
        (DONE, "Done"),
        (FAILED, "Failed"),
        (CANCELLED, "Cancelled"),
        (UNDOING, "Undoing"),
        (UNDONE, "Undone"),
    ]
    # What a user may still do in each status.
    EDITABLE = (UPLOADED, MAPPED, CHECKED, FAILED)  # mapping and settings may change (a new dry run follows)
    BUSY = (CHECKING, RUNNING, UNDOING)
    ON_MATCH = [("skip", "Skip the row"), ("update", "Update the record")]

    type_key = models.CharField(max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    stored_path = models.CharField(max_length=500)  # under RAPPORT_DATA_DIR/imports/
    size = models.BigIntegerField(default=0)
    format = models.CharField(max_length=20, blank=True)
    encoding = models.CharField(max_length=40, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    sheet = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=list, blank=True)
    # One target per column (index → target): a field key, "cf_<key>", "full_name", "source_id",
    # "<link field>:source_id", or "" to skip the column.
    mapping = models.JSONField(default=list, blank=True)
    constants = models.JSONField(default=dict, blank=True)  # {target: value} set on every row
    on_match = models.CharField(max_length=10, choices=ON_MATCH, default="skip")
    match_field = models.CharField(max_length=60, blank=True)  # "" = never match
    create_companies = models.BooleanField(default=False)  # link by a name that does not exist: create it
    tag_separator = models.CharField(max_length=4, default=",")
    batch = models.CharField(max_length=64, blank=True, db_index=True)  # imports loaded together (a zip)
    status = models.CharField(max_length=10, choices=STATUSES, default=UPLOADED)
    checked = models.BooleanField(default=False)  # the dry run finished for the current mapping
    cancel_requested = models.BooleanField(default=False)
    total = models.IntegerField(default=0)  # rows in the file (known after the dry run)
    rows_done = models.IntegerField(default=0)  # rows worked through by the running phase
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    undo_conflicts = models.IntegerField(default=0)  # records changed since by someone else, left alone
    checkpoint_line = models.IntegerField(default=0)  # the last file line committed by the running phase
    phase_started_at = models.DateTimeField(null=True, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["actor", "-id"], name="import_actor_idx")]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.filename})"

    @property
    def request_id(self) -> str:
        """The request id of every event this import writes: history shows which import made a change."""
        return f"import-{self.pk}"

    @property
    def percent(self) -> int:
        if self.status in (self.DONE, self.CHECKED, self.UNDONE):
            return 100
        return min(100, self.rows_done * 100 // self.total) if self.total else 0

    @property
    def rate(self) -> float | None:
        """Rows per second of the current phase."""
        if not self.phase_started_at or not self.rows_done:
            return None
        end = self.finished_at if self.status not in self.BUSY and self.finished_at else timezone.now()
        seconds = (end - self.phase_started_at).total_seconds()
        return self.rows_done / seconds if seconds > 0 else None

    @property
    def eta_seconds(self) -> int | None:
        rate = self.rate
        if rate is None or self.status not in self.BUSY or not self.total:
            return None
        return max(0, round((self.total - self.rows_done) / rate))

    def counts(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.rows_done,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "undo_conflicts": self.undo_conflicts,
        }


class ImportChange(models.Model):
    """A record an import created, updated or skipped (matched and left alone), with what undo needs:
    the values it had before (``before``: only the fields this import changed) and the version the
    import left it at (a record changed since by someone else is not undone)."""

    CREATED, UPDATED, SKIPPED = "created", "updated", "skipped"
    ACTIONS = [(CREATED, "Created"), (UPDATED, "Updated"), (SKIPPED, "Skipped")]

    job = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="changes")
    line = models.IntegerField()
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=ACTIONS)
    before = models.JSONField(default=dict, blank=True)
    version = models.IntegerField(default=0)  # the record's version after this import's write
    source_id = models.CharField(max_length=200, blank=True)
    undone = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["job", "id"], name="importchange_job_idx"),
            models.Index(fields=["type_key", "source_id"], name="importchange_source_idx"),
        ]


class ImportRejection(models.Model):
    """A row the dry run or the import refused: its line in the file, the column, the value and why;
    ``cells`` keeps the row as read for the CSV of rejected rows."""

    job = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="rejections")
    line = models.IntegerField()
    column = models.CharField(max_length=255, blank=True)
    value = models.TextField(blank=True)
    reason = models.TextField()
    cells = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["job", "line", "id"], name="importrejection_job_idx")]


class SavedMapping(models.Model):
    """A mapping saved by name for a record type: column title → target, applied to the next file
    whose columns have those titles."""

    type_key = models.CharField(max_length=40)
    name = models.CharField(max_length=100)
    columns = models.JSONField(default=dict)  # {header: target}
    constants = models.JSONField(default=dict, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["type_key", "name"], name="savedmapping_unique_name")]

    def __str__(self) -> str:
        return self.name
