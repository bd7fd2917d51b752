"""Merge fields in email templates: ``{{ person.first_name|default:"there" }}``, rendered by a sandboxed renderer.

The syntax is the smallest that does the job: a dotted name from a fixed list (``FIELDS``, plus
``<person|company|deal>.custom.<key>`` for custom fields) and an optional ``default:"…"``. Names are looked up in a
dictionary of plain strings built from the record (``merge_context``): nothing in a template reaches an attribute,
a method or a related record that is not on the list, and a linked record's values are there only when the sender
may see it. The body is Markdown: merge fields become placeholders before Markdown runs and their values are
HTML-escaped into the sanitised HTML afterwards, so a value can inject neither Markdown, HTML nor a link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from rapport.activities.markdown import render as markdown_to_html
from rapport.core import formatting, visibility

FIELDS: dict[str, str] = {
    "person.first_name": "First name",
    "person.last_name": "Last name",
    "person.full_name": "Full name",
    "person.email": "Email",
    "person.job_title": "Job title",
    "person.phone": "Phone",
    "person.city": "City",
    "person.country": "Country",
    "company.name": "Company name",
    "company.domain": "Company domain",
    "company.website": "Company website",
    "company.industry": "Company industry",
    "company.city": "Company city",
    "company.country": "Company country",
    "deal.title": "Deal title",
    "deal.amount": "Deal amount",
    "deal.stage": "Deal stage",
    "deal.expected_close_date": "Deal expected close",
    "sender.first_name": "Your first name",
    "sender.last_name": "Your last name",
    "sender.full_name": "Your full name",
    "sender.email": "Your email",
}
CUSTOM_SCOPES = ("person", "company", "deal")
# {{ name }} or {{ name|default:"text" }}; whitespace inside the braces allowed.
TAG = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*(?:\|\s*default\s*:\s*\"((?:[^\"\\]|\\.)*)\"\s*)?\}\}")
ANY_TAG = re.compile(r"\{\{.*?\}\}", re.S)
CUSTOM = re.compile(r"^(person|company|deal)\.custom\.([a-z0-9_]{1,64})$")
# Placeholders from Unicode's private use area: Markdown leaves them as text, and nh3 keeps them.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


class TemplateError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Tag:
    name: str
    default: str


def known(name: str) -> bool:
    return name in FIELDS or bool(CUSTOM.match(name))


def check(text: str, *, field: str) -> None:
    """Refuse a template text with a tag that is malformed or names no merge field (the error names ``field``)."""
    for match in ANY_TAG.finditer(text or ""):
        tag = TAG.fullmatch(match.group(0))
        if tag is None:
            raise TemplateError(field, f"{match.group(0)[:60]} is not a merge field; write {{{{ person.first_name }}}}"
                                       ' or {{ person.first_name|default:"there" }}.')  # fmt: skip
        if not known(tag.group(1)):
            raise TemplateError(field, f"There is no merge field {tag.group(1)[:60]}.")


def _tags(text: str) -> list[tuple[re.Match[str], Tag]]:
    out = []
    for match in TAG.finditer(text or ""):
        default = re.sub(r"\\(.)", r"\1", match.group(2) or "")
        out.append((match, Tag(match.group(1), default)))
    return out


def _value(tag: Tag, context: dict[str, str]) -> str:
    value = context.get(tag.name, "") if known(tag.name) else ""
    return value if value.strip() else tag.default


def render_text(text: str, context: dict[str, str]) -> str:
    """A plain-text template (the subject): values as they are, on one line."""
    out = TAG.sub(lambda m: _value(Tag(m.group(1), re.sub(r"\\(.)", r"\1", m.group(2) or "")), context), text or "")
    return " ".join(out.split())


def render_markdown(text: str, context: dict[str, str]) -> str:
    """A Markdown template (the body) as sanitised HTML with the values escaped in."""
    values: list[str] = []

    def hold(match: re.Match[str]) -> str:
        values.append(_value(Tag(match.group(1), re.sub(r"\\(.)", r"\1", match.group(2) or "")), context))
        return f"{_OPEN}{len(values) - 1}{_CLOSE}"

    source = TAG.sub(hold, (text or "").replace(_OPEN, "").replace(_CLOSE, ""))
    body = markdown_to_html(source)
    return _PLACEHOLDER.sub(lambda m: html.escape(values[int(m.group(1))]), body)


MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def render_markdown_source(text: str, context: dict[str, str]) -> str:
    """A Markdown template with its values in, as Markdown a person edits before sending (the compose form):
    every Markdown character of a value is backslash-escaped, so a value stays text when the body is rendered."""
    return TAG.sub(
        lambda m: MARKDOWN_SPECIALS.sub(
            r"\\\1", _value(Tag(m.group(1), re.sub(r"\\(.)", r"\1", m.group(2) or "")), context)
        ),
        text or "",
    )


def _custom(record: Any, scope: str, out: dict[str, str]) -> None:
    for key, value in (getattr(record, "custom", None) or {}).items():
        if isinstance(value, dict) and "amount" in value:
            text = formatting.money(value.get("amount"), value.get("currency"))
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = formatting.yes_no(value)
        elif value is None:
            text = ""
        else:
            text = str(value)
        out[f"{scope}.custom.{key}"] = text


def _person(person: Any, out: dict[str, str]) -> None:
    out.update({
        "person.first_name": person.first_name,
        "person.last_name": person.last_name,
        "person.full_name": " ".join(p for p in (person.first_name, person.last_name) if p),
        "person.email": person.primary_email,
        "person.job_title": person.job_title,
        "person.phone": person.primary_phone,
        "person.city": person.city,
        "person.country": person.country,
    })  # fmt: skip
    _custom(person, "person", out)


def _company(company: Any, out: dict[str, str]) -> None:
    out.update({
        "company.name": company.name,
        "company.domain": company.domain,
        "company.website": company.website,
        "company.industry": company.industry,
        "company.city": company.city,
        "company.country": company.country,
    })  # fmt: skip
    _custom(company, "company", out)


def _deal(deal: Any, out: dict[str, str]) -> None:
    out.update({
        "deal.title": deal.title,
        "deal.amount": formatting.money(deal.amount, deal.currency) if deal.amount is not None else "",
        "deal.stage": deal.stage.name if deal.stage_id else "",
        "deal.expected_close_date": formatting.date(deal.expected_close_date) if deal.expected_close_date else "",
    })  # fmt: skip
    _custom(deal, "deal", out)


def _visible(sender: Any, record: Any) -> bool:
    return record is not None and not getattr(record, "deleted_at", None) and visibility.can(sender, record, "view")


def merge_context(*, record: Any, sender: Any, person: Any = None) -> dict[str, str]:
    """The merge values for a message about ``record`` (a person, company or deal) written by ``sender``: the
    record's own, its company's (a person's or a deal's), a deal's first contact as the person (or ``person``,
    the recipient, when given) — each only when the sender may see it."""
    out: dict[str, str] = {}
    if sender is not None:
        out.update({
            "sender.first_name": sender.first_name,
            "sender.last_name": sender.last_name,
            "sender.full_name": sender.get_full_name() or sender.username,
            "sender.email": sender.email,
        })  # fmt: skip
    model = type(record).__name__ if record is not None else ""
    company = None
    if model == "Person":
        person = record
    elif model == "Company":
        company = record
    elif model == "Deal":
        if _visible(sender, record):
            _deal(record, out)
            company = record.company if record.company_id else None
            if person is None:
                contact = record.deal_contacts.select_related("person").order_by("id").first()
                person = contact.person if contact else None
    if person is not None and _visible(sender, person):
        _person(person, out)
        if company is None and person.company_id:
            company = person.company
    if company is not None and _visible(sender, company):
        _company(company, out)
    return out


def render(template: Any, *, record: Any, sender: Any, person: Any = None) -> tuple[str, str]:
    """``(subject, html)`` of ``template`` (an EmailTemplate, or anything with ``subject`` and ``body``) for
    ``record`` as ``sender`` writes it."""
    context = merge_context(record=record, sender=sender, person=person)
    return render_text(template.subject, context), render_markdown(template.body, context)
