"""Template filters for showing values (a builtin library: every template has them without ``load``).

``{{ deal.amount|money:deal.currency }}``, ``{{ deal.probability|percent }}``, ``{{ n|number }}``,
``{{ deal.expected_close|day }}``, ``{{ activity.due_at|when }}``, ``{{ a.start_at|clock }}``,
``{{ a.done|yes_no }}``, ``{{ event.kind|event_name }}`` — all by the viewer's locale and time zone
(``rapport.core.formatting``).
"""

from __future__ import annotations

from typing import Any

from django import template

from rapport.core import formatting

register = template.Library()


@register.filter
def money(value: Any, currency: str | None = None) -> str:
    return formatting.money(value, currency)


@register.filter
def number(value: Any, places: Any = None) -> str:
    return formatting.number(value, int(places) if places not in (None, "") else None)


@register.filter
def percent(value: Any) -> str:
    return formatting.percent(value)


@register.filter
def day(value: Any) -> str:
    return formatting.date(value)


@register.filter
def long_day(value: Any) -> str:
    return formatting.long_day(value)


@register.filter
def short_day(value: Any) -> str:
    return formatting.short_day(value)


@register.filter
def when(value: Any) -> str:
    return formatting.datetime(value)


@register.filter
def clock(value: Any) -> str:
    return formatting.time(value)


@register.filter
def yes_no(value: Any) -> str:
    return formatting.yes_no(value)


@register.filter
def event_name(value: Any) -> str:
    return formatting.event_name(str(value or ""))


@register.filter
def source_name(value: Any) -> str:
    return formatting.source_name(str(value or ""))


@register.filter
def day_label(value: Any, with_month: Any = False) -> str:
    return formatting.day_label(value, with_month=bool(with_month))
