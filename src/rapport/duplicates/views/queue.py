"""The review queue: likely duplicate pairs, best first, with both records side by side, "Not a
duplicate", "Review and merge", and (administrators) "Scan now" with its progress."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rapport.core import listing
from rapport.core.errors import PermissionDenied
from rapport.web.common import error_page, object_page, page, safe_next, signed_in

from .. import queries, services, tasks
from ..models import DuplicateCandidate, DuplicateScan


@page
def queue(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    types = queries.viewable_types(user)
    if not types:
        raise Http404("No such page.")
    type_key = request.GET.get("type", "")
    if type_key and type_key not in {t.key for t in types}:
        return error_page(request, f"Choose one of: {', '.join(t.key for t in types)}.", back="/duplicates/")
    unknown = set(request.GET) - {"type", "cursor", "page_size"}
    if unknown:
        return error_page(request, f"Unknown parameter {sorted(unknown)[0]}.", back="/duplicates/")
    qs = queries.visible_pairs(user, type_key)
    try:
        found = object_page(request, qs, "score")
    except listing.QueryError as exc:
        return error_page(request, str(exc), back="/duplicates/")
    pairs = queries.pair_views(found.objects, user)
    scan = services.latest_scan() if user.can_manage_settings() else None
    context = {
        "pairs": pairs,
        "types": types,
        "type_key": type_key,
        "next_url": found.next_url,
        "previous_url": found.previous_url,
        "first_url": found.first_url,
        "reviewer": {t.key: services.may_review(user, t.key) for t in types},
        # the merge page is for users who may change and delete the type's records (duplicates.merge)
        "merger": {
            t.key: services.may_review(user, t.key) and user.scope_for(t.key, "delete") is not None for t in types
        },
        "scan": scan,
        "can_scan": user.can_manage_settings(),
        "here": request.get_full_path(),
    }
    return render(request, "duplicates/queue.html", context)


@page
@require_POST
def dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    """Not a duplicate: for whoever may review both records; anyone else is answered as for a
    missing pair."""
    user = signed_in(request)
    candidate = DuplicateCandidate.objects.filter(pk=pk).first()
    if candidate is None or not queries.visible_pairs(user, candidate.type_key).filter(pk=pk).exists():
        raise Http404("No such pair.")
    try:
        services.dismiss(candidate, actor=user)
    except PermissionDenied as exc:
        raise Forbidden(str(exc))
    messages.success(request, "Marked as not a duplicate: this pair will not come back.")
    return redirect(safe_next(request, "/duplicates/"))


@page
@require_POST
def scan_now(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    try:
        scan, created = services.start_scan(actor=user, full=True)
    except PermissionDenied as exc:
        raise Forbidden(str(exc))
    if created:
        tasks.enqueue_scan(scan.pk)
        messages.success(request, "The duplicate scan has started; new pairs appear here as it finds them.")
    else:
        messages.info(request, "A duplicate scan is already running.")
    return redirect("/duplicates/")


@page
def scan_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The scan's progress box, polled by the queue page while it runs (administrators)."""
    user = signed_in(request)
    if not user.can_manage_settings():
        raise Forbidden("Only administrators follow duplicate scans.")
    scan = DuplicateScan.objects.filter(pk=pk).first()
    if scan is None:
        raise Http404("No such scan.")
    return render(request, "duplicates/_scan.html", {"scan": scan})
