"""The one duplicate finder, for every type that declares its identity (``RecordType.identity``):
a profile of normalised signals per record, a score from 0 to 1 with its reasons in words, the
blocking that keeps a whole-database scan far from all pairs, and the checks of one new record
(create form, API) or of many (an import batch) against the records an actor may view.

Signals (each present on both records adds or removes evidence; a missing one counts nothing):
names (folded accents and case, nicknames, typos and transpositions by Jaro-Winkler, first and last
swapped), organisation names without legal forms, emails (as one mailbox), phones (E.164), a web
domain, the company (same one, or one of a similar name), the postal address (postal code, street,
city) and every custom field marked as an identifier (exact after normalising, or one typo away).
The evidence adds up like the weights of a Fellegi-Sunter model and becomes a score through a
logistic curve; :data:`THRESHOLD` was chosen on the Febrl1 data set (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.db.models.fields.json import KT
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.fuzz import token_sort_ratio

from rapport.core import customfields, visibility
from rapport.core.registry import Identity, RecordType

from . import names

THRESHOLD = 0.5  # the default: pairs scoring at least this are likely duplicates (chosen on Febrl1)
CENTRE = 5.0  # evidence at which the score is 0.5
SPREAD = 2.0  # evidence per unit of the logistic curve
WINDOW = 5  # sorted-neighbourhood window: each record is compared with the next WINDOW - 1 in each order
MAX_BLOCK = 40  # an exact key shared by more records (a switchboard number) is compared by window only
CANDIDATES_PER_QUERY = 200  # a check reads at most this many candidates per signal


@dataclass(frozen=True)
class Match:
    """A likely duplicate of the record checked: its id, score (0–1) and the reasons in words."""

    record_id: int
    score: float
    reasons: tuple[str, ...]
    title: str = ""

    @property
    def reason_text(self) -> str:
        """``"same phone, similar name"``."""
        return ", ".join(self.reasons)


class Profile:
    """A record's identity signals, normalised once."""

    __slots__ = (
        "id",
        "owner_id",
        "team_id",
        "updated",
        "title",
        "first",
        "given",
        "first_joined",
        "last",
        "org",
        "emails",
        "phones",
        "domain",
        "company_id",
        "company",
        "street",
        "city",
        "postcode",
        "idents",
    )

    def __init__(self, pk: int = 0) -> None:
        self.id = pk
        self.owner_id: int | None = None
        self.team_id: int | None = None
        self.updated: datetime | None = None
        self.title = ""
        self.first = self.given = self.first_joined = self.last = self.org = ""
        self.emails: tuple[str, ...] = ()
        self.phones: tuple[str, ...] = ()
        self.domain = ""
        self.company_id: int | None = None
        self.company = ""
        self.street = self.city = self.postcode = ""
        self.idents: tuple[tuple[str, str], ...] = ()

    def fill(self, values: dict[str, Any], identity: Identity, ident_keys: Sequence[str]) -> Profile:
        """Normalise raw values (``values`` keyed like the identity's fields; identifiers as ``cf:<key>``)."""
        first = names.fold(str(values.get("first_name") or ""))
        self.first = first.split()[0] if first else ""
        self.given = names.NICKNAMES.get(self.first, self.first)
        self.first_joined = first.replace(" ", "")  # compared with the other's family name (swapped names)
        self.last = names.family_name(str(values.get("last_name") or ""))
        self.org = names.organisation_name(str(values.get("name") or ""))
        self.domain = str(values.get("domain") or "").lower()
        self.company = names.organisation_name(str(values.get("company_name") or ""))
        self.street = names.street_key(str(values.get("street") or ""))
        self.city = names.fold(str(values.get("city") or ""))
        self.postcode = names.identifier(values.get("postal_code"))
        idents = []
        for key in ident_keys:
            value = names.identifier(values.get(f"cf:{key}"))
            if value:
                idents.append((key, value))
        self.idents = tuple(idents)
        return self


