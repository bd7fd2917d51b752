"""Normalisers for emails, phones, domains and URLs; each raises ValueError with a message
a user can act on."""

from __future__ import annotations

from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email


def normalize_email(value: str) -> str:
    value = value.strip()
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}")
    return result.normalized.lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    value = value.strip()
    try:
        number = phonenumbers.parse(value, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value!r} is not a phone number.")
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number (include the country code, e.g. +44).")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_url(value: str) -> str:
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "." not in parts.hostname:
        raise ValueError(f"{value!r} is not a web address (http or https).")
    if len(value) > 500:
        raise ValueError("Use at most 500 characters for a web address.")
    return value


def normalize_domain(value: str) -> str:
    """``https://www.Example.COM/about`` → ``example.com``."""
    value = value.strip().lower()
    if not value:
        return ""
    if "://" not in value:
        value = "http://" + value
    host = urlsplit(value).hostname or ""
    if host.startswith("www."):
        host = host[4:]
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a valid domain.")
    labels = host.split(".")
    if len(labels) < 2 or not all(labels) or len(host) > 253:
        raise ValueError(f"{host or value!r} is not a valid domain such as example.com.")
    return host


def phone_search_terms(e164: str) -> str:
    """Digits a user may type for a stored number: the E.164 digits and the national number."""
    digits = e164.lstrip("+")
    try:
        national = str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        national = ""
    return f"{digits} {national}".strip()
