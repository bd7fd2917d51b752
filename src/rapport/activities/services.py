"""Verbs on activities; each goes through the one write path."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from rapport.core import services

from .models import Activity


def complete_activity(
    activity: Activity, *, actor: Any, source: str, outcome: str = "", expected_version: int | None = None
) -> Activity:
    changes: dict[str, Any] = {"done": True}
    if outcome:
        changes["outcome"] = outcome
    return cast(
        Activity,
        services.update_record(activity, changes, actor=actor, source=source, expected_version=expected_version),
    )


def reschedule_activity(
    activity: Activity, when: dt.datetime, *, actor: Any, source: str, expected_version: int | None = None
) -> Activity:
    """Move a task's due time, or a meeting's start (keeping its length)."""
    changes: dict[str, Any] = {}
    if activity.kind == "task" or activity.start_at is None:
        changes["due_at"] = when
    else:
        changes["start_at"] = when
        if activity.end_at is not None:
            changes["end_at"] = when + (activity.end_at - activity.start_at)
    return cast(
        Activity,
        services.update_record(activity, changes, actor=actor, source=source, expected_version=expected_version),
    )
