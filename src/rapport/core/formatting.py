"""How values read for people: numbers, money, percentages, dates and times in the viewer's locale and
time zone, booleans as Yes/No and event names in words. Pages, timelines, e-mails and PDFs call this;
exports and the API keep typed raw values.

The locale is one of :data:`LOCALES`, set per request from the signed-in user (``UserTimezoneMiddleware``)
or for a block of code with :func:`using` (jobs writing to one user). Symbols and patterns come from the
Unicode CLDR through Babel; money keeps the ISO 4217 decimals of :mod:`rapport.core.money` (JPY none).
Numbers and money are formatted by a small fast path over Babel's data for the locale (list pages
format hundreds of cells), checked against Babel's own formatter in the tests.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_interval,
    format_skeleton,
    format_time,
    get_day_names,
    parse_pattern,
)
from babel.numbers import format_compact_currency, format_compact_decimal, get_currency_symbol
from django.conf import settings
from django.utils import timezone

from .money import minor_units

# The locales a user can pick (code, name in its own language). Adding one is a line here.
LOCALES: tuple[tuple[str, str], ...] = (
    ("en-US", "English (United States)"),
    ("en-GB", "English (United Kingdom)"),
    ("de-DE", "Deutsch (Deutschland)"),
    ("fr-FR", "Français (France)"),
)
LOCALE_CODES = frozenset(code for code, _ in LOCALES)
FALLBACK_LOCALE = "en-US"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("rapport_locale", default=None)


def default_locale() -> str:
    """The installation's default (``RAPPORT_LOCALE``), for new users and for anyone without a choice."""
    code = getattr(settings, "RAPPORT_LOCALE", FALLBACK_LOCALE)
    return code if code in LOCALE_CODES else FALLBACK_LOCALE


def valid_locale(code: str | None) -> str:
    return code if code in LOCALE_CODES else default_locale()


def current_locale() -> str:
    return _current.get() or default_locale()


def activate(code: str | None) -> contextvars.Token[str | None]:
    return _current.set(valid_locale(code) if code else None)


def deactivate(token: contextvars.Token[str | None] | None = None) -> None:
    if token is not None:
        _current.reset(token)
    else:
        _current.set(None)


@contextlib.contextmanager
def using(code: str | None) -> Iterator[None]:
    """Format in ``code`` inside the block (a job writing to one user)."""
    token = activate(code)
    try:
        yield
    finally:
        _current.reset(token)


@functools.lru_cache(maxsize=32)
def babel_locale(code: str) -> Locale:
    return Locale.parse(valid_locale(code), sep="-")


# --- numbers and money ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Numbers:
    group: str
    decimal: str
    minus: str
    percent_prefix: str
    percent_suffix: str


@functools.lru_cache(maxsize=32)
def _numbers(code: str) -> _Numbers:
    loc = babel_locale(code)
    symbols = loc.number_symbols["latn"]
    pattern = loc.percent_formats[None]
    return _Numbers(
        group=symbols["group"],
        decimal=symbols["decimal"],
        minus=symbols["minusSign"],
        percent_prefix=pattern.prefix[0].replace("%", symbols["percentSign"]),
        percent_suffix=pattern.suffix[0].replace("%", symbols["percentSign"]),
    )


@dataclass(frozen=True)
class _Money:
    prefix: str
    suffix: str
    places: int
    quantum: Decimal
    table: dict[int, str]  # "," and "." of Python's format → the locale's group and decimal
    minus: str


