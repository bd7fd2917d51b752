"""One formatting of values by the viewer's locale (core.formatting): numbers, money with the currency's
ISO 4217 decimals and symbol, percentages, dates and times in the viewer's time zone, Yes/No, event
names. Expected strings are worked out by hand from the CLDR conventions of each locale (de-DE groups
with "." and puts the symbol after a no-break space; fr-FR groups with a narrow no-break space)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_currency, format_decimal
from django.utils import timezone
from freezegun import freeze_time

from rapport.core import formatting

NBSP, NNBSP = "\xa0", "\u202f"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-US", "€1,234,567.50"),
        ("en-GB", "€1,234,567.50"),
        ("de-DE", f"1.234.567,50{NBSP}€"),
        ("fr-FR", f"1{NNBSP}234{NNBSP}567,50{NBSP}€"),
    ],
)
def test_money_in_each_locale(locale, expected):
    with formatting.using(locale):
        assert formatting.money(Decimal("1234567.5"), "EUR") == expected


@pytest.mark.parametrize(
    ("locale", "jpy", "usd", "kwd", "chf"),
    [
        # yen have no minor unit: 1234.4 → 1,234; the dinar has three; letters are kept off the digits
        ("en-US", "¥1,234", "-$1,234.50", "KWD\xa01.235", "CHF\xa012.00"),
        ("en-GB", "JP¥1,234", "-US$1,234.50", "KWD\xa01.235", "CHF\xa012.00"),
        ("de-DE", f"1.234{NBSP}¥", f"-1.234,50{NBSP}$", f"1,235{NBSP}KWD", f"12,00{NBSP}CHF"),
        ("fr-FR", f"1{NNBSP}234{NBSP}JPY", f"-1{NNBSP}234,50{NBSP}$US", f"1,235{NBSP}KWD", f"12,00{NBSP}CHF"),
    ],
)
def test_money_keeps_the_currencys_minor_units_and_symbol(locale, jpy, usd, kwd, chf):
    with formatting.using(locale):
        assert formatting.money("1234.4", "JPY") == jpy
        assert formatting.money(Decimal("-1234.5"), "usd") == usd
        assert formatting.money("1.2345", "KWD") == kwd  # half up: 1.2345 → 1.235
        assert formatting.money(12, "CHF") == chf
        assert formatting.money(None, "EUR") == ""
        assert formatting.money("0.004", "EUR").replace("€", "").strip(NBSP + "-") in ("0.00", "0,00")  # no "-0"


def test_fast_money_agrees_with_babel_for_every_locale_and_common_currency():
    """The fast path reads Babel's locale data; Babel's own formatter (with the same decimals) is the
    reference, except CLDR's currency spacing that Babel leaves out ("CHF 12.00")."""
    values = [Decimal("0"), Decimal("7.5"), Decimal("-1234.5"), Decimal("1234567.891"), Decimal("999999999.99")]
    for code, _ in formatting.LOCALES:
        for currency in ("EUR", "USD", "GBP", "JPY"):
            for v in values:
                with formatting.using(code):
                    ours = formatting.money(v, currency)
                places = 0 if currency == "JPY" else 2
                # CLDR's digits of these four are ISO 4217's: JPY 0, the others 2
                theirs = format_currency(
                    v.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP"),
                    currency,
                    locale=code.replace("-", "_"),
                )
                assert ours == theirs, (code, currency, v)


@pytest.mark.parametrize(
    ("locale", "number", "quantity", "percent", "half"),
    [
        ("en-US", "1,234,567.891", "2.5", "20%", "12.5%"),
        ("en-GB", "1,234,567.891", "2.5", "20%", "12.5%"),
        ("de-DE", "1.234.567,891", "2,5", f"20{NBSP}%", f"12,5{NBSP}%"),
        ("fr-FR", f"1{NNBSP}234{NNBSP}567,891", "2,5", f"20{NBSP}%", f"12,5{NBSP}%"),
    ],
)
def test_numbers_and_percentages(locale, number, quantity, percent, half):
    with formatting.using(locale):
        assert formatting.number(Decimal("1234567.891")) == number
        assert formatting.number("2.500") == quantity  # trailing zeros dropped
        assert formatting.number(Decimal("2E+1")) == "20"  # a normalized snapshot value
        assert formatting.percent(20) == percent  # probabilities are stored in percent
        assert formatting.percent("12.50") == half
        assert formatting.number(Decimal("1234567.891")) == format_decimal(
            Decimal("1234567.891"), locale=locale.replace("-", "_")
        )


