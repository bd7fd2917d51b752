"""State changes of sales records beyond plain field edits; each goes through the write path."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError

from rapport.core import services
from rapport.core.errors import VersionConflict

from .models import Deal, LostReason, Stage


def move_deal(
    deal: Deal,
    stage: Stage,
    *,
    actor: Any,
    source: str,
    expected_version: int | None = None,
    lost_reason: LostReason | None = None,
) -> Deal:
    """Move ``deal`` to ``stage`` (possibly in another pipeline): status, probability and the
    close date follow; a lost stage needs a reason. A stale ``expected_version`` raises
    VersionConflict and moves nothing (the board's drag and drop sends it)."""
    if expected_version is not None and deal.version != expected_version:
        raise VersionConflict(deal.etag)  # stale first: the client must reload before anything else
    changes: dict[str, Any] = {"stage": stage, "pipeline": stage.pipeline}
    if stage.kind == "lost":
        reason = lost_reason or deal.lost_reason
        if reason is None:
            raise ValidationError({"lost_reason": "Give a reason when a deal is lost."})
        changes["lost_reason"] = reason
    return cast(
        Deal, services.update_record(deal, changes, actor=actor, source=source, expected_version=expected_version)
    )


def mark_won(deal: Deal, *, actor: Any, source: str, expected_version: int | None = None) -> Deal:
    stage = deal.pipeline.first_stage("won")
    if stage is None:
        raise ValidationError({"stage": f"The pipeline {deal.pipeline.name} has no won stage."})
    return move_deal(deal, stage, actor=actor, source=source, expected_version=expected_version)


def mark_lost(
    deal: Deal, *, reason: LostReason | None, actor: Any, source: str, expected_version: int | None = None
) -> Deal:
    stage = deal.pipeline.first_stage("lost")
    if stage is None:
        raise ValidationError({"stage": f"The pipeline {deal.pipeline.name} has no lost stage."})
    return move_deal(deal, stage, actor=actor, source=source, expected_version=expected_version, lost_reason=reason)