@functools.lru_cache(maxsize=512)
def _money(code: str, currency: str) -> _Money:
    loc = babel_locale(code)
    pattern = loc.currency_formats["standard"]
    symbol = get_currency_symbol(currency, locale=loc) if currency else ""
    prefix, suffix = pattern.prefix[0], pattern.suffix[0]
    # CLDR's currency spacing: a symbol made of letters is kept apart from the digits ("CHF 12.00").
    if "¤" in prefix and symbol[-1:].isalpha() and not prefix.endswith(("\xa0", " ")):
        prefix = prefix + "\xa0"
    if "¤" in suffix and symbol[:1].isalpha() and not suffix.startswith(("\xa0", " ")):
        suffix = "\xa0" + suffix
    sym = _numbers(code)
    if not symbol:  # no currency given: the grouped amount alone
        prefix = suffix = ""
    return _Money(
        prefix.replace("¤", symbol),
        suffix.replace("¤", symbol),
        minor_units(currency),
        Decimal(1).scaleb(-minor_units(currency)),
        {ord(","): sym.group, ord("."): sym.decimal},
        sym.minus,
    )


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _digits(value: Decimal, places: int | None, code: str) -> tuple[bool, str]:
    """(negative, grouped digits with the locale's symbols); ``places`` None keeps up to 3 decimals."""
    if places is None:
        value = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP) if value.as_tuple().exponent < -3 else value  # type: ignore[operator]
        text = f"{abs(value):,f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    else:
        text = f"{abs(value):,.{places}f}"
    negative = value < 0 and any(c not in "0.," for c in text)
    sym = _numbers(code)
    return negative, text.translate({ord(","): "\x00", ord("."): sym.decimal}).replace("\x00", sym.group)


def number(value: Any, places: int | None = None) -> str:
    """``1,234.5`` (en-US), ``1.234,5`` (de-DE): grouped, up to three decimals unless ``places`` is given."""
    d = _decimal(value)
    if d is None:
        return "" if value is None else str(value)
    code = current_locale()
    negative, text = _digits(d, places, code)
    return (_numbers(code).minus if negative else "") + text


def money(amount: Any, currency: str | None) -> str:
    """``€1,234,567.50`` (en-US), ``1.234.567,50 €`` (de-DE), ``¥1,234`` (JPY has no minor unit)."""
    d = _decimal(amount)
    if d is None:
        return "" if amount is None else str(amount)
    shape = _money(current_locale(), (currency or "").upper())
    try:
        value = d.quantize(shape.quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return str(amount)
    text = f"{abs(value):,.{shape.places}f}".translate(shape.table)
    sign = shape.minus if value < 0 else ""
    return sign + shape.prefix + text + shape.suffix


def percent(value: Any) -> str:
    """A percentage given in percent (``20`` → ``20%`` in en-US, ``20 %`` in de-DE), decimals kept (12.5%)."""
    d = _decimal(value)
    if d is None:
        return "" if value is None else str(value)
    code = current_locale()
    sym = _numbers(code)
    negative, text = _digits(d, None, code)
    return (sym.minus if negative else "") + sym.percent_prefix + text + sym.percent_suffix


def compact(value: Any, currency: str | None = None) -> str:
    """A figure in little room (a chart's axis): ``1.2K``, ``$3M``, ``12K €`` (CLDR's short forms per locale)."""
    d = _decimal(value)
    if d is None:
        return "" if value is None else str(value)
    loc = babel_locale(current_locale())
    if currency:
        return format_compact_currency(d, currency.upper(), locale=loc, fraction_digits=1)
    return format_compact_decimal(d, locale=loc, fraction_digits=1)


# --- dates and times ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _datetime_pattern(code: str) -> str:
    """The locale's medium date with its short time: ``MMM d, y, h:mm a`` (en-US), ``dd.MM.y, HH:mm`` (de)."""
    loc = babel_locale(code)
    combined = str(loc.datetime_formats["medium"])
    date_pattern = loc.date_formats["medium"].pattern
    time_pattern = loc.time_formats["short"].pattern
    return combined.replace("{1}", date_pattern).replace("{0}", time_pattern)


_FIELD = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=32)
def _compiled_datetime(code: str) -> Callable[[dt.datetime], str] | None:
    """The datetime pattern of ``code`` as a plain %-format over the fields it uses (list pages show
    many moments; Babel's formatter costs ~3× as much), or None when it uses a field not handled here."""
    loc = babel_locale(code)
    fmt: str = str(parse_pattern(_datetime_pattern(code)).format)
    months = loc.months["format"]["abbreviated"]
    periods = loc.day_periods["format"]["abbreviated"]
    getters: dict[str, Callable[[dt.datetime], str]] = {
        "y": lambda v: str(v.year),
        "M": lambda v: str(v.month),
        "MM": lambda v: f"{v.month:02d}",
        "MMM": lambda v: months[v.month],
        "d": lambda v: str(v.day),
        "dd": lambda v: f"{v.day:02d}",
        "H": lambda v: str(v.hour),
        "HH": lambda v: f"{v.hour:02d}",
        "h": lambda v: str(v.hour % 12 or 12),
        "hh": lambda v: f"{v.hour % 12 or 12:02d}",
        "mm": lambda v: f"{v.minute:02d}",
        "a": lambda v: periods["pm" if v.hour >= 12 else "am"],
    }
    fields = _FIELD.findall(fmt)
    if any(f not in getters for f in fields):
        return None
    used = {f: getters[f] for f in fields}
    return lambda v: fmt % {f: get(v) for f, get in used.items()}


