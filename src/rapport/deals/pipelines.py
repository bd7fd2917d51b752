"""Administration of pipelines, their stages and the lost reasons; each change is atomic.

Deals leave a stage only through ``deals.services.move_deal``, so history and stage changes are
recorded when a stage is deleted with its deals moved elsewhere."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from rapport.core.audit import record_setting_change, values
from rapport.core.services import update_records_in_bulk

from . import services
from .models import STAGE_KINDS, Deal, LostReason, Pipeline, Stage

KINDS = {k for k, _ in STAGE_KINDS}
STAGE_FIELDS = ("name", "pipeline", "position", "probability", "rotting_days", "kind", "archived")


def _name(value: str, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: "Give it a name."})
    if len(value) > 100:
        raise ValidationError({field: "Use at most 100 characters."})
    return value


def _probability(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({"probability": "Give a whole number from 0 to 100."})
    if not 0 <= number <= 100:
        raise ValidationError({"probability": "Give a whole number from 0 to 100."})
    return number


def _rotting(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({"rotting_days": "Give a number of days, or leave it empty."})
    if number < 1:
        raise ValidationError({"rotting_days": "Give at least 1 day, or leave it empty."})
    return number


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValidationError({"kind": f"Choose one of: {', '.join(sorted(KINDS))}."})
    return value


def _unique_pipeline_name(name: str, exclude: int | None = None) -> None:
    clash = Pipeline.objects.filter(name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ValidationError({"name": f"There is already a pipeline called {name}."})


def _open_stages(pipeline: Pipeline) -> int:
    return pipeline.stages.filter(kind="open", archived=False).count()


# --- pipelines --------------------------------------------------------------------------------
def create_pipeline(name: str, *, actor: Any) -> Pipeline:
    """A new pipeline with a first open stage, a won and a lost stage, ready for the board."""
    name = _name(name)
    with transaction.atomic():
        _unique_pipeline_name(name)
        position = (Pipeline.objects.aggregate(m=Max("position"))["m"] or 0) + 1
        pipeline = Pipeline.objects.create(name=name, position=position)
        Stage.objects.bulk_create(
            [
                Stage(pipeline=pipeline, name="New", position=0, probability=10, kind="open"),
                Stage(pipeline=pipeline, name="Won", position=1, probability=100, kind="won"),
                Stage(pipeline=pipeline, name="Lost", position=2, probability=0, kind="lost"),
            ]
        )
        record_setting_change(
            "pipeline", pipeline, actor=actor, action="created", after={"name": name, "stages": ["New", "Won", "Lost"]}
        )
    return pipeline


def rename_pipeline(pipeline: Pipeline, name: str, *, actor: Any) -> Pipeline:
    name = _name(name)
    with transaction.atomic():
        _unique_pipeline_name(name, exclude=pipeline.pk)
        record_setting_change(
            "pipeline", pipeline, actor=actor, before={"name": pipeline.name}, after={"name": name}, label=name
        )
        pipeline.name = name
        pipeline.save(update_fields=["name"])
    return pipeline


def set_pipeline_archived(pipeline: Pipeline, archived: bool, *, actor: Any) -> Pipeline:
    with transaction.atomic():
        if archived and not Pipeline.objects.filter(archived=False).exclude(pk=pipeline.pk).exists():
            raise ValidationError({"archived": "Keep at least one pipeline in use."})
        record_setting_change(
            "pipeline", pipeline, actor=actor, before={"archived": pipeline.archived}, after={"archived": archived}
        )
        pipeline.archived = archived
        pipeline.save(update_fields=["archived"])
    return pipeline


# --- stages -----------------------------------------------------------------------------------
def add_stage(
    pipeline: Pipeline,
    *,
    name: str,
    probability: Any = 0,
    rotting_days: Any = None,
    kind: str = "open",
    actor: Any,
) -> Stage:
    fields = {
        "name": _name(name),
        "probability": _probability(probability),
        "rotting_days": _rotting(rotting_days),
        "kind": _kind(kind),
    }
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        position = (pipeline.stages.aggregate(m=Max("position"))["m"] or 0) + 1
        stage = Stage.objects.create(pipeline=pipeline, position=position, **fields)
        record_setting_change(
            "stage", stage, actor=actor, action="created", after=values(stage, STAGE_FIELDS), label=stage.form_label
        )
        return stage


def update_stage(
    stage: Stage, *, name: str, probability: Any, rotting_days: Any, kind: str | None = None, actor: Any
) -> Stage:
    """Rename a stage or change its probability, rotting threshold or kind. The kind of a stage
    holding deals stays (their status would silently disagree with it)."""
    with transaction.atomic():
        stage = Stage.objects.select_for_update().get(pk=stage.pk)
        new_kind = _kind(kind) if kind else stage.kind
        if new_kind != stage.kind:
            if Deal.objects.filter(stage=stage).exists():
                raise ValidationError({"kind": "This stage holds deals; move them before changing its kind."})
            if stage.kind == "open" and not stage.archived and _open_stages(stage.pipeline) <= 1:
                raise ValidationError({"kind": "A pipeline needs at least one open stage."})
        old_probability = stage.probability
        before = values(stage, STAGE_FIELDS)
        stage.name = _name(name)
        stage.probability = _probability(probability)
        stage.rotting_days = _rotting(rotting_days)
        stage.kind = new_kind
        stage.save(update_fields=["name", "probability", "rotting_days", "kind"])
        record_setting_change(
            "stage", stage, actor=actor, before=before, after=values(stage, STAGE_FIELDS), label=stage.form_label
        )
        if stage.probability != old_probability and stage.kind == "open":
            # Deals that follow their stage's default follow its new value (overrides stay), each
            # with an event and a version bump: weighted totals, the forecast and ETags change.
            update_records_in_bulk(
                Deal,
                Q(stage=stage, probability_overridden=False),
                {"probability": stage.probability},
                actor=actor,
                source="system",
            )
    return stage


def move_stage(stage: Stage, offset: int, *, actor: Any) -> None:
    """Move a stage up (-1) or down (+1) among its pipeline's stages; positions are renumbered."""
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=stage.pipeline_id)
        stages = list(Stage.objects.filter(pipeline_id=stage.pipeline_id).order_by("position", "id"))
        index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
        target = max(0, min(len(stages) - 1, index + offset))
        stages.insert(target, stages.pop(index))
        before = [s.name for s in stages]
        before.insert(index, before.pop(target))
        reorder(stages)
        record_setting_change(
            "pipeline",
            stages[target].pipeline,
            actor=actor,
            before={"stage_order": before},
            after={"stage_order": [s.name for s in stages]},
        )


