"""Hostile input, refused at the door as a class: text that no database stores (NUL, lone UTF-16
surrogates), JSON nested past any sane depth, and dates outside the years Rapport works with.

Every incoming text passes here: query strings and form bodies in ``BadInputMiddleware``, JSON bodies
in ``JSONParser`` (the API's only parser), list parameters in ``listing.build_filter`` (saved views
replay stored query strings) and custom values in ``customfields.clean_value``. Each refusal names
the parameter or field, and nothing is written (the request never reaches a view or a service).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from rest_framework import exceptions, parsers

# PostgreSQL refuses NUL in text and JSON; a lone surrogate cannot be encoded as UTF-8 at all.
BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
MAX_JSON_DEPTH = 32
MIN_YEAR, MAX_YEAR = 1800, 2999


def bad_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    found = BAD_CHARS.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Null characters are not allowed."
    return f"Surrogate characters are not allowed: U+{ord(found.group()):04X}."


def check_text(name: str, value: str) -> None:
    """Raise BadInput naming ``name`` when ``value`` cannot be stored."""
    problem = bad_text(value)
    if problem:
        raise BadInput(name, problem)


class BadInput(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def check_pairs(pairs: Iterable[tuple[str, str]]) -> None:
    for key, value in pairs:
        check_text(key or "(parameter name)", key)
        check_text(key, value)


# --- dates ------------------------------------------------------------------------------------
def _in_range(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


RANGE_MESSAGE = f"use a year from {MIN_YEAR} to {MAX_YEAR}."


def parse_day(value: Any) -> dt.date:
    """A calendar day from ``YYYY-MM-DD`` (or a date); ValueError with a message saying what to enter.

    The one parser of days for filters, custom fields, the calendar and rescheduling: impossible days
    (2026-02-30) and years outside MIN_YEAR..MAX_YEAR (whose neighbours or UTC conversion overflow)
    are refused."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        day = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, flags=re.ASCII):
            raise ValueError(f"{text[:40]!r} is not a date; use YYYY-MM-DD.")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text} is not a day of the calendar.") from None
    if not _in_range(day.year):
        raise ValueError(f"{day.isoformat()}: {RANGE_MESSAGE}")
    return day


def parse_moment(value: Any) -> dt.datetime:
    """A date and time (ISO 8601, optionally with an offset); ValueError when malformed or out of range.
    The result is naive when the text had no offset."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a date and time; use YYYY-MM-DDTHH:MM.") from None
    if not _in_range(moment.year):
        raise ValueError(f"{moment.date().isoformat()}: {RANGE_MESSAGE}")
    return moment


# --- JSON bodies ------------------------------------------------------------------------------
def check_json(data: Any) -> None:
    """Walk parsed JSON without recursion: refuse nesting deeper than MAX_JSON_DEPTH and strings
    (keys too) that cannot be stored; the error names the path (``custom.notes``, ``links[2].type``)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            problem = bad_text(node)
            if problem:
                raise exceptions.ValidationError({path or "(body)": [problem]})
        elif isinstance(node, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise exceptions.ParseError(f"nested deeper than {MAX_JSON_DEPTH} levels at {path or '(body)'}.")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    problem = bad_text(key)
                    if problem:
                        raise exceptions.ValidationError({path or "(body)": [f"A key: {problem}"]})
                    child_path = f"{path}.{key}" if path else key
                else:
                    child_path = f"{path}[{key}]"
                stack.append((child, child_path, depth + 1))


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus: deep nesting is a 400 (the standard decoder's recursion error was a
    500) and text no database stores is refused naming its field."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(f"nested deeper than {MAX_JSON_DEPTH} levels.") from None
        check_json(data)
        return data


# --- query strings and form bodies --------------------------------------------------------------
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadInputMiddleware:
    """Refuse a request whose path, query string or form body holds text no database stores:
    400 naming the parameter (JSON under /api/, a page elsewhere) before any view runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            check_text("path", request.path)
            check_pairs((k, v) for k in request.GET for v in request.GET.getlist(k))
            if request.method == "POST" and request.content_type in FORM_TYPES:
                check_pairs((k, v) for k in request.POST for v in request.POST.getlist(k))
        except BadInput as exc:
            return bad_request(request, exc.name, exc.message)
        return self.get_response(request)


def bad_request(request: HttpRequest, name: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        body = {"error": "bad_parameter", "message": f"{name}: {message}", "fields": {name: [message]}}
        return JsonResponse(body, status=400)
    html = render_to_string("400.html", {"message": f"{name}: {message}"}, request=request)
    return HttpResponse(html, status=400)


# --- ids --------------------------------------------------------------------------------------
ID_TEXT = re.compile(r"[0-9]{1,18}")  # below 2**63: every database's bigint


def is_id(value: str) -> bool:
    """Whether ``value`` is a usable record id: ASCII digits (``str.isdigit`` accepts "²", which
    ``int`` refuses) within a 64-bit integer (a bigger one made the database's driver overflow)."""
    return ID_TEXT.fullmatch(value) is not None