@functools.lru_cache(maxsize=4096)
def _date(value: dt.date, code: str) -> str:
    return format_date(value, "medium", locale=babel_locale(code))


def _parse(value: Any) -> Any:
    if isinstance(value, str):
        from django.utils.dateparse import parse_date, parse_datetime

        return parse_datetime(value) or parse_date(value) or value
    return value


def date(value: Any) -> str:
    """``May 26, 2027`` (en-US), ``26 May 2027`` (en-GB), ``26.05.2027`` (de-DE), ``26 mai 2027`` (fr-FR).
    A datetime is shown as its day in the viewer's time zone."""
    value = _parse(value)
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return _date(value, current_locale())


def long_day(value: Any) -> str:
    """A day with its weekday and no year, for headings: ``Monday, November 30`` (en-US),
    ``Monday 30 November`` (en-GB), ``Montag, 30. November`` (de-DE), ``lundi 30 novembre`` (fr-FR)."""
    value = _parse(value)
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return format_date(value, _long_day_pattern(current_locale()), locale=babel_locale(current_locale()))


@functools.lru_cache(maxsize=32)
def _long_day_pattern(code: str) -> str:
    # CLDR's "MMMMEd" with the weekday written out (its own pattern abbreviates it).
    loc = babel_locale(code)
    skeleton = loc.datetime_skeletons.get("MMMMEd") or loc.datetime_skeletons["MMMEd"]
    return re.sub(r"(?<![Ec])E{1,3}(?!E)", "EEEE", str(skeleton.pattern))


def short_day(value: Any) -> str:
    """A near day, compact: ``Jan 5`` (en-US), ``5 Jan`` (en-GB), ``5. Jan.`` (de-DE), ``5 janv.`` (fr-FR),
    with the year when it is not this one (``Jan 5, 2028``). A datetime is its day in the viewer's zone."""
    value = _parse(value)
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return _short_day(value, value.year == timezone.localdate().year, current_locale())


@functools.lru_cache(maxsize=4096)
def _short_day(value: dt.date, this_year: bool, code: str) -> str:
    return format_skeleton("MMMd" if this_year else "yMMMd", value, locale=babel_locale(code))


def month(value: Any) -> str:
    """A month with its year: ``November 2026`` (en-US), ``November 2026`` (de-DE), ``novembre 2026`` (fr-FR)."""
    value = _parse(value)
    if not isinstance(value, dt.date):
        return "" if value is None else str(value)
    return format_skeleton("yMMMM", value, locale=babel_locale(current_locale()))


def weekday_names() -> list[str]:
    """Abbreviated weekday names from Monday: ``Mon`` … (en), ``Mo.`` … (de-DE), ``lun.`` … (fr-FR)."""
    names = get_day_names("abbreviated", locale=babel_locale(current_locale()))
    return [names[i] for i in range(7)]


