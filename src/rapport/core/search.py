"""Global search: one interface, a backend per database.

SQLite: two FTS5 tables kept in step with ``core_searchentry`` by triggers (words with prefix
matching; identifiers such as emails, phones and domains with the trigram tokenizer, so any
part of them matches). PostgreSQL: a generated ``tsvector`` column with GIN for words, and
``pg_trgm`` GIN indexes for identifier substrings and a fuzzy-name fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from . import registry
from .models import Record, SearchEntry
from .visibility import scope_q

MAX_QUERY = 200
BODY_CHARS = 2000
WORD_RE = re.compile(r"[\w]+", re.UNICODE)


@dataclass
class Hit:
    type_key: str
    record_id: int
    title: str
    detail: str
    rank: float
    body: str = ""  # the indexed body words (up to BODY_CHARS), for snippets


def searchable_keys(type_key: str) -> list[str]:
    """The custom fields of ``type_key`` whose values are searchable text (read once per batch)."""
    from .customfields import TEXT_TYPES, definitions

    return [d.key for d in definitions(type_key) if d.searchable and d.field_type in TEXT_TYPES]


def document_for(record: Record, custom_keys: list[str] | None = None) -> dict[str, Any]:
    title, body, identifiers = record.search_document()
    values = record.custom or {}
    if not any(values.values()):
        return _document(record, title, body, identifiers)  # no custom values: definitions need not be read
    if custom_keys is None:
        custom_keys = searchable_keys(record.record_type_key)
    extra = [str(values.get(k)) for k in custom_keys if values.get(k)]
    if extra:
        body = " ".join([body, *extra])
    return _document(record, title, body, identifiers)


def _document(record: Record, title: str, body: str, identifiers: str) -> dict[str, Any]:
    return {
        "owner_id": record.owner_id,
        "team_id": record.team_id,
        "title": title[:300],
        "body": body,
        "identifiers": identifiers,
    }


UPSERT = (
    "INSERT INTO core_searchentry (type_key, record_id, owner_id, team_id, title, body, identifiers) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (type_key, record_id) DO UPDATE SET "
    "owner_id = excluded.owner_id, team_id = excluded.team_id, title = excluded.title, "
    "body = excluded.body, identifiers = excluded.identifiers WHERE {changed}"
)
CHANGED = " OR ".join(
    f"core_searchentry.{c} {{ne}} excluded.{c}" for c in ("owner_id", "team_id", "title", "body", "identifiers")
)


def _upsert_sql() -> str:
    ne = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return UPSERT.format(changed=CHANGED.format(ne=ne))


def _entry_params(record: Record, custom_keys: list[str] | None = None) -> list[Any]:
    doc = document_for(record, custom_keys)
    return [
        record.record_type_key,
        record.pk,
        doc["owner_id"],
        doc["team_id"],
        doc["title"],
        doc["body"],
        doc["identifiers"],
    ]


def index_record(record: Record) -> None:
    """Insert or refresh the record's entry in one statement; an unchanged entry is not rewritten,
    so the full-text indexes (FTS5 triggers, GIN) are not touched by writes that do not affect them."""
    with connection.cursor() as cur:
        cur.execute(_upsert_sql(), _entry_params(record))


def document_links(model: type[Record]) -> list[str]:
    """Link fields to other records, whose names documents show (a person's company): read them
    with a join instead of a query per record."""
    return [
        f.name
        for f in model._meta.concrete_fields
        if f.many_to_one and isinstance(f.related_model, type) and issubclass(f.related_model, Record)
    ]


def index_records(model: type[Record], pks: list[int], batch: int = 1000) -> int:
    """Refresh the entries of many live records of one type (bulk writes, dependents of a renamed
    record): read in batches with what their documents show, one upsert per batch; unchanged
    entries are not rewritten. Returns the number of records looked at."""
    rtype = registry.for_model(model)
    qs = model.objects.live().order_by("pk")
    if rtype.prefetch_related:
        qs = qs.prefetch_related(*rtype.prefetch_related)
    links = document_links(model)
    total = 0
    sql = _upsert_sql()
    keys = searchable_keys(rtype.key) if pks else []
    for start in range(0, len(pks), batch):
        rows = list(qs.select_related(*links).filter(pk__in=pks[start : start + batch]))
        if rows:
            with connection.cursor() as cur:
                cur.executemany(sql, [_entry_params(r, keys) for r in rows])
        total += len(rows)
    return total


SEARCH_COLUMNS = ("type_key", "record_id", "owner_id", "team_id", "title", "body", "identifiers")


def index_new_records(model: type[Record], records: list[Record]) -> int:
    """Write the entries of records just created in bulk, built from the records in memory (their
    child rows cached by ``write_related``; linked records shown in documents fetched in one query per
    link), and inserted by COPY / executemany: new records have no entry to compare with."""
    from django.db.models import prefetch_related_objects

    from . import bulk

    live = [r for r in records if r.deleted_at is None]
    if not live:
        return 0
    rtype = registry.for_model(model)
    links = [name for name in document_links(model) if any(getattr(r, f"{name}_id", None) for r in live)]
    # Child rows just written are cached already (prefetch skips them); others are read once per list.
    if links or rtype.prefetch_related:
        prefetch_related_objects(live, *links, *rtype.prefetch_related)
    keys = searchable_keys(rtype.key)
    rows = [tuple(_entry_params(r, keys)) for r in live]
    bulk.insert_rows(SearchEntry._meta.db_table, SEARCH_COLUMNS, rows)
    return len(rows)


def remove_record(record: Record) -> None:
    SearchEntry.objects.filter(type_key=record.record_type_key, record_id=record.pk).delete()


# --- documents attached to records (a deal's quotes: registry.AttachedSearch) -------------------------
def attached_types() -> dict[str, tuple[str, registry.AttachedSearch]]:
    """{entry type key: (parent type key, its declaration)}."""
    return {t.attached_search.key: (t.key, t.attached_search) for t in registry.all_types() if t.attached_search}


def searchable_types() -> list[str]:
    """Every type key global search answers with: the registered types and the attached documents."""
    return [*registry.keys(), *attached_types()]


def type_labels(type_key: str) -> tuple[str, str] | None:
    """(label, plural label) of a type key search answers with; None for an unknown key."""
    rtype = registry.find(type_key)
    if rtype is not None:
        return rtype.label, rtype.label_plural
    found = attached_types().get(type_key)
    return (found[1].label, found[1].label_plural) if found else None


def index_attached(parents: list[Record]) -> int:
    """Write the entries of the documents attached to ``parents`` (records of one type), with each
    parent's owner and team; a binned parent's documents get none. Returns the number written."""
    if not parents:
        return 0
    attached = registry.for_model(type(parents[0])).attached_search
    if attached is None:
        return 0
    live = {p.pk: p for p in parents if p.deleted_at is None}
    rows = [
        [attached.key, pk, live[parent].owner_id, live[parent].team_id, title[:300], body, identifiers]
        for parent, pk, title, body, identifiers in (attached.documents(list(live)) if live else [])
    ]
    if rows:
        with connection.cursor() as cur:
            cur.executemany(_upsert_sql(), rows)
    return len(rows)


def remove_attached(parent: Record) -> None:
    """Drop the entries of the documents attached to ``parent`` (it went to the recycle bin)."""
    attached = registry.for_model(type(parent)).attached_search
    if attached is not None:
        ids = [pk for _, pk, *_ in attached.documents([parent.pk])]
        if ids:
            SearchEntry.objects.filter(type_key=attached.key, record_id__in=ids).delete()


def rebuild(type_key: str | None = None, batch: int = 2000) -> int:
    """Re-index every live record (of one type, or all) in batches; returns the count."""
    total = 0
    for rtype in registry.all_types():
        if type_key and rtype.key != type_key:
            continue
        SearchEntry.objects.filter(type_key=rtype.key).delete()
        if rtype.attached_search is not None:
            SearchEntry.objects.filter(type_key=rtype.attached_search.key).delete()
        qs = rtype.model.objects.live().order_by("pk")
        if rtype.prefetch_related:
            qs = qs.prefetch_related(*rtype.prefetch_related)
        last = 0
        while True:
            rows = list(qs.filter(pk__gt=last)[:batch])
            if not rows:
                break
            keys = searchable_keys(rtype.key)
            SearchEntry.objects.bulk_create(
                [SearchEntry(type_key=rtype.key, record_id=r.pk, **document_for(r, keys)) for r in rows]
            )
            index_attached(rows)
            last = rows[-1].pk
            total += len(rows)
    return total


def _visibility(user: Any, types: list[str]) -> tuple[str, list[Any]] | None:
    """SQL (on core_searchentry) for the entries ``user`` may see, from the one visibility rule."""
    combined = Q(pk__in=[])
    attached = attached_types()
    for key in types:
        # An attached document (a quote) is visible exactly when its parent (the deal) is.
        q = scope_q(user, attached[key][0] if key in attached else key, "view")
        if q is not None:
            combined |= Q(type_key=key) & q
    qs = SearchEntry.objects.filter(combined)
    if not qs.query.where:
        return "1=1", []
    compiler = qs.query.get_compiler(connection=connection)
    try:
        sql, params = compiler.compile(qs.query.where)
    except EmptyResultSet:  # nothing visible
        return None
    return sql, list(params)


def _digits(query: str) -> str:
    return re.sub(r"\D", "", query)


def search(user: Any, query: str, *, types: list[str] | None = None, limit: int = 20) -> list[Hit]:
    query = (query or "").strip()[:MAX_QUERY]
    if not query:
        return []
    known = searchable_types()
    types = [t for t in (types or known) if t in known]
    vis = _visibility(user, types)
    if vis is None:
        return []
    if connection.vendor == "postgresql":
        hits = _search_postgres(query, vis, limit)
    else:
        hits = _search_sqlite(query, vis, limit)
    return hits


def _ident_terms(query: str) -> list[str]:
    terms = []
    compact = query.replace(" ", "")
    if len(compact) >= 3 and re.search(r"[@.\d]", compact):
        terms.append(compact.lower())
        digits = _digits(compact)
        if len(digits) >= 3 and digits != compact:
            terms.append(digits)
    return terms


def _fts_quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _rows_to_hits(rows: list[tuple[Any, ...]]) -> list[Hit]:
    return [
        Hit(
            type_key=r[0],
            record_id=r[1],
            title=r[2],
            detail=(r[3] or "")[:120],
            rank=float(r[4] or 0),
            body=(r[3] or "")[:BODY_CHARS],
        )
        for r in rows
    ]


def _merge(*groups: list[Hit], limit: int) -> list[Hit]:
    seen: set[tuple[str, int]] = set()
    out: list[Hit] = []
    for group in groups:
        for hit in group:
            key = (hit.type_key, hit.record_id)
            if key not in seen:
                seen.add(key)
                out.append(hit)
    return out[:limit]


def _search_sqlite(query: str, vis: tuple[str, list[Any]], limit: int) -> list[Hit]:
    vis_sql, vis_params = vis
    select = (
        "SELECT core_searchentry.type_key, core_searchentry.record_id, core_searchentry.title, "
        "core_searchentry.body, m.rank FROM ({inner}) m "
        "JOIN core_searchentry ON core_searchentry.id = m.id WHERE {vis} ORDER BY m.rank LIMIT %s"
    )
    groups: list[list[Hit]] = []
    with connection.cursor() as cur:
        for term in _ident_terms(query):
            inner = "SELECT rowid AS id, rank FROM search_idents WHERE search_idents MATCH %s"
            cur.execute(select.format(inner=inner, vis=vis_sql), [_fts_quote(term), *vis_params, limit])
            groups.append(_rows_to_hits(cur.fetchall()))
        words = WORD_RE.findall(query)
        if words:
            match = " AND ".join(_fts_quote(w) + "*" for w in words[:8])
            inner = (
                "SELECT rowid AS id, bm25(search_words, 10.0, 1.0) AS rank "
                "FROM search_words WHERE search_words MATCH %s"
            )
            cur.execute(select.format(inner=inner, vis=vis_sql), [match, *vis_params, limit])
            groups.append(_rows_to_hits(cur.fetchall()))
    return _merge(*groups, limit=limit)


def _search_postgres(query: str, vis: tuple[str, list[Any]], limit: int) -> list[Hit]:
    vis_sql, vis_params = vis
    cols = "core_searchentry.type_key, core_searchentry.record_id, core_searchentry.title, core_searchentry.body"
    groups: list[list[Hit]] = []
    with connection.cursor() as cur:
        for term in _ident_terms(query):
            like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            cur.execute(
                f"SELECT {cols}, 0 FROM core_searchentry WHERE identifiers ILIKE %s AND {vis_sql} "  # noqa: S608
                "ORDER BY length(identifiers) LIMIT %s",
                [like, *vis_params, limit],
            )
            groups.append(_rows_to_hits(cur.fetchall()))
        words = WORD_RE.findall(query.lower())
        if words:
            tsquery = " & ".join(re.sub(r"[^\w]", "", w) + ":*" for w in words[:8])
            cur.execute(
                f"SELECT {cols}, -ts_rank(tsv, q) AS rank FROM core_searchentry, "  # noqa: S608
                f"to_tsquery('rapport_search', %s) q WHERE tsv @@ q AND {vis_sql} ORDER BY rank LIMIT %s",
                [tsquery, *vis_params, limit],
            )
            groups.append(_rows_to_hits(cur.fetchall()))
        if not any(groups) and len(query) >= 3:
            # Fuzzy fallback for misspelt names only: trigram similarity is slow at scale.
            cur.execute(
                f"SELECT {cols}, -similarity(title, %s) AS rank FROM core_searchentry "  # noqa: S608
                f"WHERE title %% %s AND {vis_sql} ORDER BY rank LIMIT %s",
                [query, query, *vis_params, limit],
            )
            groups.append(_rows_to_hits(cur.fetchall()))
    return _merge(*groups, limit=limit)


# The record ids of one type matching a query, per backend (constant SQL; values are parameters).
_LIST_MATCH_IDENTS_PG = "SELECT record_id FROM core_searchentry WHERE type_key = %s AND identifiers ILIKE %s"
_LIST_MATCH_WORDS_PG = (
    "SELECT record_id FROM core_searchentry WHERE type_key = %s AND tsv @@ to_tsquery('rapport_search', %s)"
)
_LIST_MATCH_IDENTS_SQLITE = (
    "SELECT record_id FROM core_searchentry WHERE type_key = %s "
    "AND id IN (SELECT rowid FROM search_idents WHERE search_idents MATCH %s)"
)
_LIST_MATCH_WORDS_SQLITE = (
    "SELECT record_id FROM core_searchentry WHERE type_key = %s "
    "AND id IN (SELECT rowid FROM search_words WHERE search_words MATCH %s)"
)


def matching_records(type_key: str, query: str) -> Q:
    """A filter on ``type_key``'s records selecting those the search index matches for ``query``:
    the search within a list, combined with its filters, ordering, keyset pages and counts.

    The same matching as :func:`search` (words by prefix, or any 3+ characters of an email, phone
    or domain), without ranking or the fuzzy fallback: the list keeps its own order. Visibility is
    the list's own (``visible_to``); the index only narrows by type."""
    query = (query or "").strip()[:MAX_QUERY]
    parts: list[str] = []
    params: list[Any] = []
    if connection.vendor == "postgresql":
        for term in _ident_terms(query):
            like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            parts.append(_LIST_MATCH_IDENTS_PG)
            params += [type_key, like]
        words = [re.sub(r"[^\w]", "", w) for w in WORD_RE.findall(query.lower())]
        words = [w for w in words if w]
        if words:
            parts.append(_LIST_MATCH_WORDS_PG)
            params += [type_key, " & ".join(w + ":*" for w in words[:8])]
    else:
        for term in _ident_terms(query):
            parts.append(_LIST_MATCH_IDENTS_SQLITE)
            params += [type_key, _fts_quote(term)]
        words = WORD_RE.findall(query)
        if words:
            parts.append(_LIST_MATCH_WORDS_SQLITE)
            params += [type_key, " AND ".join(_fts_quote(w) + "*" for w in words[:8])]
    if not parts:
        return Q(pk__in=[])
    return Q(pk__in=RawSQL(" UNION ".join(parts), params))
