"""Settings → Mailboxes: connect and edit mailboxes (personal for anyone, shared and dropbox for settings
managers; secrets never shown back), each one's health (last sync, messages, next run, last error with the fix,
Re-sync), and Settings → Mail privacy: the organisation's ignored addresses and domains."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.accounts.models import Team
from rapport.web.common import page, settings_required, signed_in

from .. import imap, queries, services
from ..models import AUTH_METHODS, SECURITY, IgnoredAddress, Mailbox, MailFolder


class MailboxForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="How the mailbox is named in Rapport, e.g. “Sales” or “My mail”.")
    address = forms.EmailField(max_length=254, label="Email address")
    imap_host = forms.CharField(max_length=253, label="IMAP server", help_text="e.g. imap.example.com")
    imap_port = forms.IntegerField(min_value=1, max_value=65535, initial=993, label="IMAP port")
    imap_security = forms.ChoiceField(choices=SECURITY, initial="ssl", label="IMAP security")
    username = forms.CharField(max_length=254, label="User name", help_text="Often the email address itself.")
    auth_method = forms.ChoiceField(choices=AUTH_METHODS, initial="password", label="Sign in with")
    secret = forms.CharField(
        required=False,
        max_length=4096,
        label="Password or access token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the stored one.",
    )
    smtp_host = forms.CharField(max_length=253, required=False, label="SMTP server (for sending)")
    smtp_port = forms.IntegerField(min_value=1, max_value=65535, initial=587, label="SMTP port")
    smtp_security = forms.ChoiceField(choices=SECURITY, initial="starttls", label="SMTP security")
    sync_from = forms.DateField(
        required=False, label="Sync mail from", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Older mail is left on the server. Empty: everything.",
    )  # fmt: skip
    active = forms.BooleanField(required=False, initial=True, label="Sync this mailbox")
    folders = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Folders to sync",
        help_text="The inbox and the sent folder are always synced.",
    )  # fmt: skip
    shared = forms.BooleanField(required=False, label="Shared mailbox (e.g. sales@), seen by a team")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, help_text="Empty: everyone.")
    is_dropbox = forms.BooleanField(
        required=False,
        label="BCC/forward dropbox",
        help_text="Mail sent to this address plus a person's token (shown on their profile) is logged for them.",
    )

    def __init__(self, *args: Any, manager: bool, mailbox: Mailbox | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not manager:
            for name in ("shared", "team", "is_dropbox"):
                del self.fields[name]
        else:
            team: Any = self.fields["team"]
            team.queryset = Team.objects.order_by("name")
        folders = list(MailFolder.objects.filter(mailbox=mailbox)) if mailbox else []
        if folders:
            field: Any = self.fields["folders"]
            field.choices = [(f.name, f.name + (" (always)" if f.role in ("inbox", "sent") else "")) for f in folders]
        else:
            del self.fields["folders"]
        if mailbox is None:
            self.fields["secret"].help_text = "Stored encrypted and never shown again."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("imap_security") == "none" and data.get("imap_host") not in ("127.0.0.1", "localhost", "::1"):
            self.add_error("imap_security", "Without encryption only a server on this machine (127.0.0.1) is allowed.")
        for name in ("imap_host", "smtp_host"):
            reason = imap.refusal(data[name], resolve=False) if data.get(name) else None
            if reason is not None:
                self.add_error(name, f"{reason}; {imap.ALLOW_PRIVATE_FIX}.")
        return data


def _form_initial(mailbox: Mailbox) -> dict[str, Any]:
    initial = {name: getattr(mailbox, name) for name in services.MAILBOX_FIELDS if name != "team"}
    initial["team"] = mailbox.team_id
    initial["folders"] = list(MailFolder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True))
    return initial


@page
def mailbox_list(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    rows = list(queries.manageable_mailboxes(user).select_related("owner", "team").order_by("name", "id"))
    dropboxes = [m for m in rows if m.is_dropbox] or list(Mailbox.objects.filter(is_dropbox=True, active=True)[:1])
    context = {
        "rows": rows,
        "dropbox_addresses": [services.dropbox_address(m, user) for m in dropboxes],
        "manager": user.can_manage_settings(),
    }
    return render(request, "mail/mailboxes.html", context)


def _manageable(request: HttpRequest, pk: int) -> Mailbox:
    return get_object_or_404(queries.manageable_mailboxes(signed_in(request)), pk=pk)


@page
def mailbox_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    user = signed_in(request)
    mailbox = _manageable(request, pk) if pk else None
    manager = user.can_manage_settings()
    form = MailboxForm(
        request.POST or None, manager=manager, mailbox=mailbox, initial=_form_initial(mailbox) if mailbox else None
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if mailbox is None and not data.get("secret"):
            form.add_error("secret", "Enter the password or access token.")
        else:
            saved = services.save_mailbox(mailbox, data, actor=user)
            flash.success(request, f"Mailbox {saved.name} saved. Its first sync starts within a minute.")
            return redirect("mail-mailbox", pk=saved.pk)
    return render(request, "mail/mailbox_form.html", {"form": form, "mailbox": mailbox})


@page
def mailbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _manageable(request, pk)
    folders = list(MailFolder.objects.filter(mailbox=mailbox).order_by("name"))
    error_fix_url = reverse("mail-mailbox-edit", args=[mailbox.pk]) if mailbox.last_error else ""
    context = {"mailbox": mailbox, "folders": folders, "error_fix_url": error_fix_url}
    return render(request, "mail/mailbox.html", context)


@page
@require_POST
def mailbox_resync(request: HttpRequest, pk: int) -> HttpResponse:
    # Imported here: the page URLs load without the IMAP client library (only the sync needs it).
    from ..sync import request_resync

    mailbox = _manageable(request, pk)
    request_resync(mailbox, actor=signed_in(request))
    flash.success(request, "A full re-sync starts within a minute; nothing is duplicated.")
    return redirect("mail-mailbox", pk=mailbox.pk)


@page
@require_POST
def mailbox_delete(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _manageable(request, pk)
    services.delete_mailbox(mailbox, actor=signed_in(request))
    flash.success(request, f"Mailbox {mailbox.name} disconnected and its mail removed from Rapport.")
    return redirect("mail-mailboxes")


class IgnoredForm(forms.Form):
    pattern = forms.CharField(max_length=254, label="Address or domain", help_text="ann@example.com or example.com")


@settings_required
def privacy(request: HttpRequest) -> HttpResponse:
    form = IgnoredForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.add_ignored_address(form.cleaned_data["pattern"], actor=signed_in(request))
        except ValueError as exc:
            form.add_error("pattern", str(exc))
        else:
            flash.success(request, f"Mail with only {entry.pattern} is no longer stored.")
            return redirect("settings-mail-privacy")
    rows = list(IgnoredAddress.objects.order_by("pattern"))
    taken = {r.pattern for r in rows}
    suggestions = [d for d in services.PERSONAL_DOMAINS if d not in taken]
    return render(request, "mail/privacy.html", {"form": form, "rows": rows, "suggestions": suggestions})


@settings_required
@require_POST
def privacy_remove(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(IgnoredAddress, pk=pk)
    services.remove_ignored_address(entry, actor=signed_in(request))
    flash.success(request, f"{entry.pattern} removed: its mail is stored again from the next sync.")
    return redirect("settings-mail-privacy")
