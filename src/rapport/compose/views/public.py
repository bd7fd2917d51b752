"""The addresses recipients reach without signing in: the open pixel, click redirects and unsubscribe.

Each is authenticated by its signed token alone; a forged or altered token gets a 404 and records nothing."""

from __future__ import annotations

import base64

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .. import tracking, unsubscribe
from ..models import OutgoingMessage

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    pk = tracking.read_open_token(token)
    message = OutgoingMessage.objects.filter(pk=pk).first() if pk is not None else None
    if message is None:
        raise Http404("No such image.")
    if request.method == "GET":
        tracking.record_open(message, request)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    found = tracking.read_click_token(token)
    message = OutgoingMessage.objects.filter(pk=found[0]).first() if found else None
    if message is None or found is None or found[1] >= len(message.links):
        raise Http404("No such link.")
    url = message.links[found[1]]
    if request.method == "GET":
        tracking.record_click(message, url, request)
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt  # RFC 8058: mail providers POST without a session; the signed token is the authority
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    found = unsubscribe.read_token(token)
    if found is None:
        raise Http404("This unsubscribe link is not valid.")
    message_id, address = found
    if request.method == "POST":
        unsubscribe.unsubscribe(message_id, address, user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:300])
        return render(request, "compose/unsubscribed.html", {"address": address, "done": True})
    return render(request, "compose/unsubscribed.html", {"address": address, "done": False})
