"""``GET /api/v1/export/all/``: the full export (imports.fullexport) as a zip download, for administrators."""

from __future__ import annotations

import tempfile

from django.http import FileResponse, HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from rapport.api.schema import ERROR
from rapport.api.views import BaseAPIView, api_user
from rapport.core.errors import PermissionDenied
from rapport.imports import fullexport


class FullExportView(BaseAPIView):
    @extend_schema(
        summary="Export everything as a zip of CSV files",
        description="Every record type with ids and links, custom fields, users and the settings records "
        "refer to, as `rapport import export.zip` loads back into an empty installation. Administrators only. "
        "The zip is written to a temporary file as it is read (keyset batches), then sent.",
        tags=["Export"],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip."),
            403: ERROR,
        },
        operation_id="export_all",
    )
    def get(self, request: Request) -> HttpResponse:
        user = api_user(request)
        if not fullexport.may_export_all(user):
            raise PermissionDenied("Only administrators can export everything.")
        handle = tempfile.TemporaryFile()
        try:
            fullexport.write_full_export(handle, user=user)
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        day = timezone.localdate().isoformat()
        response = FileResponse(
            handle, as_attachment=True, filename=f"rapport-export-{day}.zip", content_type="application/zip"
        )
        response["Cache-Control"] = "no-store"
        return response  # type: ignore[return-value]  # a streaming response is what Django serves as-is
