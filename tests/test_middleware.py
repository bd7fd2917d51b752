"""Request-wide behaviour: times in the user's zone, request ids on events and responses."""

from __future__ import annotations

import json

from django.utils import timezone

from rapport.core.models import Event


def test_times_are_shown_in_the_users_time_zone(users, rf):
    from django.http import HttpResponse

    from rapport.core.middleware import UserTimezoneMiddleware

    seen = []

    def view(request):
        seen.append(timezone.get_current_timezone_name())
        return HttpResponse(timezone.localtime(timezone.now()).strftime("%z"))

    user = users["admin"]
    user.time_zone = "Asia/Tokyo"
    request = rf.get("/")
    request.user = user
    response = UserTimezoneMiddleware(view)(request)
    assert seen == ["Asia/Tokyo"] and response.content == b"+0900"
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks into the next request
    user.time_zone = "Not/AZone"
    UserTimezoneMiddleware(view)(request)
    assert seen[-1] == "UTC"


def test_request_id_tags_events_and_response(users, api_client_for):
    client = api_client_for(users["admin"])
    response = client.post(
        "/api/v1/companies/",
        json.dumps({"name": "Trace"}),
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 201
    assert response["X-Request-Id"] == "req-123"
    assert Event.objects.get(record_id=response.json()["id"], type_key="companies").request_id == "req-123"
    bad = client.get("/api/v1/companies/", HTTP_X_REQUEST_ID="<script>")
    assert bad["X-Request-Id"] != "<script>" and len(bad["X-Request-Id"]) == 32


def test_not_found_and_forbidden_pages_use_the_layout(users, client):
    client.force_login(users["member"])
    missing = client.get("/people/999999/")
    assert missing.status_code == 404 and b"Nothing here" in missing.content
    settings_page = client.get("/settings/users/")
    assert settings_page.status_code == 403 and b"Not allowed" in settings_page.content
