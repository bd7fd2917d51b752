"""Matching a file's column titles to a record type's fields: by field name and label, and by the known
export layouts of other CRMs and address books (HubSpot, Salesforce, Pipedrive, Zoho, Google Contacts,
Outlook).

``suggest_mapping(type_key, headers)`` returns, per column index, the suggested target (a field key of
the type's import fields, ``"cf_<key>"`` for a custom field, or ``None`` to skip) and why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    column: int
    header: str
    target: str | None
    reason: str  # "same name", "HubSpot layout", ... or "" when nothing matched


def _norm(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def suggest_mapping(type_key: str, headers: list[str], fields: dict[str, str]) -> list[Suggestion]:
    """``fields`` maps each importable target key to its label. First version: same key or label."""
    del type_key
    by_name: dict[str, str] = {}
    for key, label in fields.items():
        by_name.setdefault(_norm(key), key)
        by_name.setdefault(_norm(label), key)
    out = []
    for i, header in enumerate(headers):
        target = by_name.get(_norm(header))
        out.append(Suggestion(i, header, target, "same name" if target else ""))
    return out
