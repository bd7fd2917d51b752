"""Duplicates's tables: the merges (what each one changed, so that it can be undone)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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
