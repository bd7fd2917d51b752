"""Sign-in and sign-out, one's own account (profile, password) and the password reset by email."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy

from rapport.web.common import page, signed_in

from . import services
from .forms import LoginForm, PasswordChangeForm, PasswordResetRequestForm, ProfileForm
from .models import User
from .throttle import remember_device, reset_allowed


class LoginView(auth_views.LoginView):
    """Django's login view (safe ``?next=``, session key cycled at login) with the throttled form."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.record_login(form.get_user())
        # This browser is now one the owner signed in from: the account-wide lock no longer applies to it.
        remember_device(response, form.get_user())
        return response


class LogoutView(auth_views.LogoutView):
    """POST only, as Django's LogoutView is since 5.0."""


# --- one's own account ------------------------------------------------------------------------
@page
def profile(request: HttpRequest) -> HttpResponse:
    me = signed_in(request)
    # The form validates a copy (a ModelForm writes into its instance); the service changes ``me``.
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=me.pk))
    if request.method == "POST" and form.is_valid():
        services.update_profile(me, actor=me, **{name: form.cleaned_data[name] for name in form.fields})
        messages.success(request, "Profile saved.")
        return redirect("account-profile")
    status = 400 if form.errors else 200
    return render(request, "accounts/profile.html", {"form": form, "section": "profile"}, status=status)


@page
def password_change(request: HttpRequest) -> HttpResponse:
    me = signed_in(request)
    form = PasswordChangeForm(me, request.POST or None)
    if request.method == "POST" and form.is_valid():
        ended = services.set_password(
            me, form.cleaned_data["new_password1"], actor=me, keep_session=request.session.session_key, how="changed"
        )
        update_session_auth_hash(request, me)  # this browser stays signed in
        others = f" You were signed out on {ended} other device{'s' if ended != 1 else ''}." if ended else ""
        messages.success(request, "Password changed." + others)
        return redirect("account-password")
    status = 400 if form.errors else 200
    return render(request, "accounts/password.html", {"form": form, "section": "password"}, status=status)


# --- password reset by email ------------------------------------------------------------------
def _site(request: HttpRequest) -> str:
    """Where the link in the email points: RAPPORT_SITE_URL when it is set, else the address this
    request came to (its host is one of ALLOWED_HOSTS)."""
    if os.environ.get("RAPPORT_SITE_URL"):
        return str(settings.RAPPORT_SITE_URL)
    return request.build_absolute_uri("/").rstrip("/")


def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a link by email. Known or not, every address gets the same answer (no way to learn who
    has an account here); requests are throttled per client address (answered 429) and per email
    (silently: no more links to that inbox for the hour)."""
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        address_ok, email_ok = reset_allowed(request, email)
        if not address_ok:
            form.add_error(None, "Too many reset requests from your network; try again in an hour.")
            return render(request, "accounts/password_reset.html", {"form": form}, status=429)
        if email_ok:
            for user in services.password_reset_users(email):
                services.send_password_reset(user, site=_site(request))
        return redirect("password-reset-sent")
    status = 400 if form.errors else 200
    return render(request, "accounts/password_reset.html", {"form": form}, status=status)


def password_reset_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_sent.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view (the token moves from the URL into the session before the form is shown, so it
    never leaks through a Referer); the new password is set by the service, which ends every session."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-done")

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.user
        # Every session of the account ends, this browser's too if it was signed in (a fresh session).
        logout(self.request)
        services.set_password(user, form.cleaned_data["new_password1"], actor=user, how="reset")
        return redirect(self.success_url)

    def form_invalid(self, form: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=form), status=400)


def password_reset_done(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_done.html")