@dataclass(frozen=True)
class Spec:
    """What the finder reads for one type: its identity and its identifier custom fields."""

    rtype: RecordType
    identity: Identity
    ident_labels: dict[str, str]

    @property
    def ident_keys(self) -> list[str]:
        return list(self.ident_labels)


def spec_for(rtype: RecordType) -> Spec:
    if rtype.identity is None:
        raise ValueError(f"{rtype.key} declares no identity: it is not checked for duplicates")
    defs = [d for d in customfields.definitions(rtype.key) if d.is_identifier]
    return Spec(rtype, rtype.identity, {d.key: d.label for d in defs})


# --- comparing two profiles ------------------------------------------------------------------------------
_jw = JaroWinkler.normalized_similarity
_dl = DamerauLevenshtein.distance


def _given_sim(a: Profile, b: Profile) -> float:
    if a.given == b.given:
        return 1.0
    if len(a.first) == 1 or len(b.first) == 1:  # an initial
        return 0.85 if a.first[0] == b.first[0] else 0.0
    return max(_jw(a.first, b.first), _jw(a.given, b.given))


def _shares(x: tuple[str, ...], y: tuple[str, ...]) -> bool:
    for value in x:
        if value in y:
            return True
    return False


def _person_names(a: Profile, b: Profile, out: list[tuple[float, str]] | None) -> float:
    evidence = 0.0
    has_first = bool(a.first and b.first)
    has_last = bool(a.last and b.last)
    first = _given_sim(a, b) if has_first else -1.0
    last = (1.0 if a.last == b.last else _jw(a.last, b.last)) if has_last else -1.0
    swapped = False
    if has_first and has_last and (first < 0.85 or last < 0.85):
        cross_1 = 1.0 if a.first_joined == b.last else _jw(a.first_joined, b.last)
        if cross_1 >= 0.9:
            cross_2 = 1.0 if a.last == b.first_joined else _jw(a.last, b.first_joined)
            if cross_2 >= 0.9 and cross_1 + cross_2 > first + last + 0.2:
                first, last, swapped = cross_2, cross_1, True
    if has_last:
        evidence += 3.5 if last == 1.0 else 2.5 if last >= 0.92 else 1.2 if last >= 0.85 else -2.5
    if has_first:
        evidence += 2.5 if first == 1.0 else 1.8 if first >= 0.92 else 0.8 if first >= 0.85 else -2.0
    if out is None:
        return evidence
    if swapped:
        out.append((evidence, "names swapped"))
    elif has_first and has_last and first >= 0.85 and last >= 0.85:
        same = first == 1.0 and last == 1.0 and a.first == b.first
        out.append((evidence, "same name" if same else "similar name"))
    elif has_last and last == 1.0:
        out.append((3.5, "same last name"))
    elif has_last and last >= 0.85 and not has_first:
        out.append((evidence, "similar last name"))
    return evidence


def _org_names(a: Profile, b: Profile, out: list[tuple[float, str]] | None) -> float:
    if not (a.org and b.org):
        return 0.0
    weight = 0.0
    if a.org == b.org:
        weight, reason = 5.5, "same name"
    else:
        sim = max(token_sort_ratio(a.org, b.org) / 100, _jw(a.org, b.org))
        if sim >= 0.92:
            weight, reason = 3.5, "similar name"
        elif sim >= 0.85:
            weight, reason = 1.5, "similar name"
        else:
            return -3.0
    if out is not None:
        out.append((weight, reason))
    return weight