def day_label(value: dt.date, *, with_month: bool) -> str:
    """A calendar cell's date: the day of the month (``30``), or with its month (``Nov 30`` en-US,
    ``30 Nov`` en-GB, ``30. Nov.`` de-DE, ``30 nov.`` fr-FR)."""
    return format_skeleton("MMMd" if with_month else "d", value, locale=babel_locale(current_locale()))


def day_range(start: dt.date, end: dt.date) -> str:
    """Two days as one span, sharing what they share: ``Dec 14 – 20, 2026`` (en-US),
    ``14–20 Dec 2026`` (en-GB), ``14.–20. Dez. 2026`` (de-DE)."""
    return format_interval(start, end, "yMMMd", locale=babel_locale(current_locale()))


def datetime(value: Any) -> str:
    """``May 26, 2027, 2:30 PM`` (en-US), ``26.05.2027, 14:30`` (de-DE), in the viewer's time zone."""
    value = _parse(value)
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        code = current_locale()
        fast = _compiled_datetime(code)
        if fast is not None:
            return fast(value)
        return format_datetime(value, _datetime_pattern(code), locale=babel_locale(code))
    if isinstance(value, dt.date):
        return date(value)
    return "" if value is None else str(value)


def time(value: Any) -> str:
    """``2:30 PM`` (en-US), ``14:30`` (en-GB, de-DE, fr-FR), in the viewer's time zone."""
    value = _parse(value)
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    if not isinstance(value, dt.datetime | dt.time):
        return "" if value is None else str(value)
    return format_time(value, "short", locale=babel_locale(current_locale()))


# --- words ------------------------------------------------------------------------------------------
def yes_no(value: Any) -> str:
    if value is None or value == "":
        return ""
    return "Yes" if value else "No"


# Event kinds (core.services.record_event) as people say them; any other key reads as its words.
EVENT_NAMES = {
    "created": "Created",
    "updated": "Changed",
    "deleted": "Moved to the recycle bin",
    "restored": "Restored",
    "merged": "Merged",
    "stage_changed": "Stage changed",
    "quote_created": "Quote created",
    "quote_updated": "Quote changed",
    "quote_expired": "Quote expired",
    "reminder": "Reminder changed",
}


# The same, as what someone did (a timeline reads "Ann Lee created a quote").
EVENT_VERBS = {
    "created": "created",
    "updated": "changed",
    "deleted": "moved to the recycle bin",
    "restored": "restored",
    "merged": "merged",
    "stage_changed": "changed the stage",
    "quote_created": "created a quote",
    "quote_updated": "changed a quote",
    "quote_expired": "saw a quote expire",
    "reminder": "changed the reminder",
}


def event_verb(kind: str) -> str:
    return EVENT_VERBS.get(kind) or event_name(kind).lower()


def event_name(kind: str) -> str:
    """``quote_created`` → ``Quote created``."""
    if kind in EVENT_NAMES:
        return EVENT_NAMES[kind]
    words = (kind or "").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


SOURCE_NAMES = {"ui": "web", "api": "API", "import": "import", "automation": "automation", "email": "email"}


def source_name(source: str) -> str:
    """Where a change came from, as a badge reads: ``ui`` → ``web``, ``api`` → ``API``."""
    return SOURCE_NAMES.get(source, source)


def humanize_key(key: str) -> str:
    """A field or choice key in words when no label is declared: ``decision_maker`` → ``Decision maker``."""
    words = (key or "").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


__all__ = [
    "LOCALES",
    "activate",
    "current_locale",
    "date",
    "datetime",
    "deactivate",
    "default_locale",
    "event_name",
    "event_verb",
    "humanize_key",
    "money",
    "number",
    "percent",
    "source_name",
    "time",
    "using",
    "valid_locale",
    "yes_no",
]
