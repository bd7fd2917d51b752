"""Pages of sending email: compose and reply from a record or a message, the messages you sent with their status
and tracking figures, and your templates (and the organisation's) with a preview on a real record."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.core import inputs
from rapport.core.listing import QueryError
from rapport.web.common import can, error_page, object_page, page, settings_required, signed_in

from .. import compose, queries, services, templates
from ..models import EmailTemplate, Suppression
from ..services import ComposeError

TEMPLATE_HELP = 'Markdown. Merge fields: {{ person.first_name }}, {{ person.first_name|default:"there" }}, ' + (
    "{{ company.name }}, {{ deal.title }}, {{ sender.full_name }}, {{ person.custom.<key> }}…"
)


def _may_email(user: Any) -> bool:
    """Sending is logging an interaction: roles that may add activities may send."""
    return can(user, "activities", "add")


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in (text or "").replace(";", ",").split(",") if a.strip()]


class ComposeForm(forms.Form):
    mailbox = forms.ChoiceField(label="From", required=False)
    to = forms.CharField(max_length=5000, label="To", help_text="Addresses separated by commas.")
    add_person = forms.CharField(required=False, label="Add a person to To")
    cc = forms.CharField(max_length=5000, required=False, label="Cc")
    bcc = forms.CharField(max_length=5000, required=False, label="Bcc")
    subject = forms.CharField(max_length=900, required=False)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), max_length=200_000, required=False,
                           help_text="Markdown: **bold**, *italic*, [a link](https://…), lists with -.")  # fmt: skip
    attachments = forms.FileField(
        required=False, widget=forms.ClearableFileInput(attrs={"allow_multiple_selected": True})
    )
    send_at = forms.DateTimeField(
        required=False, label="Send later", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="In your time zone; empty: now.",
    )  # fmt: skip
    tracking = forms.BooleanField(required=False, label="Track opens and clicks")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mailbox: Any = self.fields["mailbox"]
        mailbox.choices = [("", "The organisation's server")] + [
            (str(m.pk), f"{m.name} <{m.address}>") for m in services.usable_mailboxes(user)
        ]


def _record_addresses(record: Any) -> list[str]:
    kind = type(record).__name__ if record is not None else ""
    if kind == "Person":
        return [record.primary_email] if record.primary_email else []
    if kind == "Deal":
        people = [c.person for c in record.deal_contacts.select_related("person").order_by("id")[:5]]
        return [p.primary_email for p in people if p.primary_email and not p.deleted_at]
    if kind == "Company":
        return list(record.people.filter(deleted_at__isnull=True).exclude(primary_email="")
                    .order_by("id").values_list("primary_email", flat=True)[:1])  # fmt: skip
    return []


def _quoted(message: Any) -> str:
    when = message.sent_at or message.received_at
    lines = (message.body_text or "").strip().splitlines()[:200]
    head = f"On {when:%Y-%m-%d %H:%M}, {message.from_name or message.from_address} wrote:" if when else "Wrote:"
    return "\n\n\n" + head + "\n" + "\n".join(f"> {line}" for line in lines)


def _initial(request: HttpRequest, user: Any, record: Any, reply: Any) -> dict[str, Any]:
    initial: dict[str, Any] = {"to": ", ".join(_record_addresses(record))}
    if reply is not None:
        initial["to"] = reply.from_address
        subject = reply.subject or ""
        initial["subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        initial["body"] = _quoted(reply)
    template_id = request.GET.get("template", "")
    if inputs.is_id(template_id):
        template = services.visible_templates(user).filter(pk=int(template_id)).first()
        if template is not None:
            context = templates.merge_context(record=record, sender=user)
            initial["subject"] = initial.get("subject") or templates.render_text(template.subject, context)
            initial["body"] = templates.render_markdown_source(template.body, context) + initial.get("body", "")
    return initial


def _local(value: dt.datetime | None, user: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        zone = zoneinfo.ZoneInfo(user.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return value.replace(tzinfo=None).replace(tzinfo=zone) if value.tzinfo is None else value


@page
def compose_page(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    if not _may_email(user):
        raise PermissionDenied("Your role cannot send email.")
    params = request.POST if request.method == "POST" else request.GET
    try:
        raw_id = params.get("record_id", "")
        record = compose.resolve_record(
            user, params.get("record_type") or None, int(raw_id) if inputs.is_id(raw_id) else None
        )
        raw_reply = params.get("reply", "")
        reply = compose.resolve_reply(user, int(raw_reply) if inputs.is_id(raw_reply) else None)
    except ComposeError:
        raise Http404("No such record or message.")
    if request.method == "POST":
        form = ComposeForm(request.POST, request.FILES, user=user)
        if form.is_valid():
            data = form.cleaned_data
            to = _addresses(data["to"])
            if inputs.is_id(data.get("add_person", "")):
                person = compose.resolve_record(user, "people", int(data["add_person"]))
                if person is not None and person.primary_email:
                    to.append(person.primary_email)
            payload = {
                "to": to, "cc": _addresses(data["cc"]), "bcc": _addresses(data["bcc"]), "subject": data["subject"],
                "body": data["body"], "mailbox": int(data["mailbox"]) if data["mailbox"] else None,
                "record_type": params.get("record_type") or None, "record_id": record.pk if record else None,
                "in_reply_to": reply.pk if reply else None, "send_at": _local(data["send_at"], user),
                "tracking": data["tracking"],
            }  # fmt: skip
            try:
                message = compose.send_from_form(user, payload, attachments=request.FILES.getlist("attachments"))
            except ComposeError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, "Your email is on its way." if not data["send_at"] else "Your email is scheduled."
                )
                return redirect("email-sent-detail", message.pk)
    else:
        form = ComposeForm(initial=_initial(request, user, record, reply), user=user)
    return render(request, "compose/compose.html", {
        "form": form, "record": record, "reply": reply, "record_type": params.get("record_type", ""),
        "templates": services.visible_templates(user), "chosen_template": request.GET.get("template", ""),
    })  # fmt: skip


@page
def sent_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    try:
        found = object_page(request, queries.visible_outgoing(user), "id")
    except QueryError as exc:
        return error_page(request, exc.message, back=reverse("email-sent"))
    context = {"page": found, "rows": found.objects, "may_email": _may_email(user)}
    return render(request, "compose/sent_list.html", context)


@page
def sent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    message = queries.visible_outgoing(user).select_related("mailbox").filter(pk=pk).first()
    if message is None:
        raise Http404("No such message.")
    events = list(message.tracking_events.order_by("-at", "-id")[:50])
    may_cancel = message.status == "scheduled" and message.sender_id == user.pk
    record_label = ""
    if message.record_type in compose.RECORD_TYPES and message.record_id:
        try:
            record_label = str(compose.resolve_record(user, message.record_type, message.record_id))
        except ComposeError:  # binned, or not the viewer's to see: the id only
            record_label = ""
    context = {"message": message, "events": events, "may_cancel": may_cancel, "record_label": record_label}
    return render(request, "compose/sent_detail.html", context)


@require_POST
@page
def sent_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    message = queries.visible_outgoing(user).filter(pk=pk, sender=user).first()
    if message is None:
        raise Http404("No such message.")
    if services.cancel(message, actor=user):
        messages.success(request, "The email was cancelled.")
    else:
        messages.error(request, "It is being sent or was sent already: too late to cancel.")
    return redirect("email-sent-detail", pk)


# --- templates ----------------------------------------------------------------------------------------------
class TemplateForm(forms.Form):
    name = forms.CharField(max_length=150)
    subject = forms.CharField(max_length=500)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), max_length=50_000, help_text=TEMPLATE_HELP)
    shared = forms.BooleanField(required=False, label="For everyone in the organisation")

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing or not user.can_manage_settings():
            del self.fields["shared"]


@page
def template_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    rows = services.visible_templates(user).select_related("owner")
    return render(request, "compose/template_list.html", {
        "mine": [t for t in rows if t.owner_id == user.pk], "shared": [t for t in rows if t.owner_id is None],
    })  # fmt: skip


def _save(form: TemplateForm, apply: Any) -> Any:
    if not form.is_valid():
        return None
    try:
        return apply(form.cleaned_data)
    except ComposeError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


@page
def template_new(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    form = TemplateForm(request.POST or None, user=user)
    if request.method == "POST":
        made = _save(form, lambda d: services.create_template(actor=user, **d))
        if made is not None:
            messages.success(request, f"Template “{made.name}” saved.")
            return redirect("email-template", made.pk)
    return render(request, "compose/template_form.html", {"form": form, "template": None})


@page
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    template: EmailTemplate | None = services.visible_templates(user).filter(pk=pk).first()
    if template is None:
        raise Http404("No such template.")
    may_change = services.may_change_template(user, template)
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied("You cannot change this template.")
        form = TemplateForm(request.POST, user=user, editing=True)
        if _save(form, lambda d: services.update_template(template, actor=user, **d)) is not None:
            messages.success(request, "Template saved.")
            return redirect("email-template", template.pk)
    else:
        form = TemplateForm(initial={"name": template.name, "subject": template.subject, "body": template.body},
                            user=user, editing=True)  # fmt: skip
    preview_id = request.GET.get("person", "")
    person = None
    if inputs.is_id(preview_id):
        try:
            person = compose.resolve_record(user, "people", int(preview_id))
        except ComposeError:
            person = None
    subject, html = templates.render(template, record=person, sender=user)
    return render(request, "compose/template_form.html", {
        "form": form, "template": template, "may_change": may_change, "preview_subject": subject,
        "preview_html": html, "person": person, "may_email": _may_email(user),
    })  # fmt: skip


@require_POST
@page
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = signed_in(request)
    template = services.visible_templates(user).filter(pk=pk).first()
    if template is None:
        raise Http404("No such template.")
    try:
        services.delete_template(template, actor=user)
    except ComposeError as exc:
        raise PermissionDenied(exc.message)
    messages.success(request, "Template deleted.")
    return redirect("email-templates")


class SuppressionForm(forms.Form):
    address = forms.CharField(label="Email address", max_length=254)
    detail = forms.CharField(label="Why (optional)", max_length=500, required=False)


@settings_required
def suppression_list(request: HttpRequest) -> HttpResponse:
    """Settings → Email suppressions: the addresses no email goes to (unsubscribed, hard-bounced, added by
    hand), searchable, with the reason; settings managers add or remove one."""
    user = signed_in(request)
    form = SuppressionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = services.add_suppression(form.cleaned_data["address"], actor=user,
                                             detail=form.cleaned_data["detail"])  # fmt: skip
        except ComposeError as exc:
            form.add_error("address", exc.message)
        else:
            address = form.cleaned_data["address"].strip().lower()
            if added:
                messages.success(request, f"No email will go to {address} any more.")
            else:
                messages.info(request, f"{address} was on the list already.")
            return redirect("settings-email-suppressions")
    query = (request.GET.get("q") or "").strip()
    problem = inputs.bad_text(query) or ("search with at most 254 characters." if len(query) > 254 else "")
    if problem:
        return error_page(request, f"q: {problem}", back=reverse("settings-email-suppressions"))
    rows = Suppression.objects.select_related("created_by")
    if query:
        rows = rows.filter(address__contains=query.lower())
    try:
        found = object_page(request, rows, "id")
    except QueryError as exc:
        return error_page(request, exc.message, back=reverse("settings-email-suppressions"))
    return render(request, "compose/suppressions.html", {
        "form": form, "page": found, "rows": found.objects, "query": query,
    })  # fmt: skip


@settings_required
@require_POST
def suppression_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = Suppression.objects.filter(pk=pk).first()
    if entry is None:
        raise Http404("No such address on the list.")
    services.remove_suppression(entry, actor=signed_in(request))
    messages.success(request, f"{entry.address} is off the list: later emails go to it again.")
    return redirect("settings-email-suppressions")
