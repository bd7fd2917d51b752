"""API for pipelines, stages and lost reasons (read by everyone, changed by settings managers),
and the deal stage move used by the board and integrations."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api import schema
from rapport.api.representation import detail_queryset, represent
from rapport.api.views import BaseAPIView, SettingsAPIView, get_or_404, if_match_version, json_response
from rapport.core.errors import PermissionDenied
from rapport.core.listing import QueryError
from rapport.core.visibility import can

from .. import pipelines, services
from ..models import Deal, LostReason, Pipeline, Stage


def stage_json(stage: Stage) -> dict[str, Any]:
    return {
        "id": stage.pk,
        "name": stage.name,
        "position": stage.position,
        "probability": stage.probability,
        "rotting_days": stage.rotting_days,
        "kind": stage.kind,
        "archived": stage.archived,
    }


def pipeline_json(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "id": pipeline.pk,
        "name": pipeline.name,
        "position": pipeline.position,
        "archived": pipeline.archived,
        "stages": [stage_json(s) for s in pipeline.stages.all()],
    }


class StageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    probability = serializers.IntegerField(min_value=0, max_value=100)
    rotting_days = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=["open", "won", "lost"])
    archived = serializers.BooleanField()


class PipelineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    archived = serializers.BooleanField()
    stages = StageSerializer(many=True)


class PipelineListSerializer(serializers.Serializer):
    results = PipelineSerializer(many=True)


class LostReasonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    active = serializers.BooleanField()


class LostReasonListSerializer(serializers.Serializer):
    results = LostReasonSerializer(many=True)


class PipelineListView(BaseAPIView):
    @extend_schema(
        summary="Pipelines with their stages, in board order",
        tags=["Pipelines"],
        parameters=[OpenApiParameter("archived", bool, description="Include archived pipelines.")],
        responses=PipelineListSerializer,
        operation_id="pipelines_list",
    )
    def get(self, request: Request) -> HttpResponse:
        qs = Pipeline.objects.prefetch_related("stages")
        if request.query_params.get("archived") not in ("1", "true"):
            qs = qs.filter(archived=False)
        return json_response({"results": [pipeline_json(p) for p in qs]})


class PipelineDetailView(BaseAPIView):
    @extend_schema(
        summary="One pipeline with its stages",
        tags=["Pipelines"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses=PipelineSerializer,
        operation_id="pipelines_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        pipeline = get_or_404(Pipeline.objects.prefetch_related("stages"), pk)
        return json_response(pipeline_json(pipeline))


def _validation(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages})


class PipelineWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    archived = serializers.BooleanField(required=False)
    stage_order = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**31 - 1), required=False, max_length=200
    )


class StageWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False)
    rotting_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=["open", "won", "lost"], required=False)
    archived = serializers.BooleanField(required=False)


class PipelineCreateView(SettingsAPIView):
    settings_subject = "pipelines and stages"

    @extend_schema(
        summary="Create a pipeline (with New, Won and Lost stages)",
        tags=["Pipelines"],
        request=PipelineWriteSerializer,
        responses={201: PipelineSerializer},
        operation_id="pipelines_create",
    )
    def post(self, request: Request) -> HttpResponse:
        body = PipelineWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not body.validated_data.get("name"):
            raise serializers.ValidationError({"name": "Give the pipeline a name."})
        try:
            pipeline = pipelines.create_pipeline(body.validated_data["name"], actor=request.user)
        except DjangoValidationError as exc:
            raise _validation(exc)
        return json_response(pipeline_json(Pipeline.objects.prefetch_related("stages").get(pk=pipeline.pk)), 201)


class PipelineUpdateView(SettingsAPIView):
    settings_subject = "pipelines and stages"

    @extend_schema(
        summary="Rename, archive or reorder the stages of a pipeline",
        tags=["Pipelines"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=PipelineWriteSerializer,
        responses={200: PipelineSerializer},
        operation_id="pipelines_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        pipeline = get_or_404(Pipeline.objects, pk)
        body = PipelineWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            with transaction.atomic():
                if "name" in data:
                    pipelines.rename_pipeline(pipeline, data["name"], actor=request.user)
                if "archived" in data:
                    pipelines.set_pipeline_archived(pipeline, data["archived"], actor=request.user)
                if "stage_order" in data:
                    pipelines.set_stage_order(pipeline, data["stage_order"], actor=request.user)
        except DjangoValidationError as exc:
            raise _validation(exc)
        return json_response(pipeline_json(Pipeline.objects.prefetch_related("stages").get(pk=pk)))


class StageCreateView(SettingsAPIView):
    settings_subject = "pipelines and stages"

    @extend_schema(
        summary="Add a stage at the end of a pipeline",
        tags=["Pipelines"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=StageWriteSerializer,
        responses={201: StageSerializer},
        operation_id="pipelines_stages_create",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        pipeline = get_or_404(Pipeline.objects, pk)
        body = StageWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            stage = pipelines.add_stage(
                pipeline,
                name=data.get("name", ""),
                probability=data.get("probability", 0),
                rotting_days=data.get("rotting_days"),
                kind=data.get("kind", "open"),
                actor=request.user,
            )
        except DjangoValidationError as exc:
            raise _validation(exc)
        return json_response(stage_json(stage), 201)


class StageUpdateView(SettingsAPIView):
    settings_subject = "pipelines and stages"

    @extend_schema(
        summary="Change a stage (deals following its probability follow the new value) or archive it",
        tags=["Pipelines"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=StageWriteSerializer,
        responses={200: StageSerializer},
        operation_id="stages_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        stage = get_or_404(Stage.objects.select_related("pipeline"), pk)
        body = StageWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            with transaction.atomic():
                if {"name", "probability", "rotting_days", "kind"} & set(data):
                    stage = pipelines.update_stage(
                        stage,
                        name=data.get("name", stage.name),
                        probability=data.get("probability", stage.probability),
                        rotting_days=data.get("rotting_days", stage.rotting_days),
                        kind=data.get("kind"),
                        actor=request.user,
                    )
                if "archived" in data:
                    stage = pipelines.set_stage_archived(stage, data["archived"], actor=request.user)
        except DjangoValidationError as exc:
            raise _validation(exc)
        return json_response(stage_json(stage))


class LostReasonListView(BaseAPIView):
    @extend_schema(
        summary="Lost reasons offered when a deal is lost",
        tags=["Pipelines"],
        responses=LostReasonListSerializer,
        operation_id="lost_reasons_list",
    )
    def get(self, request: Request) -> HttpResponse:
        reasons = LostReason.objects.all()
        return json_response({"results": [{"id": r.pk, "name": r.name, "active": r.active} for r in reasons]})


class MoveSerializer(serializers.Serializer):
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.select_related("pipeline"))
    lost_reason = serializers.PrimaryKeyRelatedField(
        queryset=LostReason.objects.filter(active=True), required=False, allow_null=True
    )


def _deal_schema() -> type:
    from rapport.core import registry

    return schema.record_serializer(registry.get("deals"))


class DealMoveView(BaseAPIView):
    @extend_schema(
        summary="Move a deal to a stage (status, probability and close date follow)",
        tags=["Deals"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH), schema.IF_MATCH, schema.ETAG],
        request=MoveSerializer,
        responses={200: OpenApiResponse(response=_deal_schema(), description="The deal, with its ETag")},
        operation_id="deals_move",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        deal = get_or_404(Deal.objects.visible_to(request.user).select_related("pipeline", "stage"), pk)
        if not can(request.user, deal, "change"):
            raise PermissionDenied("You may not change this deal.")
        expected = _expected_version(request, deal)
        body = MoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stage = body.validated_data["stage"]
        if stage.archived:
            raise QueryError("stage", f"The stage {stage.name} is archived.")
        services.move_deal(
            deal,
            stage,
            actor=request.user,
            source="api",
            expected_version=expected,
            lost_reason=body.validated_data.get("lost_reason"),
        )
        fresh = detail_queryset("deals").get(pk=pk)
        return json_response(represent(fresh, request.user), headers={"ETag": fresh.etag})


def _expected_version(request: Request, deal: Deal) -> int | None:
    return if_match_version(request, deal.pk, deal.etag)


__all__ = [
    "DealMoveView",
    "LostReasonListView",
    "PipelineCreateView",
    "PipelineDetailView",
    "PipelineListView",
    "PipelineUpdateView",
    "StageCreateView",
    "StageUpdateView",
]


class PipelineCollectionView(PipelineListView, PipelineCreateView):
    """GET lists, POST creates."""


class PipelineItemView(PipelineDetailView, PipelineUpdateView):
    """GET reads, PATCH changes."""
