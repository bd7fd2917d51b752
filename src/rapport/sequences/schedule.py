"""When a step runs: business days (Monday to Friday minus holidays) and a sending window read in the
recipient's time zone. Pure functions of their arguments; every datetime in and out is aware (UTC out)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection
from typing import Any

from django.conf import settings

UTC = dt.UTC


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def is_business_day(day: dt.date, holidays: Collection[dt.date] = ()) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_business_day(day: dt.date, holidays: Collection[dt.date] = ()) -> dt.date:
    """The first business day after ``day``."""
    day += dt.timedelta(days=1)
    while not is_business_day(day, holidays):
        day += dt.timedelta(days=1)
    return day


def add_business_days(day: dt.date, n: int, holidays: Collection[dt.date] = ()) -> dt.date:
    """``n`` business days after ``day`` (Friday + 1 is Monday); 0 is ``day`` itself."""
    for _ in range(n):
        day = next_business_day(day, holidays)
    return day


def _at(day: dt.date, time: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    # A wall time that a DST change skips (02:30 on a spring-forward night) resolves forward through UTC.
    return dt.datetime.combine(day, time, tzinfo=tz).astimezone(UTC).astimezone(tz)


def into_window(
    moment: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    start: dt.time,
    end: dt.time,
    holidays: Collection[dt.date] = (),
) -> dt.datetime:
    """The earliest time at or after ``moment`` that is on a business day between ``start`` and ``end`` in ``tz``."""
    local = moment.astimezone(tz)
    day = local.date()
    if is_business_day(day, holidays):
        if local.time() < start:
            return _at(day, start, tz).astimezone(UTC)
        if local.time() < end:
            return moment.astimezone(UTC)
    return _at(next_business_day(day, holidays), start, tz).astimezone(UTC)


def step_due_at(
    after: dt.datetime,
    delay_days: int,
    tz: zoneinfo.ZoneInfo,
    start: dt.time,
    end: dt.time,
    holidays: Collection[dt.date] = (),
) -> dt.datetime:
    """When a step ``delay_days`` business days after ``after`` runs: the same local time that many business days
    later (counted from the local day of ``after``), then moved into the window. With no delay, the next moment in
    the window."""
    local = after.astimezone(tz)
    if delay_days:
        day = add_business_days(local.date(), delay_days, holidays)
        local = _at(day, local.time().replace(tzinfo=None), tz)
    return into_window(local, tz, start, end, holidays)


def recipient_zone(person: Any) -> str:
    """The recipient's time zone: a ``time_zone`` custom field on the person, else on their company, else the
    organisation's (RAPPORT_TIME_ZONE). Contacts have no time zone column; an administrator adds the custom field
    (key ``time_zone``, text, an IANA name such as Europe/Berlin) when recipients span zones."""
    for custom in (getattr(person, "custom", None), getattr(getattr(person, "company", None), "custom", None)):
        name = (custom or {}).get("time_zone")
        if isinstance(name, str) and name:
            try:
                zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return str(settings.TIME_ZONE or "UTC")
