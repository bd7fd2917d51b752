"""Duplicates's tables: likely duplicate pairs (found by the scan, a create or an import) and the scans
themselves; the merges (what each one changed, so that it can be undone)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class DuplicateCandidate(models.Model):
    """Two records of one type that are likely the same (``record_a < record_b``). "Not a duplicate"
    keeps the pair as dismissed, so no later scan brings it back. A pair with a record in the bin
    (deleted or merged away) stays stored but is not shown (the queue reads live records only)."""

    OPEN, DISMISSED = "open", "dismissed"
    STATUSES = [(OPEN, "Open"), (DISMISSED, "Not a duplicate")]
    SCAN, CREATE, IMPORT = "scan", "create", "import"
    FOUND_BY = [(SCAN, "Scan"), (CREATE, "Created anyway"), (IMPORT, "Import")]

    type_key = models.CharField(max_length=40)
    record_a = models.BigIntegerField()
    record_b = models.BigIntegerField()
    score = models.FloatField()
    reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=OPEN)
    found_at = models.DateTimeField(default=timezone.now)
    found_by = models.CharField(max_length=10, choices=FOUND_BY, default=SCAN)
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["type_key", "record_a", "record_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(record_a__lt=F("record_b")), name="duplicate_pair_ordered"),
        ]
        indexes = [
            # the queue: open pairs by score, best first (keyset on score, id)
            models.Index(fields=["status", "score", "id"], name="duplicate_queue_idx"),
            models.Index(fields=["type_key", "record_b"], name="duplicate_record_b_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type_key} #{self.record_a} ~ #{self.record_b} ({self.score:.2f})"

    @property
    def ids(self) -> tuple[int, int]:
        return (self.record_a, self.record_b)


class DuplicateScan(models.Model):
    """One run of the scan over every type that declares an identity (or one type), with its progress."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUSES = [(QUEUED, "Queued"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    type_key = models.CharField(max_length=40, blank=True)  # empty: every type
    full = models.BooleanField(default=False)  # False: only pairs with a record changed since the last scan
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    total = models.IntegerField(default=0)  # records to read
    done = models.IntegerField(default=0)  # records read and compared so far
    found = models.IntegerField(default=0)  # likely pairs found (new or refreshed)
    added = models.IntegerField(default=0)  # of those, new pairs
    since = models.DateTimeField(null=True, blank=True)  # changes after this were compared
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="duplicate_scan_status_idx")]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.DONE:
            return 100
        return min(99, int(100 * self.done / self.total)) if self.total else 0


class Merge(models.Model):
    """Records of one type merged into a survivor (``duplicates.merge.merge_records``).

    It keeps what undoing needs: the survivor's values before the merge (``before``, as JSON in the
    shape the merge reads them), its version right after (``survivor_version``: undo refuses when it
    changed since), and every relation moved (``moves``: which row or record pointed where)."""

    type_key = models.CharField(max_length=40)
    survivor_id = models.BigIntegerField()
    merged_ids = models.JSONField(default=list)  # the records binned into the survivor
    choices = models.JSONField(default=dict, blank=True)  # {field: record id whose value survived}
    before = models.JSONField(default=dict, blank=True)  # the survivor's changed fields as they were
    moves = models.JSONField(default=list, blank=True)  # relations re-pointed (see merge.py)
    survivor_version = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["type_key", "survivor_id", "-id"], name="merge_survivor_idx")]

    def __str__(self) -> str:
        return f"Merge #{self.pk} of {self.type_key} into #{self.survivor_id}"


class MergedRecord(models.Model):
    """One record merged away: its address leads to the survivor (pages redirect)."""

    merge = models.ForeignKey(Merge, on_delete=models.CASCADE, related_name="records")
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["type_key", "record_id", "-id"], name="merged_record_idx")]