def reorder(stages: list[Stage]) -> None:
    changed = []
    for position, s in enumerate(stages):
        if s.position != position:
            s.position = position
            changed.append(s)
    Stage.objects.bulk_update(changed, ["position"])


def set_stage_order(pipeline: Pipeline, stage_ids: list[int], *, actor: Any) -> None:
    """Put the pipeline's stages in the given order (from a drag and drop); ids must match."""
    with transaction.atomic():
        Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        stages = {s.pk: s for s in Stage.objects.filter(pipeline=pipeline)}
        if sorted(stage_ids) != sorted(stages):
            raise ValidationError({"order": "The list of stages changed meanwhile; reload and try again."})
        before = [s.name for s in sorted(stages.values(), key=lambda s: (s.position, s.pk))]
        reorder([stages[i] for i in stage_ids])
        record_setting_change(
            "pipeline",
            pipeline,
            actor=actor,
            before={"stage_order": before},
            after={"stage_order": [stages[i].name for i in stage_ids]},
        )


def set_stage_archived(stage: Stage, archived: bool, *, actor: Any) -> Stage:
    """Archive (hide from the board and from new deals) or bring back a stage. A stage holding open
    deals is not archived: they would vanish from the board."""
    with transaction.atomic():
        stage = Stage.objects.select_for_update().select_related("pipeline").get(pk=stage.pk)
        if archived and not stage.archived:
            if stage.kind == "open" and _open_stages(stage.pipeline) <= 1:
                raise ValidationError({"archived": "A pipeline needs at least one open stage."})
            held = Deal.objects.live().filter(stage=stage).count()
            if held:
                raise ValidationError(
                    {"archived": f"{stage.name} holds {held} deal{'s' if held != 1 else ''}; move them first."}
                )
        record_setting_change(
            "stage",
            stage,
            actor=actor,
            before={"archived": stage.archived},
            after={"archived": archived},
            label=stage.form_label,
        )
        stage.archived = archived
        stage.save(update_fields=["archived"])
    return stage


