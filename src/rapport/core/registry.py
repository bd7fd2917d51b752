"""The record-type registry: one descriptor per type, from which every generic path is built."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Record


@dataclass(frozen=True)
class Column:
    """A value a list shows, exports and can sort on.

    ``path`` is the model field read by the projection; for ``user`` and ``record`` columns it is
    the foreign key's name, and the row holds ``{"id", "name"}`` of the linked user or record.
    ``key`` is the name in API rows, exports and the column picker.
    """

    key: str
    label: str
    path: str
    # text, email, phone, number, percent, money, date, datetime, choice, user, record, fk, tags, url
    kind: str = "text"
    sortable: bool = False
    default: bool = True
    choices: tuple[tuple[str, str], ...] = ()
    link_type: str = ""  # for kind == "record": the type key of the linked record
    link_fields: tuple[str, ...] = ("name",)  # for kind == "fk": the linked model's fields shown as its name
    currency: str = ""  # for kind == "money": the key of the column holding the ISO 4217 currency


@dataclass(frozen=True)
class Filter:
    """A query parameter accepted by the list page, the API and exports."""

    name: str
    label: str
    path: str
    # exact, choice, user, record, tag, date_range, text, present (yes/no: filled in or not), query (see parts)
    kind: str = "exact"
    choices: tuple[tuple[str, str], ...] = ()
    link_type: str = ""
    # kind == "id": a callable giving the (id, label) options, for links to settings-like rows
    options: Callable[[], list[tuple[str, str]]] | None = None
    # kind == "query": a condition over several parameters read together (a deal that entered a stage
    # between two dates): ``parts`` are its (operator, label, input) — operator "" being the bare name,
    # input "id" (``options``), "date" or "yes_no" — and ``query(values by operator, user)`` builds the Q,
    # raising ``listing.QueryError`` naming the parameter for a bad value.
    parts: tuple[tuple[str, str, str], ...] = ()
    query: Callable[[dict[str, list[str]], Any], Any] | None = None


@dataclass(frozen=True)
class AttachedSearch:
    """Documents global search finds through a record type without being records of their own (a
    deal's quotes). They are visible exactly when their parent record is, so their entries carry the
    parent's owner and team; core.search keeps them in step with the parent (owner or team change,
    bin, restore) in the same transaction, and the owning app indexes a new or changed one itself."""

    key: str  # the entries' type key, also the page and API path (/quotes/<id>/)
    label: str
    label_plural: str
    # parent ids -> [(parent id, id, title, body, identifiers)] of their documents
    documents: Callable[[list[int]], list[tuple[int, int, str, str, str]]]


@dataclass(frozen=True)
class RowPart:
    """One position of a child row in a record's snapshot (``Record.related_snapshot``)."""

    name: str
    kind: str = "text"  # text, number, percent, money (in the record's currency), choice, record
    choices: tuple[tuple[str, str], ...] = ()
    link_type: str = ""  # for kind == "record"


@dataclass(frozen=True)
class ChildRows:
    """How the rows of a child list read in history and timelines: ``wording`` with ``{part}``
    placeholders (``{quantity} × {name} at {unit_price}``), each of ``extras`` appended when its part is
    not zero or empty (``(", {discount} off", "discount")``). A snapshot holding a mapping of currency →
    amount (a product's prices) has ``prices=True`` and no parts."""

    parts: tuple[RowPart, ...] = ()
    wording: str = ""
    extras: tuple[tuple[str, str], ...] = ()
    prices: bool = False


@dataclass(frozen=True)
class Identity:
    """Which fields identify a record of a type: the duplicate finder (``rapport.duplicates.finder``)
    compares these, generically, plus every custom field the administrator marks as an identifier.
    A field left empty is a signal the type does not have. ``emails`` and ``phones`` name a model field
    or a child list as ``<related name>__<attribute>`` (a person's ``emails__email``)."""

    first_name: str = ""  # a person's names: fuzzy (typos, nicknames, accents, swapped)
    last_name: str = ""
    name: str = ""  # an organisation's name: fuzzy, legal suffixes (Inc, Ltd, GmbH…) ignored
    emails: str = ""
    phones: str = ""
    domain: str = ""
    company: str = ""  # a link to a company: the same one, or a company of a similar name
    street: str = ""
    city: str = ""
    postal_code: str = ""