def evidence(a: Profile, b: Profile, spec: Spec, *, reasons: bool = True) -> tuple[float, list[str]]:
    """The summed evidence that ``a`` and ``b`` are one and the same, and its reasons, strongest first
    (``reasons=False``: the total only, for the scan's millions of pairs)."""
    found: list[tuple[float, str]] | None = [] if reasons else None
    total = 0.0
    identity = spec.identity
    if a.emails and b.emails:
        if _shares(a.emails, b.emails):
            total += 7.0
            if found is not None:
                found.append((7.0, "same email"))
        else:
            total -= 0.75
    if a.phones and b.phones:
        if _shares(a.phones, b.phones):
            total += 5.0
            if found is not None:
                found.append((5.0, "same phone"))
        else:
            total -= 0.75
    if a.domain and b.domain:
        if a.domain == b.domain:
            total += 7.0
            if found is not None:
                found.append((7.0, "same domain"))
        else:
            total -= 1.5
    # names after the exact keys: on equal weight, "same phone, similar name"
    if identity.first_name or identity.last_name:
        total += _person_names(a, b, found)
    if identity.name:
        total += _org_names(a, b, found)
    if a.company_id and b.company_id:
        if a.company_id == b.company_id:
            total += 1.5
            if found is not None:
                found.append((1.5, "same company"))
        elif (
            a.company
            and b.company
            and (a.company == b.company or token_sort_ratio(a.company, b.company, score_cutoff=92))
        ):
            total += 1.0
            if found is not None:
                found.append((1.0, "similar company name"))
        else:
            total -= 0.7
    if a.postcode and b.postcode:
        if a.postcode == b.postcode:
            total += 1.5
            if found is not None:
                found.append((1.5, "same postal code"))
        else:
            total -= 1.0
    if a.street and b.street:
        if a.street == b.street:
            total += 3.5
            if found is not None:
                found.append((3.5, "same street address"))
        elif token_sort_ratio(a.street, b.street, score_cutoff=85):
            total += 2.0
            if found is not None:
                found.append((2.0, "similar street address"))
        else:
            total -= 1.0
    if a.city and b.city:
        sim = 1.0 if a.city == b.city else _jw(a.city, b.city)
        if sim >= 0.92:
            total += 0.8
            if found is not None:
                found.append((0.8, "same city" if sim == 1.0 else "similar city"))
        elif sim < 0.8:
            total -= 0.5
    if a.idents and b.idents:
        theirs = dict(b.idents)
        for key, value in a.idents:
            other = theirs.get(key)
            if other is None:
                continue
            if value == other:
                total += 8.0
                if found is not None:
                    found.append((8.0, f"same {spec.ident_labels.get(key, key)}"))
            elif min(len(value), len(other)) >= 5 and _dl(value, other, score_cutoff=1) <= 1:
                total += 4.0
                if found is not None:
                    found.append((4.0, f"similar {spec.ident_labels.get(key, key)}"))
            else:
                total -= 1.5
    if found is None:
        return total, []
    found.sort(key=lambda item: -item[0])
    return total, [reason for _, reason in found]


def score_of(total: float) -> float:
    """Evidence as a score from 0 to 1 (rounded to 3 places)."""
    return round(1.0 / (1.0 + math.exp(-(total - CENTRE) / SPREAD)), 3)


def compare(a: Profile, b: Profile, spec: Spec) -> tuple[float, list[str]]:
    total, reasons = evidence(a, b, spec)
    return score_of(total), reasons


# --- reading profiles -----------------------------------------------------------------------------------
def _child(model: Any, path: str) -> tuple[Any, str, str] | None:
    """``emails__email`` → (PersonEmail, "person_id", "email"); a plain field → None."""
    if "__" not in path:
        return None
    related, attr = path.split("__", 1)
    rel = model._meta.get_field(related)
    return rel.related_model, rel.field.attname, attr


def _value_fields(spec: Spec) -> dict[str, str]:
    """Profile value name → queryset path (identifiers as ``cf:<key>``, annotated)."""
    identity, model = spec.identity, spec.rtype.model
    fields: dict[str, str] = {"id": "id", "owner_id": "owner_id", "team_id": "team_id", "updated_at": "updated_at"}
    for name in ("first_name", "last_name", "name", "domain", "street", "city", "postal_code"):
        path = getattr(identity, name)
        if path:
            fields[name] = path
    for name in ("emails", "phones"):
        path = getattr(identity, name)
        if path and _child(model, path) is None:
            fields[name] = path
    if identity.company:
        fields["company_id"] = f"{identity.company}_id"
        fields["company_name"] = f"{identity.company}__name"
    for i, title in enumerate(spec.rtype.title_fields):
        fields.setdefault(f"title:{i}", title)
    return fields


