"""Every /api/ response the test suite produces is validated against the published OpenAPI document.

``install()`` wraps ``django.test.Client.request``: after each request to ``/api/``, the response
(status, body, declared headers) is checked with openapi-core against the schema the app publishes
at ``/api/schema/`` (generated in-process, regenerated when a custom field definition changes). A
response the schema does not describe fails the test that made it, naming the operation and what
did not match. A test that means to produce an undocumented answer can opt out with
``@pytest.mark.no_schema_check``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.http import HttpResponse
from django.test import Client
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Served by drf-spectacular itself, or not JSON operations of the API.
SKIPPED_PREFIXES = ("/api/schema/", "/api/docs/")

_state: dict[str, Any] = {"generation": 0, "built": -1, "openapi": None, "enabled": True}


class SchemaViolation(AssertionError):
    pass


def schema_changed(**_: Any) -> None:
    _state["generation"] += 1


def published_schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def openapi() -> OpenAPI:
    if _state["built"] != _state["generation"] or _state["openapi"] is None:
        spec = json.loads(json.dumps(published_schema(), default=str))
        # The document's own validity is one test (test_api_contract); here only responses are checked.
        _state["openapi"] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        _state["built"] = _state["generation"]
    return _state["openapi"]


class _Request:
    """The request as openapi-core reads it (the path is matched against the schema's paths)."""

    def __init__(self, response: HttpResponse):
        wsgi = response.wsgi_request
        self.host_url = "http://testserver"
        self.path = wsgi.path
        self.method = (wsgi.method or "").lower()
        self.body = b""
        self.content_type = "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(wsgi.GET),
            header=Headers(wsgi.headers.items()),
            cookie=ImmutableMultiDict(dict(wsgi.COOKIES)),
        )


class _Response:
    def __init__(self, response: HttpResponse):
        self.status_code = response.status_code
        self.content_type = response.get("Content-Type", "")
        if getattr(response, "streaming", False):
            content = b"".join(response.streaming_content)
            response.streaming_content = [content]  # the test still reads it
            self.data = content
        else:
            self.data = response.content
        if "json" not in self.content_type:
            # files (CSV, XLSX, PDF, iCalendar) are described as strings: the body is checked as text
            self.data = self.data.decode("latin-1")  # type: ignore[assignment]
        self.headers = Headers(response.headers.items())


def check(response: HttpResponse) -> None:
    request = getattr(response, "wsgi_request", None)
    if request is None or not request.path.startswith("/api/") or request.path.startswith(SKIPPED_PREFIXES):
        return
    method = (request.method or "").upper()
    if method in ("HEAD", "OPTIONS"):
        return
    req, resp = _Request(response), _Response(response)
    try:
        openapi().validate_response(req, resp)
    except (PathNotFound, OperationNotFound):
        if response.status_code in (404, 405):
            return  # a path or method the API does not have: Django's or DRF's generic answer
        raise SchemaViolation(
            f"{method} {request.path} answered {response.status_code} but the published schema has no such "
            "operation: declare it (extend_schema) so clients can call it."
        ) from None
    except Exception as exc:  # openapi-core's validation errors carry the details in __cause__/schema_errors
        errors = getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or []
        details = [type(exc).__name__ if errors else f"{type(exc).__name__}: {str(exc)[:300]}"]
        for err in errors:
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            details.append(f"  at {where}: {str(err.message)[:300]}")
        body = resp.data[:600].decode(errors="replace") if resp.data else ""
        raise SchemaViolation(
            f"{method} {request.get_full_path()} answered {response.status_code}, which does not match the "
            f"published OpenAPI schema (/api/schema/):\n" + "\n".join(details) + f"\nbody: {body}\n"
            "Fix the view or its extend_schema declaration (or rapport/api/schema.py for shared parts)."
        ) from None


_original_request = Client.request


def _checked_request(self: Client, **request: Any) -> HttpResponse:
    response = _original_request(self, **request)
    if _state["enabled"]:
        check(response)
    return response


def install() -> None:
    from rapport.core.models import CustomField

    Client.request = _checked_request  # type: ignore[method-assign]
    post_save.connect(schema_changed, sender=CustomField, dispatch_uid="schema_check_cf_saved")
    post_delete.connect(schema_changed, sender=CustomField, dispatch_uid="schema_check_cf_deleted")


def set_enabled(enabled: bool) -> None:
    _state["enabled"] = enabled
