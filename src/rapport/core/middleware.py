"""Security headers on every response (no caching of what a signed-in user sees) and a request id tagging
every event of a request."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import formatting
from .services import request_context

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Swagger UI sets inline styles; scripts stay 'self' only, on that page too.
        policy = DOCS_CSP if request.path.startswith("/api/docs/") else CSP
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        # What a signed-in user (session or API token: DRF sets the user on the request) is shown is theirs
        # alone: no browser, proxy or shared cache may keep it (API tokens, records, the token page).
        # A view that chose its own caching (the calendar feed) keeps it.
        if response.status_code >= 500:
            # An error answer is nobody's to keep, and the user is not looked up: the database may be down.
            response.headers.setdefault("Cache-Control", "no-store")
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "private, no-store"
        return response


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        with request_context(incoming if REQUEST_ID_RE.match(incoming) else None) as request_id:
            response = self.get_response(request)
        response.headers["X-Request-Id"] = request_id
        return response


class UserTimezoneMiddleware:
    """Show times in the signed-in user's time zone (everything is stored in UTC), and numbers, money and
    dates in their locale (``core.formatting``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from django.utils import timezone

        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        try:
            timezone.activate(ZoneInfo(name)) if name else timezone.deactivate()
        except (ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        token = formatting.activate(
            getattr(user, "locale", None) if user is not None and user.is_authenticated else None
        )
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
            formatting.deactivate(token)