def _annotated(qs: Any, spec: Spec) -> Any:
    return qs.annotate(**{f"_cf_{key}": KT(f"custom__{key}") for key in spec.ident_keys})


def load_profiles(spec: Spec, qs: Any, *, chunk: int = 5000) -> dict[int, Profile]:
    """Profiles of the records of ``qs`` (already narrowed to what may be read), keyed by id."""
    fields = _value_fields(spec)
    paths = list(dict.fromkeys(fields.values()))
    ann = [f"_cf_{key}" for key in spec.ident_keys]
    out: dict[int, Profile] = {}
    identity, keys = spec.identity, spec.ident_keys
    n_titles = len(spec.rtype.title_fields)
    for row in _annotated(qs, spec).values_list(*paths, *ann).order_by().iterator(chunk_size=chunk):
        raw = dict(zip(paths, row[: len(paths)], strict=True))
        values = {name: raw[path] for name, path in fields.items()}
        for key, value in zip(keys, row[len(paths) :], strict=True):
            values[f"cf:{key}"] = value
        p = Profile(values["id"]).fill(values, identity, keys)
        p.owner_id, p.team_id, p.updated = values["owner_id"], values["team_id"], values["updated_at"]
        p.title = " ".join(str(values[f"title:{i}"] or "") for i in range(n_titles)).strip()
        if values.get("emails"):
            p.emails = (names.email_key(str(values["emails"])),)
        if values.get("phones"):
            p.phones = (str(values["phones"]),)
        if values.get("company_id"):
            p.company_id = values["company_id"]
        out[p.id] = p
    _load_children(spec, out, qs)
    return out


def _load_children(spec: Spec, profiles: dict[int, Profile], qs: Any) -> None:
    model = spec.rtype.model
    for name in ("emails", "phones"):
        path = getattr(spec.identity, name)
        child = _child(model, path) if path else None
        if child is None or not profiles:
            continue
        child_model, fk, attr = child
        collected: dict[int, list[str]] = defaultdict(list)
        if len(profiles) <= 5000:
            rows: Iterable[tuple[int, str]] = child_model.objects.filter(**{f"{fk}__in": list(profiles)}).values_list(
                fk, attr
            )
        else:  # a scan: every row of the table, joined to the live records
            rows = (
                child_model.objects.filter(**{f"{fk[:-3]}__in": qs.values("pk")})
                .values_list(fk, attr)
                .order_by()
                .iterator(chunk_size=20000)
            )
        for owner, value in rows:
            if owner in profiles and value:
                collected[owner].append(names.email_key(value) if name == "emails" else value)
        for owner, values in collected.items():
            setattr(profiles[owner], name, tuple(dict.fromkeys(values)))


def profile_from_data(spec: Spec, data: dict[str, Any]) -> Profile:
    """A profile of a record not yet written: ``data`` as a create body or a serializer's validated data
    (emails and phones as lists of strings or of ``{"email": …}`` / ``{"number": …}``; the company as an
    object or an id; custom fields under ``custom``)."""
    identity = spec.identity
    values: dict[str, Any] = {}
    for name in ("first_name", "last_name", "name", "domain", "street", "city", "postal_code"):
        path = getattr(identity, name)
        if path:
            values[name] = data.get(path) or ""
    custom = data.get("custom") or {}
    for key in spec.ident_keys:
        values[f"cf:{key}"] = custom.get(key) if isinstance(custom, dict) else None
    p = Profile(0)
    if identity.company:
        company = data.get(identity.company)
        company_id = getattr(company, "pk", company)
        if isinstance(company_id, int) and company_id > 0:
            p.company_id = company_id
            values["company_name"] = getattr(company, "name", "")
    p.fill(values, identity, spec.ident_keys)
    for name, attr in (("emails", "email"), ("phones", "number")):
        path = getattr(identity, name)
        if not path:
            continue
        key = path.split("__", 1)[0]
        raw = data.get(key)
        items = raw if isinstance(raw, list) else [raw] if raw else []
        found = [str(i.get(attr) if isinstance(i, dict) else i).strip() for i in items if i]
        found = [f for f in found if f and f != "None"]
        if name == "emails":
            found = [names.email_key(f) for f in found]
        setattr(p, name, tuple(dict.fromkeys(found)))
    return p


