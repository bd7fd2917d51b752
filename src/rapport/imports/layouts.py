"""Matching a file's column titles to a record type's fields: by field name and label, and by the known
export layouts of other CRMs and address books (HubSpot, Salesforce, Pipedrive, Zoho, Google Contacts,
Outlook).

``suggest_mapping(type_key, headers, fields)`` returns, per column index, the suggested target (a field key
of the type's import fields, ``"cf_<key>"`` for a custom field, ``"full_name"`` for a name to split,
``"source_id"`` for the row's id in the other system, or ``None`` to skip) and why.

How a column is matched, best first:
1. the layout of the tool the file came from, when its column titles say which (``"Google Contacts
   layout"``): the titles those tools write, as they write them — a layout may also know that a column
   is *not* a field (Outlook's "Title" is a salutation, Google's "E-mail 1 - Type" a label);
2. the same name as a field's key or label, or a custom field's label or key (``cf_<key>`` too);
3. a common name for the field ("E-mail", "Email Address", "Mobile", "Surname", "Organisation"…).
Titles are compared normalised: case, accents, punctuation and spaces ignored, a plural's "s" too. Two
columns never go to one target, except the list targets (emails, phones, tags) that take one value per
column: the better match wins, the other column gets its next candidate or is skipped. A full-name
column ("Name", "Person - Name") goes to ``full_name`` (split into first and last name by the import)
unless first and last name columns are there too.
"""

from __future__ import annotations

from dataclasses import dataclass

from .known_layouts import FULL_NAME, LAYOUTS, SECONDARY, SOURCE_ID, Layout, norm

# Targets that take one value per column (imports.mapping: "list" and "tags" targets).
MULTI_TARGETS = frozenset({"emails", "phones", "tags"})
SPLIT_REASON = "a full name, split into first and last name"

# A detected layout knows its columns better than any name match ("Title" in Outlook is a salutation).
LAYOUT_SCORE = 110
KEY_SCORE = 100
BARE_KEY_SCORE = 98  # a custom field's key without its "cf_" prefix
LABEL_SCORE = 95
CUSTOM_SCORE = 95
SYNONYM_SCORE = 70


@dataclass(frozen=True)
class Suggestion:
    column: int
    header: str
    target: str | None
    reason: str  # "same name", "HubSpot layout", ... or "" when nothing matched


_norm = norm


def _forms(text: str) -> set[str]:
    """The normalised title and its singular ("Emails" → {"emails", "email"})."""
    n = _norm(text)
    out = {n}
    if len(n) > 3 and n.endswith("s") and not n.endswith("ss"):
        out.add(n[:-1])
    return out


def detect_layout(headers: list[str]) -> Layout | None:
    """The layout whose own titles the file has most of (at least one), or None."""
    normalised = {_norm(h) for h in headers}
    best: tuple[int, int] = (0, 0)
    found = None
    for layout in LAYOUTS:
        if layout.pattern is not None:
            marks = sum(1 for h in headers if layout.pattern.match(h))
        else:
            marks = len(normalised & layout.marks)
        if not marks:
            continue
        known = {_norm(t) for cols in layout.columns.values() for t in cols}
        score = (marks, len(normalised & known))
        if score > best:
            best, found = score, layout
    return found


# --- common names of fields (no layout) -------------------------------------------------------------

