from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from rapport.core import formatting, registry


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_locale": formatting.current_locale()}
    types = [t for t in registry.all_types() if t.in_nav and user.scope_for(t.key, "view")]
    return {
        "nav_types": types,
        "can_manage_settings": user.can_manage_settings(),
        "user_locale": formatting.current_locale(),  # <html data-locale> for scripts that format numbers
    }