def _complete_company(spec: Spec, profiles: Iterable[Profile]) -> None:
    """A new record's company name (given by id) for the "similar company name" signal."""
    todo = [p for p in profiles if p.company_id and not p.company]
    if not todo or not spec.identity.company:
        return
    target: Any = spec.rtype.model._meta.get_field(spec.identity.company).related_model
    found = dict(target.objects.filter(pk__in={p.company_id for p in todo}).values_list("pk", "name"))
    for p in todo:
        p.company = names.organisation_name(str(found.get(p.company_id) or ""))


# --- checking new records against the database ------------------------------------------------------------
def _readable(rtype: RecordType, actor: Any) -> Any:
    if actor is visibility.SYSTEM:
        return rtype.model.objects.live()
    return rtype.model.objects.visible_to(actor)


def _spellings(value: str) -> list[str]:
    value = value.strip()
    return list(dict.fromkeys(v for v in (value, value.title(), value.lower(), value.upper(), value.capitalize()) if v))


def _prefix_q(path: str, value: str, size: int) -> Q:
    """Stored values starting with ``value``'s first ``size`` letters as typed or capitalised: a range
    on the column's index (a LIKE would not use it on SQLite, nor ILIKE on PostgreSQL)."""
    q = Q()
    stem = value.strip()[:size]
    if len(stem) < size:
        return Q(pk__in=[])
    for variant in {stem, stem.capitalize(), stem.lower()}:
        q |= Q(**{f"{path}__gte": variant, f"{path}__lt": variant + "\U0010ffff"})
    return q