@dataclass
class RecordType:
    key: str  # URL and API name, plural: "people"
    model: type[Record]
    label: str
    label_plural: str
    icon: str
    columns: list[Column]
    filters: list[Filter]
    default_ordering: str = "-created_at"
    title_fields: tuple[str, ...] = ("name",)
    serializer: Callable[[], type] | None = None  # returns the write serializer class
    # A valid create payload: the API docs show it and the generic test suite writes it.
    example: dict[str, Any] = field(default_factory=dict)
    detail_sections: list[str] = field(default_factory=list)  # templates included in the detail page
    # Templates for the wide main column (a timeline): when given, the page puts them first and moves the
    # details, ``detail_sections`` and related lists to the side column, as a person's or company's page does.
    detail_main: list[str] = field(default_factory=list)
    # A type's own detail page: a template extending web/detail.html, and what it needs beyond the
    # generic context (``detail_context(record, user) -> dict``). ``detail_history=False`` leaves out
    # the History card (and its queries) where a timeline section shows the changes already.
    detail_template: str = "web/detail.html"
    detail_context: Callable[[Any, Any], dict[str, Any]] | None = None
    detail_history: bool = True
    # A link in the main navigation; False for a type reached through another's pages (payments, from invoices).
    in_nav: bool = True
    attached_search: AttachedSearch | None = None  # documents found through this type (a deal's quotes)
    form_exclude: tuple[str, ...] = ()  # serializer fields the generic form leaves out
    # The type's own form defaults, choices and hints: called by the generic create/edit page with
    # (fields, instance=None|record, user=, params=query or posted values, posted=bool) after the
    # generic values are filled (web.forms.FormField specs; core does not import the pages).
    form_setup: Callable[..., None] | None = None
    # What the link picker (/autocomplete/) carries for each match beyond its name, called with
    # (user, ids, query parameters) -> {id: {key: text}}; a match it leaves out is not offered
    # (a product's price in the asked currency; an inactive product is not offered).
    picker_data: Callable[[Any, list[int], Any], dict[int, dict[str, str]]] | None = None
    related: list[tuple[str, str]] = field(default_factory=list)  # (type key, FK name on that type)
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    # The read schema of what the model's ``api_extra()`` adds (child rows...): returns
    # {name: DRF serializer field}; the API schema of the type is derived from it and the model.
    api_fields: Callable[[], dict[str, Any]] | None = None
    # How the child lists of the snapshot read in history ({"line_items": ChildRows(...)}); a list
    # without one reads as its values joined by commas.
    child_rows: dict[str, ChildRows] = field(default_factory=dict)
    # Imports: what a file's rows can be matched to existing records on, {name: lookup path}, the
    # first being the default ({"email": "emails__email"} for people, {"domain": "domain"} for
    # companies); a link to the type by a column also accepts these values besides the name.
    import_match: dict[str, str] = field(default_factory=dict)
    search_markdown: bool = False  # the search document's body is Markdown: snippets show it as plain text
    # The date fields (in order of preference, the first set wins) whose day converts the type's money
    # to the base currency in reports (none of them set: today's rate); none declared: the day the
    # record was created.
    money_day: tuple[str, ...] = ()
    # The fields that identify a record, for duplicate detection (on create, on import, by the scan);
    # None: the type is not checked for duplicates.
    identity: Identity | None = None
    # Link fields of this type whose record's timeline shows this type's records being created and changing
    # status (an invoice's ``company`` and ``deal``): declared here, on the type that links, so the linked
    # type's registration and the timeline need no change for it.
    timeline_links: tuple[str, ...] = ()

    @property
    def columns_by_key(self) -> dict[str, Column]:
        return {c.key: c for c in self.columns}

    @property
    def sortable_keys(self) -> list[str]:
        return [c.key for c in self.columns if c.sortable]

    def get_serializer_class(self) -> type:
        assert self.serializer is not None, f"record type {self.key} has no serializer"
        return self.serializer()


_types: dict[str, RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    if record_type.key in _types:
        raise ValueError(f"record type {record_type.key!r} is registered twice")
    _types[record_type.key] = record_type
    record_type.model.record_type_key = record_type.key
    return record_type


def get(key: str) -> RecordType:
    return _types[key]


def find(key: str) -> RecordType | None:
    return _types.get(key)


def for_model(model: type[Any]) -> RecordType:
    return _types[model.record_type_key]


def all_types() -> Iterator[RecordType]:
    return iter(list(_types.values()))


def keys() -> list[str]:
    return list(_types)
