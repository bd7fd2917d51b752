"""The deal's part of the generic create/edit form (``RecordType.form_setup``): the pipeline starts at
the board's (``?pipeline=``) or the organisation's default, the stage at that pipeline's first open
stage, the stage list holds only the chosen pipeline's stages and follows a change of pipeline in the
browser (``data-follows`` in static/js/app.js), and the probability box stays empty while the deal
follows its stage, so saving an untouched form never stores an override."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.models import Q

from rapport.core.inputs import is_id
from rapport.web.forms import FormField

from ..models import Deal, Pipeline, Stage


def _stage_probability(stage: Stage) -> int:
    return {"won": 100, "lost": 0}.get(stage.kind, stage.probability)


def setup_deal_form(specs: list[FormField], *, instance: Deal | None, user: Any, params: Any, posted: bool) -> None:
    by_name = {s.name: s for s in specs}
    pipeline_spec, stage_spec = by_name.get("pipeline"), by_name.get("stage")
    if pipeline_spec is None or stage_spec is None:
        return
    keep_pipeline = Q(pk=instance.pipeline_id) if instance is not None else Q(pk__in=[])
    keep_stage = Q(pk=instance.stage_id) if instance is not None else Q(pk__in=[])
    pipelines = list(Pipeline.objects.filter(Q(archived=False) | keep_pipeline))
    stages = list(
        Stage.objects.filter(Q(pipeline__in=pipelines, archived=False) | keep_stage).order_by(
            "pipeline__position", "pipeline_id", "position", "id"
        )
    )
    per_pipeline: dict[str, list[Stage]] = {str(p.pk): [] for p in pipelines}
    for s in stages:
        per_pipeline.setdefault(str(s.pipeline_id), []).append(s)

    def first_open(pipeline_id: str) -> str:
        own = per_pipeline.get(pipeline_id, [])
        chosen = next((s for s in own if s.kind == "open"), own[0] if own else None)
        return str(chosen.pk) if chosen else ""

    # The pipeline: posted or the record's, else the board's (?pipeline=), else the default.
    wanted = str(pipeline_spec.value or "")
    if instance is None and not posted:
        asked = str(params.get("pipeline", ""))
        wanted = asked if is_id(asked) and asked in per_pipeline else ""
    if wanted not in per_pipeline:
        wanted = str(pipelines[0].pk) if pipelines else ""
    pipeline_spec.value = wanted
    pipeline_spec.required = True
    pipeline_spec.choices = [(str(p.pk), p.name) for p in pipelines]

    stage_spec.required = True
    stage_spec.choices = [(str(s.pk), s.name) for s in per_pipeline.get(wanted, [])]
    own_ids = {v for v, _ in stage_spec.choices}
    if str(stage_spec.value or "") not in own_ids and not posted:
        stage_spec.value = first_open(wanted)
    stage_spec.attrs = {
        "data-follows": "id_pipeline",
        "data-options": json.dumps({p: [[str(s.pk), s.name] for s in own] for p, own in per_pipeline.items()}),
        "data-defaults": json.dumps({p: first_open(p) for p in per_pipeline}),
    }

    probability = by_name.get("probability")
    if probability is not None:
        follows = instance is None or not instance.probability_overridden
        if not posted and follows:
            probability.value = ""  # an empty box follows the stage; only a typed number overrides it
        by_stage = {str(s.pk): f"{_stage_probability(s)} (from the stage)" for s in stages}
        probability.placeholder = by_stage.get(str(stage_spec.value or ""), "")
        probability.help = "Leave empty to follow the stage's probability; a number here overrides it."
        probability.attrs = {"data-placeholder-from": "id_stage", "data-placeholders": json.dumps(by_stage)}

    currency = by_name.get("currency")
    if currency is not None and instance is None and not posted:
        currency.value = str(settings.BASE_CURRENCY).upper()
