from __future__ import annotations

from typing import Any, NamedTuple

from django.http import HttpRequest

from rapport.core import formatting, registry


class NavItem(NamedTuple):
    key: str
    label: str
    href: str


# The main navigation, in the order of a working day: what people open many times a day first (their
# day, their contacts, their deals and activities), what they open weekly after; the links that do not
# fit a laptop's bar fold from the end behind "More" (static/js/menu.js). A record type registered
# later (and not named here) takes its place before the recycle bin.
ORDER = (
    "my-day",
    "people",
    "companies",
    "deals",
    "board",
    "activities",
    "calendar",
    "mail",
    "reports",
    "forecast",
    "quotes",
    "products",
    "invoices",
    "sequences",
)
PAGES = {
    "my-day": "My day",
    "board": "Board",
    "calendar": "Calendar",
    "mail": "Mail",
    "reports": "Reports",
    "forecast": "Forecast",
    "quotes": "Quotes",
    "sequences": "Sequences",
}
HREFS = {"board": "/deals/board/"}
NEEDS = {"board": "deals", "quotes": "deals"}  # pages about a record type appear with that type


def nav_items(user: Any) -> list[NavItem]:
    """The main navigation links ``user`` may use, in :data:`ORDER`."""
    types = {t.key: t for t in registry.all_types() if t.in_nav and user.scope_for(t.key, "view")}
    shown = set(types)
    items: list[NavItem] = []
    for key in ORDER:
        if key in types:
            items.append(NavItem(key, types.pop(key).label_plural, f"/{key}/"))
        elif key in PAGES and (key not in NEEDS or NEEDS[key] in shown):
            items.append(NavItem(key, PAGES[key], HREFS.get(key, f"/{key}/")))
    items += [NavItem(t.key, t.label_plural, f"/{t.key}/") for t in types.values()]
    items.append(NavItem("bin", "Recycle bin", "/bin/"))
    if user.can_manage_settings():
        items.append(NavItem("settings", "Settings", "/settings/"))
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"user_locale": formatting.current_locale()}
    return {
        "nav_items": nav_items(user),
        "can_manage_settings": user.can_manage_settings(),
        "user_locale": formatting.current_locale(),  # <html data-locale> for scripts that format numbers
    }
