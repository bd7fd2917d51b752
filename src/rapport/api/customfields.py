"""Custom field definitions over the API: read by every signed-in user (they are part of the schema),
created, changed and deleted by settings managers through the definition services."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.core import customfields, listing, registry
from rapport.core.models import CustomField

from .views import BaseAPIView, json_response

TAG = ["Custom fields"]
ID = OpenApiParameter("id", int, OpenApiParameter.PATH)


class CustomFieldSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    record_type = serializers.ChoiceField(choices=[], help_text="The record type (people, companies, …).")
    key = serializers.RegexField(
        r"^[a-z][a-z0-9_]*$",
        max_length=50,
        help_text="Lower-case letters, digits and underscores; `custom.<key>` in records, `cf_<key>` in filters. "
        "Cannot change once the field exists.",
    )
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]
    field_type = serializers.ChoiceField(choices=[t for t, _ in CustomField.TYPES])
    required = serializers.BooleanField(default=False)  # type: ignore[assignment]
    choices = serializers.ListField(
        child=serializers.CharField(max_length=100),
        default=list,
        max_length=500,
        help_text="For choice and multi_choice fields.",
    )
    reference_type = serializers.CharField(
        allow_blank=True, default="", max_length=40, help_text="For reference fields: the record type it points to."
    )
    help_text = serializers.CharField(allow_blank=True, default="", max_length=300)  # type: ignore[assignment]
    position = serializers.IntegerField(min_value=0, max_value=100000, default=0)
    searchable = serializers.BooleanField(default=True)
    is_identifier = serializers.BooleanField(
        default=False,
        help_text="An identifier (customer number, tax id…): records with the same value are likely duplicates.",
    )
    url = serializers.CharField(read_only=True)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        record_type: Any = self.fields["record_type"]
        record_type.choices = registry.keys()


class CustomFieldPatchSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False)  # type: ignore[assignment]
    field_type = serializers.ChoiceField(choices=[t for t, _ in CustomField.TYPES], required=False)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    choices = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=500)
    reference_type = serializers.CharField(allow_blank=True, required=False, max_length=40)
    help_text = serializers.CharField(allow_blank=True, required=False, max_length=300)  # type: ignore[assignment]
    position = serializers.IntegerField(min_value=0, max_value=100000, required=False)
    searchable = serializers.BooleanField(required=False)
    is_identifier = serializers.BooleanField(required=False)


class CustomFieldListSerializer(serializers.Serializer):
    results = CustomFieldSerializer(many=True)


def field_json(field: CustomField) -> dict[str, Any]:
    return {
        "id": field.pk,
        "record_type": field.record_type,
        "key": field.key,
        "label": field.label,
        "field_type": field.field_type,
        "required": field.required,
        "choices": list(field.choices or []),
        "reference_type": field.reference_type,
        "help_text": field.help_text,
        "position": field.position,
        "searchable": field.searchable,
        "is_identifier": field.is_identifier,
        "url": f"/api/v1/custom-fields/{field.pk}/",
    }


class CustomFieldListView(BaseAPIView):
    @extend_schema(
        summary="Custom field definitions, by record type and position",
        tags=TAG,
        parameters=[OpenApiParameter("record_type", str, enum=registry.keys())],
        responses=CustomFieldListSerializer,
        operation_id="custom_fields_list",
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        unknown = set(params) - {"record_type"}
        if unknown:
            raise listing.QueryError(sorted(unknown)[0], "unknown parameter; use record_type.")
        qs = CustomField.objects.order_by("record_type", "position", "id")
        if params.get("record_type"):
            if registry.find(params["record_type"]) is None:
                raise listing.QueryError("record_type", f"one of: {', '.join(registry.keys())}.")
            qs = qs.filter(record_type=params["record_type"])
        return json_response({"results": [field_json(f) for f in qs]})

    @extend_schema(
        summary="Define a custom field (administrators)",
        tags=TAG,
        request=CustomFieldSerializer,
        responses={201: CustomFieldSerializer},
        operation_id="custom_fields_create",
    )
    def post(self, request: Request) -> HttpResponse:
        body = CustomFieldSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        field = customfields.create_field(data.pop("record_type"), data.pop("key"), data, actor=request.user)
        return json_response(field_json(field), status=201, headers={"Location": field_json(field)["url"]})


class CustomFieldDetailView(BaseAPIView):
    def _field(self, pk: int) -> CustomField:
        field = CustomField.objects.filter(pk=pk).first()
        if field is None:
            raise Http404
        return field

    @extend_schema(
        summary="One custom field definition",
        tags=TAG,
        parameters=[ID],
        responses=CustomFieldSerializer,
        operation_id="custom_fields_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(field_json(self._field(pk)))

    @extend_schema(
        summary="Change a custom field definition (administrators); its key and record type stay",
        tags=TAG,
        parameters=[ID],
        request=CustomFieldPatchSerializer,
        responses=CustomFieldSerializer,
        operation_id="custom_fields_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        field = self._field(pk)
        body = CustomFieldPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        field = customfields.update_field(field, dict(body.validated_data), actor=request.user)
        return json_response(field_json(field))

    @extend_schema(
        summary="Delete a custom field definition (administrators); stored values are no longer shown",
        tags=TAG,
        parameters=[ID],
        responses={204: None},
        operation_id="custom_fields_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        customfields.delete_field(self._field(pk), actor=request.user)
        return HttpResponse(status=204)