def _candidate_ids(spec: Spec, data: dict[str, Any], p: Profile, readable: Any) -> set[int]:
    """Ids of records that share a key with the new record: an email, phone, identifier or domain,
    or a name (exact, by its first letters, swapped) or a postal code. Each read is bounded."""
    identity, model, cap = spec.identity, spec.rtype.model, CANDIDATES_PER_QUERY
    ids: set[int] = set()

    def take(qs: Any) -> None:
        ids.update(qs.order_by().values_list("pk", flat=True)[:cap])

    for name, attr in (("emails", "email"), ("phones", "number")):
        path = getattr(identity, name)
        raw_key = path.split("__", 1)[0] if path else ""
        raw = data.get(raw_key) if raw_key else None
        items = raw if isinstance(raw, list) else [raw] if raw else []
        wanted = [str(i.get(attr) if isinstance(i, dict) else i).strip() for i in items if i][:20]
        if name == "emails":
            wanted = list(dict.fromkeys(w.lower() for w in wanted))
        if not wanted:
            continue
        child = _child(model, path)
        if child is None:
            take(readable.filter(**{f"{path}__in": wanted}))
        else:
            child_model, fk, child_attr = child
            ids.update(child_model.objects.filter(**{f"{child_attr}__in": wanted}).values_list(fk, flat=True)[:cap])
    if identity.domain and p.domain:
        take(readable.filter(**{identity.domain: p.domain}))  # stored normalised, lower case
    custom = data.get("custom") or {}
    for key in spec.ident_keys:
        value = custom.get(key) if isinstance(custom, dict) else None
        if value not in (None, "") and isinstance(value, (str, int)):
            take(readable.filter(**{f"custom__{key}": value}))
    first = str(data.get(identity.first_name) or "").strip() if identity.first_name else ""
    last = str(data.get(identity.last_name) or "").strip() if identity.last_name else ""
    f_path, l_path = identity.first_name, identity.last_name
    if last and first:
        # the same names (a common family name alone would fill the bound with others), the given
        # name's nicknames and spellings, typos after the first letters, swapped names
        givens = [v for name in names.given_names(first) for v in _spellings(name)]
        take(readable.filter(**{f"{l_path}__in": _spellings(last), f"{f_path}__in": givens[:40]}))
        take(readable.filter(Q(**{f"{l_path}__in": _spellings(last)}) & _prefix_q(f_path, first, 1)))
        take(readable.filter(_prefix_q(l_path, last, 3) & _prefix_q(f_path, first, 1)))
        take(readable.filter(**{f"{f_path}__in": _spellings(last), f"{l_path}__in": _spellings(first)}))
    elif last:
        take(readable.filter(**{f"{l_path}__in": _spellings(last)}))
    elif first and f_path:
        take(readable.filter(**{f"{f_path}__in": _spellings(first)}))
    if identity.name and str(data.get(identity.name) or "").strip():
        org = str(data.get(identity.name))
        take(readable.filter(**{f"{identity.name}__in": _spellings(org)}))
        take(readable.filter(_prefix_q(identity.name, org, 4)))
    if identity.postal_code and str(data.get(identity.postal_code) or "").strip():
        take(readable.filter(**{identity.postal_code: str(data.get(identity.postal_code)).strip()}))
    return ids


def likely_duplicates(
    rtype: RecordType, data: dict[str, Any], *, actor: Any, exclude_id: int | None = None, limit: int = 5
) -> list[Match]:
    """The records ``actor`` may view that are likely the same as a record with ``data`` (a create body
    or a serializer's validated data), best first: at most ``limit``, each scoring at least THRESHOLD."""
    return likely_duplicates_many(rtype, [data], actor=actor, exclude_ids=[exclude_id], limit=limit)[0]


def likely_duplicates_many(
    rtype: RecordType,
    rows: Sequence[dict[str, Any]],
    *,
    actor: Any,
    exclude_ids: Sequence[int | None] | None = None,
    limit: int = 5,
) -> list[list[Match]]:
    """:func:`likely_duplicates` for many rows at once (an import batch): the matches of each row, in
    order. Candidates are read per row with bounded indexed queries and scored together, so records
    shared by many rows are read once. Rows are not compared with each other (the import's own
    matching merges rows of one file)."""
    if rtype.identity is None or not rows:
        return [[] for _ in rows]
    spec = spec_for(rtype)
    readable = _readable(rtype, actor)
    profiles = [profile_from_data(spec, data) for data in rows]
    _complete_company(spec, profiles)
    wanted = [_candidate_ids(spec, data, p, readable) for data, p in zip(rows, profiles, strict=True)]
    every = set().union(*wanted)
    found: dict[int, Profile] = {}
    ids = sorted(every)
    for start in range(0, len(ids), 1000):
        found.update(load_profiles(spec, readable.filter(pk__in=ids[start : start + 1000])))
    excluded = list(exclude_ids or [None] * len(rows))
    out: list[list[Match]] = []
    for p, candidate_ids, skip in zip(profiles, wanted, excluded, strict=True):
        matches = []
        for pk in candidate_ids:
            other = found.get(pk)
            if other is None or pk == skip:
                continue
            score, reasons = compare(p, other, spec)
            if score >= THRESHOLD:
                matches.append(Match(pk, score, tuple(reasons), other.title or f"#{pk}"))
        matches.sort(key=lambda m: (-m.score, m.record_id))
        out.append(matches[:limit])
    return out


