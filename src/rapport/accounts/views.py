"""Login and logout pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from .forms import LoginForm
from .throttle import remember_device


class LoginView(auth_views.LoginView):
    """Django's login view (safe ``?next=``, session key cycled at login) with the throttled form."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        # This browser is now one the owner signed in from: the account-wide lock no longer applies to it.
        remember_device(response, form.get_user())
        return response


class LogoutView(auth_views.LogoutView):
    """POST only, as Django's LogoutView is since 5.0."""
