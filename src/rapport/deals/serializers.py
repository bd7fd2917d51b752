"""Write validation of deals, shared by the API, the pages and imports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from rapport.contacts.models import Company, Person
from rapport.core.money import precision_error
from rapport.core.serializers import EntrySerializer, RecordLinkField, RecordWriteSerializer
from rapport.forecasting.serializers import clean_currency
from rapport.quotes.serializers import LineItemSerializer, price_line

from .models import CONTACT_ROLES, DEAL_STATUSES, Deal, LostReason, Pipeline, Stage


class DealContactSerializer(EntrySerializer):
    person = RecordLinkField(Person)
    role = serializers.ChoiceField(choices=CONTACT_ROLES, required=False, default="other")


class DealWriteSerializer(RecordWriteSerializer):
    pipeline = serializers.PrimaryKeyRelatedField(queryset=Pipeline.objects.all(), required=False)
    stage = serializers.PrimaryKeyRelatedField(queryset=Stage.objects.select_related("pipeline"), required=False)
    status = serializers.ChoiceField(choices=DEAL_STATUSES, required=False, write_only=True)
    probability = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True)
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False, allow_null=True
    )
    currency = serializers.CharField(max_length=3, required=False)
    company = RecordLinkField(Company, required=False, allow_null=True)
    lost_reason = serializers.PrimaryKeyRelatedField(
        queryset=LostReason.objects.filter(active=True), required=False, allow_null=True
    )
    contacts = DealContactSerializer(many=True, required=False, max_length=50)  # type: ignore[call-arg]
    line_items = LineItemSerializer(many=True, required=False, max_length=200)  # type: ignore[call-arg]

    class Meta:
        model = Deal
        fields = (
            "title",
            "pipeline",
            "stage",
            "status",
            "amount",
            "currency",
            "expected_close_date",
            "probability",
            "forecast_category",
            "company",
            "source",
            "lost_reason",
            "closed_on",
            "contacts",
            "line_items",
            *RecordWriteSerializer.base_fields,
        )

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the deal a title.")
        return value.strip()

    def validate_currency(self, value: str) -> str:
        return clean_currency(value)

    def validate_contacts(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [c["person"].pk for c in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A person is listed twice; give each person one role.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance: Deal | None = self.instance
        errors: dict[str, Any] = {}

        # pipeline and stage: given, implied by each other, or kept
        stage: Stage | None = attrs.get("stage")
        pipeline: Pipeline | None = attrs.get("pipeline") or (stage.pipeline if stage else None)
        if pipeline is None:
            pipeline = instance.pipeline if instance else Pipeline.objects.filter(archived=False).first()
        if pipeline is None:
            raise serializers.ValidationError({"pipeline": "Create a pipeline first (Settings → Pipelines)."})
        status = attrs.pop("status", None)
        if stage is None:
            if instance is not None and instance.pipeline_id == pipeline.pk and status in (None, instance.status):
                stage = instance.stage
            else:
                stage = pipeline.first_stage(status or "open")
                if stage is None:
                    errors["status" if status else "stage"] = f"{pipeline.name} has no {status or 'open'} stage."
        if stage is not None:
            if stage.pipeline_id != pipeline.pk:
                errors["stage"] = f"{stage.name} is not a stage of the pipeline {pipeline.name}."
            elif stage.archived and (instance is None or instance.stage_id != stage.pk):
                errors["stage"] = f"The stage {stage.name} is archived."
            elif status and stage.kind != status:
                errors["status"] = f"The stage {stage.name} is {stage.kind}, not {status}."
        if pipeline.archived and (instance is None or instance.pipeline_id != pipeline.pk):
            errors["pipeline"] = f"The pipeline {pipeline.name} is archived."
        if errors:
            raise serializers.ValidationError(errors)
        attrs["pipeline"], attrs["stage"] = pipeline, stage

        lost_reason = attrs.get("lost_reason", instance.lost_reason if instance else None)
        if stage is not None and stage.kind == "lost" and lost_reason is None:
            raise serializers.ValidationError({"lost_reason": "Give a reason when a deal is lost."})

        if "probability" in attrs:
            value = attrs.pop("probability")
            attrs["probability_overridden"] = value is not None
            if value is not None:
                attrs["probability"] = value
        if instance is None and "currency" not in attrs:
            attrs["currency"] = str(settings.BASE_CURRENCY).upper()
        currency = attrs.get("currency", instance.currency if instance else settings.BASE_CURRENCY)
        amount = attrs.get("amount", instance.amount if instance else None)
        if amount is not None and precision_error(amount, currency):  # 12.50 JPY: yen have no minor unit
            raise serializers.ValidationError({"amount": precision_error(amount, currency)})

        if "line_items" in attrs:
            line_errors = [price_line(item, currency) for item in attrs["line_items"]]
            if any(line_errors):
                raise serializers.ValidationError({"line_items": line_errors})
        return attrs