# --- the whole-database scan ------------------------------------------------------------------------------
def _orders(spec: Spec) -> list[Callable[[Profile], tuple[str, ...] | None]]:
    """The sort orders of the sorted-neighbourhood passes: each brings likely duplicates close together
    even when a typo breaks an exact key. A record without the order's key (None) sits that pass out."""
    identity = spec.identity
    orders: list[Callable[[Profile], tuple[str, ...] | None]] = []
    if identity.last_name:
        orders.append(lambda p: (p.last, p.given, p.postcode) if p.last else None)
        orders.append(lambda p: (p.given, p.last, p.postcode) if p.given else None)
        orders.append(lambda p: (p.last[::-1], p.given) if p.last else None)
        orders.append(lambda p: tuple(sorted((p.given, p.last))) if p.last and p.given else None)
    if identity.name:
        orders.append(lambda p: (p.org,) if p.org else None)
        orders.append(lambda p: (p.org[::-1],) if p.org else None)
    if identity.postal_code:
        orders.append(lambda p: (p.postcode, p.street) if p.postcode else None)
    if identity.street:
        orders.append(lambda p: (p.street[::-1], p.city) if p.street else None)
    return orders


def _exact_keys(p: Profile) -> Iterator[str]:
    for e in p.emails:
        yield "e:" + e
    for ph in p.phones:
        yield "p:" + ph
    for key, value in p.idents:
        yield f"i:{key}:{value}"
    if p.domain:
        yield "d:" + p.domain


def candidate_pairs(profiles: Sequence[Profile], spec: Spec, *, window: int = WINDOW) -> Iterator[tuple[int, int]]:
    """Index pairs worth scoring: records sharing an exact key (email, phone, identifier, domain) and
    neighbours in each sorted order. A pair may come more than once."""
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(profiles):
        for key in _exact_keys(p):
            blocks[key].append(i)
    for members in blocks.values():
        if len(members) < 2:
            continue
        if len(members) <= MAX_BLOCK:
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    yield members[x], members[y]
        else:  # a widely shared key: only its neighbours by name
            members.sort(key=lambda i: (profiles[i].last, profiles[i].given, profiles[i].org))
            for x in range(len(members)):
                for y in range(x + 1, min(x + window, len(members))):
                    yield members[x], members[y]
    del blocks
    for order in _orders(spec):
        keyed = [(rank, i) for i, p in enumerate(profiles) if (rank := order(p)) is not None]
        keyed.sort()
        ranked = [i for _, i in keyed]
        del keyed
        m = len(ranked)
        for x in range(m):
            i = ranked[x]
            for y in range(x + 1, min(x + window, m)):
                yield i, ranked[y]


def scan(
    spec: Spec,
    profiles: dict[int, Profile],
    *,
    changed_since: datetime | None = None,
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    progress: Callable[[int], None] | None = None,
) -> dict[tuple[int, int], tuple[float, list[str]]]:
    """Likely duplicate pairs among ``profiles``: ``{(smaller id, larger id): (score, reasons)}``.
    With ``changed_since``, only pairs with a record changed since then are scored (the others keep
    what an earlier scan found)."""
    listed = list(profiles.values())
    found: dict[tuple[int, int], tuple[float, list[str]]] = {}
    minimum = CENTRE + SPREAD * math.log(threshold / (1 - threshold)) if 0 < threshold < 1 else -math.inf
    done = 0
    for i, j in candidate_pairs(listed, spec, window=window):
        a, b = listed[i], listed[j]
        if a.id == b.id:
            continue
        if changed_since is not None and not (
            (a.updated is not None and a.updated > changed_since)
            or (b.updated is not None and b.updated > changed_since)
        ):
            continue
        key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        if key in found:
            continue
        total, _ = evidence(a, b, spec, reasons=False)
        if total >= minimum - 1e-9:
            score = score_of(total)
            if score >= threshold:
                found[key] = (score, evidence(a, b, spec)[1])
        done += 1
        if progress is not None and done % 100_000 == 0:
            progress(done)
    return found
