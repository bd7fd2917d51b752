"""Retention: what the daily pruning jobs delete and, as much, what they keep."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from rapport.activities.models import Notification, OutgoingEmail
from rapport.activities.tasks import prune_messages
from rapport.core.models import AuditEntry, BulkChange
from rapport.jobs.tasks import prune_audit, prune_jobs


def _ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def test_audit_entries_are_kept_for_the_configured_days_then_pruned(users, settings):
    for days in (800, 731, 729, 1):
        AuditEntry.objects.create(occurred_at=_ago(days), kind="team", action="changed", object_label=f"{days}")
    assert prune_audit() == 2  # 800 and 731 days old; the default keeps 730
    assert sorted(AuditEntry.objects.values_list("object_label", flat=True)) == ["1", "729"]
    settings.RAPPORT_AUDIT_KEEP_DAYS = 0  # keep everything
    AuditEntry.objects.create(occurred_at=_ago(5000), kind="team", action="changed", object_label="old")
    assert prune_audit() == 0 and AuditEntry.objects.count() == 3


def test_read_notifications_and_sent_emails_are_pruned_unread_and_unsent_ones_kept(users):
    user = users["member"]
    Notification.objects.create(user=user, title="old read", created_at=_ago(91), read_at=_ago(90))
    Notification.objects.create(user=user, title="old unread", created_at=_ago(400))
    Notification.objects.create(user=user, title="recent read", created_at=_ago(89), read_at=_ago(1))
    OutgoingEmail.objects.create(key="a", to="a@example.com", subject="old sent", body="", sent_at=_ago(31))
    OutgoingEmail.objects.create(key="b", to="b@example.com", subject="recent sent", body="", sent_at=_ago(29))
    OutgoingEmail.objects.create(key="c", to="c@example.com", subject="old unsent", body="", created_at=_ago(60))
    assert prune_messages.call() == {"notifications": 1, "emails": 1}
    assert sorted(Notification.objects.values_list("title", flat=True)) == ["old unread", "recent read"]
    assert sorted(OutgoingEmail.objects.values_list("subject", flat=True)) == ["old unsent", "recent sent"]


def test_finished_bulk_changes_are_pruned_after_the_jobs_keep_days_running_ones_kept(users, settings):
    settings.RAPPORT_JOBS_KEEP_DAYS = 14
    actor = users["admin"]

    def change(label: str, status: str, finished_days_ago: float | None) -> None:
        finished = _ago(finished_days_ago) if finished_days_ago is not None else None
        BulkChange.objects.create(
            record_type="people", action=label, actor=actor, max_id=1, status=status, finished_at=finished
        )

    change("done-old", BulkChange.DONE, 15)
    change("failed-old", BulkChange.FAILED, 20)
    change("done-recent", BulkChange.DONE, 13)
    change("running", BulkChange.RUNNING, None)
    change("queued", BulkChange.QUEUED, None)
    assert prune_jobs.call()["bulk_changes"] == 2
    assert sorted(BulkChange.objects.values_list("action", flat=True)) == ["done-recent", "queued", "running"]
