"""Shared pieces of the page views: login and time zone, record type lookup, error pages."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from rapport.core import registry
from rapport.core.registry import RecordType

if TYPE_CHECKING:
    from rapport.accounts.models import User


def signed_in(request: HttpRequest) -> User:
    """The user of a request that passed login: every view behind :func:`page` or
    :func:`settings_required` has one."""
    return cast("User", request.user)


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in pages, shown in the user's time zone."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        tz_name = getattr(request.user, "time_zone", "") or "UTC"
        try:
            tz = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            tz = zoneinfo.ZoneInfo("UTC")
        with timezone.override(tz):
            return view(request, *args, **kwargs)

    return login_required(wrapper)


def can(user: Any, target: Any, action: str = "view") -> bool:
    """May ``user`` use a control that does ``action``? The one rule for what pages show, so no page
    offers what the role cannot do. ``target`` is a record type key (``"deals"``: may they ``action``
    some deal — the New button, bulk actions) or a record (this one — its Edit, Delete, Restore);
    ``"settings"`` with any action asks whether they manage settings. Reuses the role's grants
    (``User.scope_for``) and the object-level visibility rule (``visibility.can``)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if target == "settings":
        return bool(user.can_manage_settings())
    if isinstance(target, str):
        return user.scope_for(target, action) is not None
    from rapport.core import visibility

    return visibility.can(user, target, action)


def record_type(key: str, user: Any, action: str = "view") -> RecordType:
    """The type named in the URL, if the user may ``action`` some of its records (404 otherwise)."""
    rtype = registry.find(key)
    if rtype is None or user.scope_for(key, action) is None:
        raise Http404("No such page.")
    return rtype


def error_page(request: HttpRequest, message: str, *, status: int = 400, back: str = "") -> HttpResponse:
    return render(request, "web/error.html", {"message": message, "back": back}, status=status)


def query_string(params: QueryDict | dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` applied (None removes a key), as ``?a=1&b=2`` or ``""``."""
    items: list[tuple[str, str]] = []
    getlist = getattr(params, "getlist", None)
    for key in params:
        if key in changes:
            continue
        values: list[Any] = getlist(key) if getlist else [params[key]]
        items.extend((key, v) for v in values if v != "")
    for key, value in changes.items():
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)):
            items.extend((key, str(v)) for v in value)
        else:
            items.append((key, str(value)))
    return "?" + urlencode(items) if items else ""


@dataclass
class ObjectPage:
    """A keyset page of model objects for a hand-written list page, with its links as query strings."""

    objects: list[Any]
    next_url: str
    previous_url: str
    first_url: str


def object_page(request: HttpRequest, qs: QuerySet, path: str, *, descending: bool = True) -> ObjectPage:
    """Keyset pages over (``path``, id) with the ``cursor`` and ``page_size`` of every list
    (``core.listing.object_page``, which the API's ``object_page`` shares): constant time at any
    depth, Previous and Next bookmarkable. Raises QueryError for a bad cursor or page size."""
    from rapport.core import listing

    params = request.GET
    page = listing.object_page(qs, path, params, descending=descending)
    return ObjectPage(
        objects=page.objects,
        next_url=query_string(params, cursor=page.next_cursor) if page.next_cursor else "",
        previous_url=query_string(params, cursor=page.previous_cursor) if page.previous_cursor else "",
        first_url=(request.path + query_string(params, cursor=None)) if page.previous_cursor else "",
    )


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


def settings_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in and allowed to manage settings; anyone else gets 403."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.can_manage_settings():  # type: ignore[union-attr]
            raise PermissionDenied("Only administrators can change settings.")
        return view(request, *args, **kwargs)

    return wrapper
