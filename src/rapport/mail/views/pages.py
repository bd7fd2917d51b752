"""/mail/: conversations of the mailboxes a user may read, a thread, attachments served safely, making a person
from an unknown sender, marking a thread private, linking a thread to a deal."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages as flash
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError

from rapport.api.errors import flatten
from rapport.core import inputs
from rapport.core.listing import QueryError
from rapport.web.common import can, error_page, object_page, page, signed_in

from .. import queries, services
from ..html import map_inline_images, show_remote_images
from ..models import Attachment, Mailbox, Thread

# Served inline only these; anything else is a download (Content-Disposition: attachment).
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}


@page
def mailbox_view(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    mailboxes = list(queries.readable_mailboxes(user).order_by("name", "id"))
    threads = queries.visible_threads(user).select_related("mailbox")
    chosen: Mailbox | None = None
    raw = request.GET.get("mailbox", "")
    if raw:
        chosen = next((m for m in mailboxes if str(m.pk) == raw), None)
        if chosen is None:
            return error_page(request, "mailbox: there is no such mailbox you may read.", back=reverse("mail"))
        threads = threads.filter(mailbox=chosen)
    try:
        sent = _sent_filter(request, user)
        if sent is not None:
            threads = threads.filter(Exists(sent["messages"].filter(thread_id=OuterRef("pk"))))
        pg = object_page(request, threads, "last_at")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=reverse("mail"))
    context = {"threads": pg.objects, "pager": pg, "mailboxes": mailboxes, "chosen": chosen, "sent": sent}
    if sent is not None:
        sent["count"] = sent["messages"].count()
    return render(request, "mail/conversations.html", context)


def _sent_filter(request: HttpRequest, user: Any) -> dict[str, Any] | None:
    """``?sent_by=<user id>|none&sent__after=YYYY-MM-DD&sent__before=YYYY-MM-DD`` (days included): the emails a
    rep sent in a period — the "Emails sent" figure of the activity per rep report opens here."""
    from django.contrib.auth import get_user_model

    params = request.GET
    if not any(name in params for name in ("sent_by", "sent__after", "sent__before")):
        return None
    days: dict[str, dt.date] = {}
    for name in ("sent__after", "sent__before"):
        if params.get(name):
            try:
                days[name] = inputs.parse_day(params[name])
            except ValueError as exc:
                raise QueryError(name, str(exc)) from None
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(days.get("sent__after", dt.date(inputs.MIN_YEAR, 1, 1)), dt.time(0), tzinfo=tz)
    last = days.get("sent__before", dt.date(inputs.MAX_YEAR, 12, 30))
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    messages = queries.sent_between(queries.visible_messages(user), start, end)
    who = params.get("sent_by", "")
    name = ""
    if who == "none":
        messages, name = messages.filter(rep__isnull=True), "nobody in particular (shared mailboxes)"
    elif who:
        if not inputs.is_id(who):
            raise QueryError("sent_by", "use a user's id, or none.")
        rep = get_user_model().objects.filter(pk=int(who)).first()
        if rep is None:
            raise QueryError("sent_by", "there is no such user.")
        messages, name = messages.filter(rep=rep.pk), rep.display_name
    return {"messages": messages, "name": name, "after": days.get("sent__after"), "before": days.get("sent__before")}


def _visible_thread(user: Any, pk: int) -> Thread:
    return get_object_or_404(queries.visible_threads(user).select_related("mailbox", "private_by"), pk=pk)


def _may_make_private(user: Any, thread: Thread) -> bool:
    mailbox = thread.mailbox
    return mailbox.owner_id == user.pk or (mailbox.shared and (not thread.private or thread.private_by_id == user.pk))


@page
def thread_view(request: HttpRequest, pk: int) -> HttpResponse:
    from rapport.contacts.models import PersonEmail
    from rapport.deals.models import Deal

    user = signed_in(request)
    thread = _visible_thread(user, pk)
    rows = list(queries.thread_messages(user, thread).prefetch_related("attachments"))
    show_images = request.GET.get("images") == "1"
    addresses: dict[str, str] = {}
    for message in rows:
        inline = {a.content_id.lower(): reverse("mail-attachment", args=[a.pk]) for a in message.attachments.all()
                  if a.content_id and a.file}  # fmt: skip
        html = map_inline_images(message.body_html, inline) if message.body_html else ""
        message.display_html = show_remote_images(html) if show_images else html  # type: ignore[attr-defined]
        for entry in [{"address": message.from_address, "name": message.from_name}, *message.to, *message.cc]:
            if entry.get("address"):
                addresses.setdefault(entry["address"], entry.get("name", ""))
    own = services.own_addresses(thread.mailbox)
    known = set(PersonEmail.objects.filter(email__in=list(addresses), live=True).values_list("email", flat=True))
    unknown = [(a, n) for a, n in addresses.items() if a not in own and a not in known]
    deals = list(Deal.objects.visible_to(user).filter(mail_threads=thread).only("id", "title"))
    context = {
        "thread": thread,
        "rows": rows,
        "show_images": show_images,
        "any_remote": any(m.has_remote_images for m in rows),
        "unknown": unknown[:10],
        "deals": deals,
        "may_make_private": _may_make_private(user, thread),
        "may_add_people": user.scope_for("people", "add") is not None,
        # sending is logging an interaction (compose): roles that may add activities may reply
        "may_reply": can(user, "activities", "add"),
        "may_link_deals": user.scope_for("deals", "view") is not None,
    }
    response = render(request, "mail/thread.html", context)
    if show_images:
        # The reader asked for the senders' images: this page (only) may load them.
        response["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: https: http:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
        )
    return response


@page
@require_POST
def thread_private(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    thread = _visible_thread(user, pk)
    if not _may_make_private(user, thread):
        return error_page(request, "Only the mailbox's owner may change who sees this conversation.", status=403)
    private = request.POST.get("private") == "1"
    services.set_thread_private(thread, private, actor=user)
    flash.success(request, "Only you see this conversation now." if private else "This conversation is shared again.")
    return redirect("mail-thread", pk=thread.pk)


@page
@require_POST
def thread_deal(request: HttpRequest, pk: int) -> HttpResponse:
    from rapport.core.inputs import is_id
    from rapport.deals.models import Deal

    user = signed_in(request)
    thread = _visible_thread(user, pk)
    raw = request.POST.get("deal", "")
    deal = Deal.objects.visible_to(user).filter(pk=int(raw)).first() if is_id(raw) else None
    if deal is None:
        return error_page(request, f"deal: there is no deal #{raw[:20]}.", back=reverse("mail-thread", args=[pk]))
    if request.POST.get("unlink") == "1":
        services.unlink_thread_from_deal(thread, deal, actor=user)
        flash.success(request, f"No longer linked to {deal.title}.")
    else:
        services.link_thread_to_deal(thread, deal, actor=user)
        flash.success(request, f"Linked to {deal.title}: the conversation shows on its timeline.")
    return redirect("mail-thread", pk=thread.pk)


@page
@require_POST
def create_person(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    address = (request.POST.get("address") or "").strip().lower()
    back = request.POST.get("thread") or ""
    back_url = reverse("mail-thread", args=[int(back)]) if inputs.is_id(back) else reverse("mail")
    # Only an address of a message the user may read: no probing of other people's mail.
    if (
        not address
        or not queries.visible_messages(user).filter(from_address=address).exists()
        and not (
            queries.visible_messages(user).filter(to__icontains=address).exists()
            or queries.visible_messages(user).filter(cc__icontains=address).exists()
        )
    ):
        return error_page(request, "address: no message you may read has this address.", back=back_url)
    try:
        person = services.create_person_from_address(address, request.POST.get("name", ""), actor=user)
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in flatten(exc.detail).items())
        return error_page(request, problems or "The person could not be created.", back=back_url)
    flash.success(request, f"{person} created; their mail is linked to them.")
    return redirect(f"/people/{person.pk}/")


@page
def attachment(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    item = get_object_or_404(Attachment.objects.select_related("message"), pk=pk)
    if not queries.visible_messages(user).filter(pk=item.message_id).exists() or not item.file:
        raise Http404
    inline = item.content_type.lower() in INLINE_TYPES and request.GET.get("download") != "1"
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=not inline,
        filename=item.filename,
        content_type=item.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
    return response  # type: ignore[return-value]  # a streaming response, served like any other
