"""Imports endpoints under /api/v1/: upload, mapping, dry run, run, cancel, undo, rejected rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, ErrorSerializer
from rapport.api.views import BaseAPIView, api_user, json_response, object_page, page_response
from rapport.core import listing

from .. import queries, services
from ..models import Import, ImportRejection

ID = OpenApiParameter("id", int, OpenApiParameter.PATH)
PAGE = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]


class ImportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    filename = serializers.CharField()
    format = serializers.CharField()
    status = serializers.ChoiceField(choices=Import.STATUSES)
    status_label = serializers.CharField()
    on_match = serializers.ChoiceField(choices=Import.ON_MATCH)
    match_field = serializers.CharField(help_text="What rows are matched on; empty: never matched.")
    create_companies = serializers.BooleanField()
    tag_separator = serializers.CharField()
    batch = serializers.CharField()
    checked = serializers.BooleanField(help_text="The dry run finished for the current mapping.")
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    rejected = serializers.IntegerField()
    undo_conflicts = serializers.IntegerField()
    percent = serializers.IntegerField()
    rows_per_second = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ImportPageSerializer(serializers.Serializer):
    results = ImportSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ColumnSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    header = serializers.CharField()
    target = serializers.CharField(help_text="Empty: the column is skipped.")
    sample = serializers.ListField(child=serializers.CharField())


class ChoiceSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class MappingSerializer(serializers.Serializer):
    columns = ColumnSerializer(many=True)
    targets = ChoiceSerializer(many=True)
    constants = serializers.DictField(child=serializers.CharField())
    on_match = serializers.ChoiceField(choices=Import.ON_MATCH)
    match_field = serializers.CharField()
    match_choices = ChoiceSerializer(many=True)
    create_companies = serializers.BooleanField()
    tag_separator = serializers.CharField()
    saved_mappings = serializers.ListField(child=serializers.CharField())


class MappingWriteSerializer(serializers.Serializer):
    mapping = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=100), required=False, max_length=1000
    )
    columns = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=100), required=False)
    constants = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=1000), required=False)
    on_match = serializers.ChoiceField(choices=Import.ON_MATCH, required=False)
    match_field = serializers.CharField(allow_blank=True, max_length=60, required=False)
    create_companies = serializers.BooleanField(required=False)
    tag_separator = serializers.CharField(allow_blank=True, max_length=4, required=False, trim_whitespace=False)
    apply_saved = serializers.CharField(max_length=100, required=False, help_text="Apply a saved mapping by name.")
    save_as = serializers.CharField(max_length=100, required=False, help_text="Save the mapping under this name.")


@extend_schema_field(
    {"type": "string", "format": "binary", "maxLength": settings.RAPPORT_IMPORT_MAX_BYTES},
)
class BoundedFileField(serializers.FileField):
    """An uploaded file, at most RAPPORT_IMPORT_MAX_BYTES (the schema says so as the binary's maxLength)."""


class UploadSerializer(serializers.Serializer):
    file = BoundedFileField(max_length=255, help_text="CSV… at most RAPPORT_IMPORT_MAX_BYTES (default 1 GB).")
    type = serializers.CharField(max_length=40)
    batch = serializers.CharField(max_length=64, required=False, allow_blank=True)


class RejectionSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()


class RejectionPageSerializer(serializers.Serializer):
    results = RejectionSerializer(many=True)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


def import_json(imp: Import) -> dict[str, Any]:
    return {
        "id": imp.pk,
        "type": imp.type_key,
        "filename": imp.filename,
        "format": imp.format,
        "status": imp.status,
        "status_label": imp.get_status_display(),
        "on_match": imp.on_match,
        "match_field": imp.match_field,
        "create_companies": imp.create_companies,
        "tag_separator": imp.tag_separator,
        "batch": imp.batch,
        "checked": imp.checked,
        "total": imp.total,
        "done": imp.rows_done,
        "created": imp.created,
        "updated": imp.updated,
        "skipped": imp.skipped,
        "rejected": imp.rejected,
        "undo_conflicts": imp.undo_conflicts,
        "percent": imp.percent,
        "rows_per_second": round(imp.rate, 1) if imp.rate is not None else None,
        "eta_seconds": imp.eta_seconds,
        "error": imp.error,
        "created_at": imp.created_at,
        "finished_at": imp.finished_at,
    }


def mapping_json(imp: Import) -> dict[str, Any]:
    info = queries.mapping_info(imp)
    return {
        "columns": [
            {"index": c.index, "header": c.header, "target": c.target, "sample": c.sample} for c in info.columns
        ],
        "targets": [{"key": k, "label": label} for k, label in info.targets],
        "constants": imp.constants,
        "on_match": imp.on_match,
        "match_field": imp.match_field,
        "match_choices": [{"key": k, "label": label} for k, label in info.match_choices],
        "create_companies": imp.create_companies,
        "tag_separator": imp.tag_separator,
        "saved_mappings": info.saved,
    }


def _invalid(exc: services.ImportInputError) -> serializers.ValidationError:
    return serializers.ValidationError({exc.field: [exc.message]})


def _get(request: Request, pk: int) -> Import:
    imp = queries.visible_imports(api_user(request)).filter(pk=pk).first()
    if imp is None:
        raise Http404
    return imp


ACCEPTED = OpenApiResponse(response=ImportSerializer, description="The phase is queued; poll the import.")


class ImportListView(BaseAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Your imports, newest first",
        tags=["Imports"],
        parameters=PAGE,
        responses=ImportPageSerializer,
        operation_id="imports_list",
    )
    def get(self, request: Request) -> HttpResponse:
        rows, next_cursor, previous = object_page(request, queries.visible_imports(api_user(request)), "id")
        return page_response(request, [import_json(i) for i in rows], next_cursor, previous)

    @extend_schema(
        summary="Upload a file to import (multipart: file, type); the columns get a suggested mapping",
        tags=["Imports"],
        request={"multipart/form-data": UploadSerializer},
        responses={
            201: OpenApiResponse(response=ImportSerializer, description="The import, with Location"),
            415: OpenApiResponse(response=ErrorSerializer, description="Send multipart/form-data"),
        },
        operation_id="imports_create",
    )
    def post(self, request: Request) -> HttpResponse:
        body = UploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        try:
            imp = services.create_import(
                actor=api_user(request),
                type_key=body.validated_data["type"],
                upload=upload,
                filename=upload.name,
                batch=body.validated_data.get("batch", ""),
            )
        except services.ImportInputError as exc:
            raise _invalid(exc) from exc
        return json_response(import_json(imp), status=201, headers={"Location": f"/api/v1/imports/{imp.pk}/"})


class ImportDetailView(BaseAPIView):
    @extend_schema(
        summary="An import: status, progress (rows/s, ETA) and counts",
        tags=["Imports"],
        parameters=[ID],
        responses=ImportSerializer,
        operation_id="imports_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(import_json(_get(request, pk)))


class ImportMappingView(BaseAPIView):
    @extend_schema(
        summary="The mapping of an import's columns, with samples and every possible target",
        tags=["Imports"],
        parameters=[ID],
        responses=MappingSerializer,
        operation_id="imports_mapping_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(mapping_json(_get(request, pk)))

    @extend_schema(
        summary="Change the mapping and match settings (a new dry run is needed), apply or save a named mapping",
        tags=["Imports"],
        parameters=[ID],
        request=MappingWriteSerializer,
        responses=MappingSerializer,
        operation_id="imports_mapping_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        imp = _get(request, pk)
        body = MappingWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        actor = api_user(request)
        try:
            if "apply_saved" in data:
                imp = services.apply_saved_mapping(imp, data.pop("apply_saved"), actor=actor)
            save_as = data.pop("save_as", None)
            if data or save_as is None:
                imp = services.set_mapping(imp, actor=actor, **data)
            if save_as is not None:
                services.save_mapping(imp, save_as, actor=actor)
        except services.ImportInputError as exc:
            raise _invalid(exc) from exc
        return json_response(mapping_json(imp))


def _phase_view(name: str, action: Any, summary: str, status: int) -> type[BaseAPIView]:
    class PhaseView(BaseAPIView):
        @extend_schema(
            summary=summary,
            tags=["Imports"],
            parameters=[ID],
            request=None,
            responses={status: ACCEPTED if status == 202 else ImportSerializer, 400: ERROR},
            operation_id=f"imports_{name}",
        )
        def post(self, request: Request, pk: int) -> HttpResponse:
            imp = _get(request, pk)
            try:
                imp = action(imp, actor=api_user(request))
            except services.ImportInputError as exc:
                raise _invalid(exc) from exc
            return json_response(import_json(imp), status=status)

    PhaseView.__name__ = f"Import{name.title()}View"
    return PhaseView


ImportCheckView = _phase_view(
    "check", services.start_check, "Start the dry run: every row checked, nothing written", 202
)
ImportRunView = _phase_view("run", services.start_run, "Import the valid rows (after the dry run)", 202)
ImportCancelView = _phase_view("cancel", services.cancel, "Cancel: a running import stops after its batch", 200)
ImportUndoView = _phase_view("undo", services.start_undo, "Undo the whole import", 202)


class ImportRejectionsView(BaseAPIView):
    @extend_schema(
        summary="The rows refused by the dry run or the import: line, column, value and reason",
        tags=["Imports"],
        parameters=[ID, *PAGE],
        responses=RejectionPageSerializer,
        operation_id="imports_rejections",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        imp = _get(request, pk)
        rows, next_cursor, previous = object_page(
            request, ImportRejection.objects.filter(job=imp), "id", descending=False
        )
        results = [{"line": r.line, "column": r.column, "value": r.value, "reason": r.reason} for r in rows]
        return page_response(request, results, next_cursor, previous)