def delete_stage(stage: Stage, *, target: Stage | None = None, actor: Any) -> int:
    """Delete a stage. Its deals must go somewhere: with ``target`` they are moved there one by
    one through ``move_deal`` (history and stage changes recorded); without it, refused.
    Returns the number of deals moved."""
    with transaction.atomic():
        stage = Stage.objects.select_for_update().select_related("pipeline").get(pk=stage.pk)
        if stage.kind == "open" and not stage.archived and _open_stages(stage.pipeline) <= 1:
            raise ValidationError({"stage": "A pipeline needs at least one open stage."})
        binned = Deal.objects.filter(stage=stage, deleted_at__isnull=False).count()
        if binned:
            raise ValidationError(
                {
                    "stage": f"{binned} deal{'s' if binned != 1 else ''} in the recycle bin "
                    f"{'are' if binned != 1 else 'is'} in {stage.name}; archive the stage instead."
                }
            )
        deals = list(Deal.objects.live().filter(stage=stage).select_related("stage", "pipeline").order_by("id"))
        if deals and target is None:
            raise ValidationError(
                {
                    "target": f"{stage.name} holds {len(deals)} deal{'s' if len(deals) != 1 else ''}; "
                    "choose a stage to move them to."
                }
            )
        if target is not None:
            if target.pk == stage.pk:
                raise ValidationError({"target": "Choose another stage than the one being deleted."})
            if target.pipeline_id != stage.pipeline_id or target.archived:
                raise ValidationError({"target": "Choose a stage in use in the same pipeline."})
        for deal in deals:
            assert target is not None
            services.move_deal(deal, target, actor=actor, source="ui")
        record_setting_change(
            "stage",
            stage,
            actor=actor,
            action="deleted",
            before={**values(stage, STAGE_FIELDS), "deals_moved_to": target.name if deals and target else None},
            label=stage.form_label,
        )
        stage.delete()
        rest = list(Stage.objects.filter(pipeline_id=stage.pipeline_id).order_by("position", "id"))
        reorder(rest)
    return len(deals)


# --- lost reasons -----------------------------------------------------------------------------
def _reason_name(name: str) -> str:
    value = (name or "").strip()
    if not value:
        raise ValidationError({"name": "Give the reason a name."})
    if len(value) > 150:
        raise ValidationError({"name": "Use at most 150 characters."})
    return value


def add_lost_reason(name: str, *, actor: Any) -> LostReason:
    name = _reason_name(name)
    with transaction.atomic():
        if LostReason.objects.filter(name__iexact=name).exists():
            raise ValidationError({"name": f"There is already a lost reason called {name}."})
        position = (LostReason.objects.aggregate(m=Max("position"))["m"] or 0) + 1
        try:
            with transaction.atomic():
                reason = LostReason.objects.create(name=name, position=position)
                record_setting_change("lost_reason", reason, actor=actor, action="created", after={"name": name})
                return reason
        except IntegrityError:
            raise ValidationError({"name": f"There is already a lost reason called {name}."})


def rename_lost_reason(reason: LostReason, name: str, *, actor: Any) -> LostReason:
    name = _reason_name(name)
    with transaction.atomic():
        if LostReason.objects.filter(name__iexact=name).exclude(pk=reason.pk).exists():
            raise ValidationError({"name": f"There is already a lost reason called {name}."})
        record_setting_change(
            "lost_reason", reason, actor=actor, before={"name": reason.name}, after={"name": name}, label=name
        )
        reason.name = name
        reason.save(update_fields=["name"])
    return reason


def set_lost_reason_active(reason: LostReason, active: bool, *, actor: Any) -> LostReason:
    """Deactivated reasons stay on the deals that used them but are no longer offered."""
    with transaction.atomic():
        if not active and not LostReason.objects.filter(active=True).exclude(pk=reason.pk).exists():
            raise ValidationError({"active": "Keep at least one active lost reason, or deals cannot be lost."})
        record_setting_change(
            "lost_reason", reason, actor=actor, before={"active": reason.active}, after={"active": active}
        )
        reason.active = active
        reason.save(update_fields=["active"])
    return reason
