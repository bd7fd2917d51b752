"""Currencies by ISO 4217: how many decimals each has (JPY none, EUR two, KWD three), rounding and
checking amounts to them, and showing them. Every place that prints or validates money uses this."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from iso4217 import Currency

DEFAULT_MINOR_UNITS = 2  # a code ISO 4217 does not list, or lists without minor units (gold, SDR…)


@functools.lru_cache(maxsize=512)
def minor_units(currency: str | None) -> int:
    """The number of decimals of ``currency`` (ISO 4217 exponent): JPY 0, EUR 2, KWD 3."""
    try:
        exponent = Currency((currency or "").upper()).exponent
    except (ValueError, KeyError):
        return DEFAULT_MINOR_UNITS
    return DEFAULT_MINOR_UNITS if exponent is None else int(exponent)


def is_currency(code: str) -> bool:
    try:
        Currency(code.upper())
    except (ValueError, KeyError):
        return False
    return True


def quantum(currency: str | None) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def round_amount(amount: Decimal, currency: str | None) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def precision_error(amount: Decimal, currency: str | None) -> str | None:
    """A message when ``amount`` has more decimals than ``currency`` has (12.50 JPY), else None."""
    places = minor_units(currency)
    try:
        exact = amount == amount.quantize(quantum(currency))
    except InvalidOperation:
        exact = False
    if exact:
        return None
    code = (currency or "").upper()
    if places == 0:
        return f"{code} has no minor unit: enter a whole amount."
    return f"{code} has {places} decimal{'s' if places != 1 else ''}: enter at most {places}."


def format_amount(amount: Decimal | int | float | str, currency: str | None) -> str:
    """``1,234.50`` for EUR, ``1,235`` for JPY: grouped, with the currency's own decimals."""
    value = round_amount(Decimal(str(amount)), currency)
    return f"{value:,.{minor_units(currency)}f}"


def format_money(amount: Decimal | int | float | str, currency: str | None) -> str:
    """``1,234.50 EUR``."""
    return f"{format_amount(amount, currency)} {(currency or '').upper()}".strip()


def spreadsheet_format(currency: str | None) -> str:
    """A number format showing the amount with the currency's decimals and its code: ``#,##0.00 "EUR"``."""
    places = minor_units(currency)
    digits = "#,##0" + ("." + "0" * places if places else "")
    code = "".join(c for c in (currency or "").upper() if c.isalpha())
    return f'{digits} "{code}"' if code else digits


__all__ = [
    "format_amount",
    "format_money",
    "is_currency",
    "minor_units",
    "precision_error",
    "quantum",
    "round_amount",
    "spreadsheet_format",
]