@pytest.mark.parametrize(
    ("locale", "day", "moment", "clock"),
    [
        ("en-US", "May 26, 2027", f"May 26, 2027, 4:30{NNBSP}PM", f"4:30{NNBSP}PM"),
        ("en-GB", "26 May 2027", "26 May 2027, 16:30", "16:30"),
        ("de-DE", "26.05.2027", "26.05.2027, 16:30", "16:30"),
        ("fr-FR", "26 mai 2027", "26 mai 2027, 16:30", "16:30"),
    ],
)
def test_dates_and_times_in_the_viewers_locale_and_time_zone(locale, day, moment, clock):
    at = dt.datetime(2027, 5, 26, 14, 30, tzinfo=dt.UTC)  # 16:30 in Paris (summer time)
    with formatting.using(locale), timezone.override(ZoneInfo("Europe/Paris")):
        assert formatting.date(dt.date(2027, 5, 26)) == day
        assert formatting.date("2027-05-26") == day  # as history stores it
        assert formatting.datetime(at) == moment
        assert formatting.datetime("2027-05-26T14:30:00+00:00") == moment
        assert formatting.time(at) == clock
    # a moment near midnight is the viewer's day, not UTC's
    with formatting.using("en-GB"), timezone.override(ZoneInfo("Asia/Tokyo")):
        assert formatting.date(dt.datetime(2027, 5, 26, 20, 0, tzinfo=dt.UTC)) == "27 May 2027"


@pytest.mark.parametrize(
    ("locale", "heading", "month"),
    [
        ("en-US", "Monday, November 30", "November 2026"),
        ("en-GB", "Monday 30 November", "November 2026"),
        ("de-DE", "Montag, 30. November", "November 2026"),
        ("fr-FR", "lundi 30 novembre", "novembre 2026"),
    ],
)
def test_headings_name_the_weekday_and_the_month_in_the_viewers_language(locale, heading, month):
    with formatting.using(locale):
        assert formatting.long_day(dt.date(2026, 11, 30)) == heading  # My day's heading
        assert formatting.month(dt.date(2026, 11, 1)) == month  # the forecast's periods


@pytest.mark.parametrize(
    ("locale", "this_year", "next_year"),
    [("en-US", "Jan 5", "Jan 5, 2028"), ("en-GB", "5 Jan", "5 Jan 2028"), ("de-DE", "5. Jan.", "5. Jan. 2028")],
)
def test_board_cards_show_near_days_compactly(locale, this_year, next_year):
    with freeze_time("2027-06-01 12:00:00"), formatting.using(locale):
        assert formatting.short_day(dt.date(2027, 1, 5)) == this_year
        assert formatting.short_day(dt.date(2028, 1, 5)) == next_year


def test_words():
    assert [formatting.yes_no(v) for v in (True, False, None)] == ["Yes", "No", ""]
    assert formatting.event_name("quote_created") == "Quote created"
    assert formatting.event_name("stage_changed") == "Stage changed"
    assert formatting.event_name("updated") == "Changed"
    assert formatting.event_name("something_new") == "Something new"
    assert formatting.event_verb("quote_created") == "created a quote"
    assert formatting.source_name("ui") == "web" and formatting.source_name("api") == "API"
    assert formatting.humanize_key("decision_maker") == "Decision maker"


def test_locale_falls_back_to_the_installations_default(settings):
    settings.RAPPORT_LOCALE = "de-DE"
    assert formatting.default_locale() == "de-DE"
    with formatting.using("xx-YY"):  # not one of ours: the default
        assert formatting.current_locale() == "de-DE"
    settings.RAPPORT_LOCALE = "tlh"  # a bad setting falls back to en-US
    assert formatting.default_locale() == "en-US"


def test_template_filters_are_builtin():
    from django.template import engines

    template = engines["django"].from_string(
        "{{ a|money:'EUR' }} | {{ p|percent }} | {{ d|day }} | {{ b|yes_no }} | {{ k|event_name }} | {{ n|number }}"
    )
    with formatting.using("de-DE"):
        out = template.render(
            {
                "a": Decimal("9000"),
                "p": 20,
                "d": dt.date(2027, 5, 26),
                "b": True,
                "k": "quote_created",
                "n": Decimal("1234.5"),
            }
        )
    assert out == f"9.000,00{NBSP}€ | 20{NBSP}% | 26.05.2027 | Yes | Quote created | 1.234,5"
