"""Errors as JSON that name the field: ``{"error", "message", "fields": {"emails[0].email": [...]}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.listing import QueryError


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"emails": [{}, {"email": ["bad"]}]} → {"emails[1].email": ["bad"]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                out.update(flatten(value, f"{prefix}[{key}]"))
                continue
            name = "" if key in ("non_field_errors", "__all__") and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            out.update(flatten(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(v, (dict, list)) for v in detail):
            if detail:
                out.setdefault(prefix, []).extend(str(v) for v in detail)
        else:
            for i, value in enumerate(detail):
                out.update(flatten(value, f"{prefix}[{i}]"))
    elif detail not in (None, ""):
        out.setdefault(prefix, []).append(str(detail))
    return out


def error_response(
    code: int,
    error: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if fields:
        body["fields"] = fields
    return Response(body, status=code, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
        return error_response(400, "invalid", "The request has invalid fields.", flatten(detail))
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        names = ", ".join(k or "(request)" for k in fields)
        return error_response(400, "invalid", f"Invalid fields: {names}.", fields)
    if isinstance(exc, QueryError):
        return error_response(400, "bad_parameter", exc.message, {exc.param: [exc.message]})
    if isinstance(exc, VersionConflict):
        return error_response(
            status.HTTP_412_PRECONDITION_FAILED,
            "stale",
            "The record was changed since you read it; fetch it again and retry.",
            headers={"ETag": exc.current_etag},
        )
    if isinstance(exc, PermissionDenied):
        return error_response(403, "forbidden", str(exc))
    if isinstance(exc, RecordGone):
        return error_response(409, "deleted", str(exc))
    if isinstance(exc, exceptions.ParseError):
        return error_response(400, "malformed", f"The request body is not valid JSON: {exc.detail}")
    response = drf_exception_handler(exc, context)
    if response is not None:
        raw_detail: Any = getattr(exc, "detail", None)
        message_detail: Any = "" if raw_detail is None else raw_detail
        message = str(message_detail) if not isinstance(message_detail, (dict, list)) else "Request failed."
        code = getattr(exc, "default_code", "error")
        response.data = {"error": code, "message": message}
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: JSON for /api/ (an id that is not a number, an unknown path), the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "not_found", "message": "No such endpoint or record."}, status=404)
    return page_not_found(request, exception)  # type: ignore[arg-type]