_ADDRESS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "street": ("address", "streetaddress", "address1", "addressline1", "adresse", "strasse", "rue"),
    "city": ("town", "locality", "ville", "ort", "stadt"),
    "region": ("state", "province", "county", "stateprovince", "stateregion", "bundesland"),
    "postal_code": ("zip", "zipcode", "postcode", "postalcode", "plz", "codepostal"),
    "country": ("countryregion", "pays", "land"),
}

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {
        "first_name": ("firstname", "givenname", "forename", "first", "prenom", "vorname"),
        "last_name": ("lastname", "surname", "familyname", "last", "nom", "nachname"),
        FULL_NAME: ("name", "fullname", "contactname", "contact", "person", "displayname"),
        "emails": ("email", "emailaddress", "mail", "workemail", "personalemail", "courriel", "emailadresse"),
        "phones": ("phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cellphone", "cell")
        + ("workphone", "homephone", "telefon", "portable", "handy"),
        "company": ("companyname", "organization", "organisation", "account", "accountname", "employer")
        + ("societe", "entreprise", "firma", "unternehmen"),
        "job_title": ("title", "jobtitle", "position", "role", "fonction", "poste"),
        "owner": ("contactowner", "assignedto", "salesowner", "salesrep"),
        "tags": ("tag", "label", "labels", "categories"),
        "notes": ("note", "description", "comments", "comment", "remarks"),
        "source": ("leadsource",),
        SOURCE_ID: ("id", "recordid", "externalid", "sourceid", "contactid"),
        **_ADDRESS_SYNONYMS,
    },
    "companies": {
        "name": ("companyname", "company", "organization", "organisation", "account", "accountname")
        + ("societe", "entreprise", "firma"),
        "domain": ("domainname", "companydomain", "companydomainname", "emaildomain"),
        "website": ("url", "web", "websiteurl", "homepage", "site"),
        "phone": ("phonenumber", "telephone", "tel", "mainphone"),
        "industry": ("sector",),
        "parent": ("parentcompany", "parentaccount", "parentorganization"),
        "tags": ("tag", "label", "labels"),
        "notes": ("note", "description", "comments"),
        SOURCE_ID: ("id", "recordid", "externalid", "sourceid", "accountid", "companyid"),
        **_ADDRESS_SYNONYMS,
    },
    "deals": {
        "title": ("name", "dealname", "deal", "opportunity", "opportunityname", "dealtitle"),
        "amount": ("value", "dealvalue", "dealamount"),
        "stage": ("dealstage", "stagename"),
        "expected_close_date": ("closedate", "closingdate", "expectedclose", "expectedclosedate"),
        "company": ("account", "accountname", "organization", "organisation", "companyname"),
        "owner": ("dealowner", "assignedto", "salesowner", "salesrep"),
        "tags": ("tag", "label", "labels"),
        "notes": ("note", "description", "comments"),
        SOURCE_ID: ("id", "recordid", "externalid", "sourceid", "dealid", "opportunityid"),
    },
    "activities": {
        "subject": ("title", "name", "summary"),
        "kind": ("type", "activitytype"),
        "due_at": ("due", "duedate", "deadline"),
        "start_at": ("start", "starttime", "startdate", "from"),
        "end_at": ("end", "endtime", "enddate", "to"),
        "duration_minutes": ("duration", "minutes"),
        "body": ("description", "details", "comments", "note", "content"),
        "done": ("completed", "isdone", "closed"),
        "assignee": ("assignedto", "assigned", "assigneduser"),
        "tags": ("tag", "label", "labels"),
        SOURCE_ID: ("id", "recordid", "externalid", "sourceid", "activityid", "taskid"),
    },
    "products": {
        "name": ("productname", "product", "item", "itemname"),
        "sku": ("code", "productcode", "itemcode", "reference", "partnumber"),
        "description": ("productdescription",),
        "tax_rate": ("tax", "vat", "taxpercent"),
        "active": ("isactive", "productactive", "enabled"),
        "tags": ("tag", "label", "labels"),
        SOURCE_ID: ("id", "recordid", "externalid", "sourceid", "productid"),
    },
}


def _candidates(
    type_key: str, header: str, fields: dict[str, str], layout: Layout | None
) -> list[tuple[int, str, str]]:
    """(score, target, reason) for one column, best first. A column the layout knows is no built-in field
    (Outlook's "Title", Google's "Birthday") still matches a custom field of that name."""
    forms = _forms(header)
    out: list[tuple[int, str, str]] = []
    not_a_field = False  # the layout knows this column is none of the built-in fields
    if layout is not None:
        known = {_norm(t): v for t, v in layout.columns.get(type_key, {}).items()}
        for form in forms:
            if form in known:
                entry = known[form]
                target, score = entry if isinstance(entry, tuple) else (entry, LAYOUT_SCORE)
                if target is None:
                    not_a_field = True
                else:
                    out.append((score, target, f"{layout.name} layout"))
                break
    for key, label in fields.items():
        custom = key.startswith("cf_")
        if not_a_field and not custom:
            continue
        if _norm(key) in forms:
            out.append((KEY_SCORE, key, "custom field" if custom else "same name"))
        elif custom and _norm(key[3:]) in forms:
            out.append((BARE_KEY_SCORE, key, "custom field"))
        elif _forms(label) & forms:
            out.append((CUSTOM_SCORE if custom else LABEL_SCORE, key, "custom field" if custom else "same name"))
    for target, names in SYNONYMS.get(type_key, {}).items():
        if not not_a_field and forms & set(names):
            out.append((SYNONYM_SCORE, target, "similar name"))
    return sorted(out, key=lambda c: -c[0])


def suggest_mapping(type_key: str, headers: list[str], fields: dict[str, str]) -> list[Suggestion]:
    """``fields`` maps each importable target key to its label (``cf_<key>`` for custom fields,
    ``full_name`` and ``source_id`` when the import offers them). One suggestion per column, in order."""
    layout = detect_layout(headers)
    ranked: list[tuple[int, int, str, str]] = []  # (score, column, target, reason)
    for i, header in enumerate(headers):
        for score, target, reason in _candidates(type_key, header, fields, layout):
            if target in fields:
                ranked.append((score, i, target, reason))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    chosen: dict[int, tuple[str, str]] = {}
    taken: set[str] = set()
    for _score, column, target, reason in ranked:
        if column in chosen or (target in taken and target not in MULTI_TARGETS):
            continue
        chosen[column] = (target, reason)
        taken.add(target)
    # A full name is only needed when first and last names are not columns of their own.
    if {"first_name", "last_name"} <= taken:
        chosen = {c: tr for c, tr in chosen.items() if tr[0] != FULL_NAME}
    out = []
    for i, header in enumerate(headers):
        if i not in chosen:
            out.append(Suggestion(i, header, None, ""))
            continue
        key, why = chosen[i]
        if key == FULL_NAME and not why.endswith("layout"):
            why = SPLIT_REASON
        out.append(Suggestion(i, header, key, why))
    return out


__all__ = ["LAYOUTS", "SECONDARY", "Layout", "Suggestion", "detect_layout", "suggest_mapping"]
