"""The one rule turning a user into a filter; pages, API, search, exports and history all use it."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db.models import Q
from django.db.models.sql import Query


def _scope_column(user: Any, type_key: str, action: str) -> tuple[str, Any] | None:
    """The rule as (column, value) the records must have: ("team_id", 3), ("owner_id", 7), ("", None) for
    every record; None when ``user`` may ``action`` none."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    scope = user.scope_for(type_key, action)
    if scope is None:
        return None
    if scope == "all":
        return "", None
    if scope == "team" and user.team_id:
        # A record's team is always its owner's team (services.sync_owner_team keeps it so when
        # a user changes team), so "my team's" includes "mine" and one indexed column suffices:
        # (team_id, created_at, id) then serves the list in order instead of an OR and a sort.
        return "team_id", user.team_id
    return "owner_id", user.id


def scope_q(user: Any, type_key: str, action: str = "view", *, prefix: str = "") -> Q | None:
    """A Q selecting the records of ``type_key`` that ``user`` may ``action``; None when none.

    ``prefix`` is prepended to the owner/team column names, for tables that copy them
    (the search index uses ``owner_id``/``team_id`` columns of its own).
    """
    rule = _scope_column(user, type_key, action)
    if rule is None:
        return None
    column, value = rule
    return Q(**{f"{prefix}{column}": value}) if column else Q()


def visible_where(model: Any, user: Any, connection: Any, action: str = "view") -> tuple[str, list[Any]] | None:
    """The WHERE clause of ``model.objects.visible_to(user, action)`` (live records in the user's scope) as
    SQL over the model's table and its parameters; None when the user may see none of them.

    The same Q as :func:`scope_q`, compiled by the ORM once per (model, scope column, database) and reused
    with this user's value: the API list runs it on every request, where compiling it cost more than
    running the page's statement."""
    rule = _scope_column(user, model.record_type_key, action)
    if rule is None:
        return None
    column, value = rule
    if column and value is None:  # never for a signed-in user; compiled as IS NULL, so not shared
        return _compile(model, Q(deleted_at__isnull=True, **{column: None}), connection)
    key = (model, column, connection.vendor)
    sql = _VISIBLE_WHERE.get(key)
    if sql is None:
        sample = Q(deleted_at__isnull=True, **{column: 0}) if column else Q(deleted_at__isnull=True)
        sql, params = _compile(model, sample, connection)
        if params != ([0] if column else []):  # the one parameter must be the value (none for all)
            raise RuntimeError(f"unexpected parameters in the visibility clause: {params!r}")
        _VISIBLE_WHERE[key] = sql
    return sql, [value] if column else []


def _compile(model: Any, q: Q, connection: Any) -> tuple[str, list[Any]]:
    query = Query(model)
    sql, params = query.get_compiler(connection=connection).compile(query.build_where(q))
    return sql, list(params)


_VISIBLE_WHERE: dict[tuple[Any, str, str], str] = {}


def can(user: Any, record: Any, action: str) -> bool:
    """Object-level check, the same rule as :func:`scope_q`."""
    if record is None or getattr(record, "deleted_at", None) is not None and action != "restore":
        return False
    scope = user.scope_for(record.record_type_key, "delete" if action == "restore" else action) if user else None
    return _in_scope(user, scope, record.owner_id, record.team_id)


def _in_scope(user: Any, scope: str | None, owner_id: Any, team_id: Any) -> bool:
    """Row-level form of :func:`scope_q`: is a row with this owner and team within ``scope``?"""
    if scope is None:
        return False
    if scope == "all":
        return True
    if scope == "team" and user.team_id:
        return bool(team_id is not None and team_id == user.team_id)
    return bool(owner_id is not None and owner_id == user.id)


def can_assign_owner(user: Any, type_key: str, action: str, owner: Any) -> bool:
    """May ``user`` create or change a record so that it ends up owned by ``owner``?"""
    scope = user.scope_for(type_key, action)
    if scope is None:
        return False
    if scope == "all":
        return True
    owner_id = getattr(owner, "id", owner)
    if owner_id == user.id:
        return True
    if scope == "team" and user.team_id is not None:
        team_id = getattr(owner, "team_id", None)
        return team_id == user.team_id
    return False


# --- links ----------------------------------------------------------------------------------------
class _System:
    """The actor of writes no person makes (demo data, migrations): links to any live record."""

    is_authenticated = True
    pk = id = None
    team_id = None

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM: Any = _System()


def linkable(model: Any, user: Any) -> Any:
    """The records of ``model`` a write by ``user`` may link to: those ``user`` may view.

    Every link field (core.serializers.RecordLinkField), activity link and reference custom field
    validates against this queryset, so another team's record, a deleted one and an id that never
    existed all get the same answer.
    """
    if user is SYSTEM:
        return model.objects.live()
    return model.objects.visible_to(user)


def sees(user: Any, type_key: str, owner_id: Any, team_id: Any) -> bool:
    """May ``user`` view a record of ``type_key`` owned by ``owner_id`` in ``team_id``?

    The row-level form of :func:`scope_q` (same rule), for values already read in a join.
    """
    if user is SYSTEM:
        return True
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return _in_scope(user, user.scope_for(type_key, "view"), owner_id, team_id)


def _always(owner_id: Any, team_id: Any) -> bool:
    return True


def _never(owner_id: Any, team_id: Any) -> bool:
    return False


def sees_rule(user: Any, type_key: str) -> Callable[[Any, Any], bool]:
    """:func:`sees` for many rows of one type: ``rule(owner_id, team_id)``, with the user's scope
    looked up once (a list page decides the links of every row with it)."""
    if user is SYSTEM:
        return _always
    if user is None or not getattr(user, "is_authenticated", False):
        return _never
    scope = user.scope_for(type_key, "view")
    if scope is None:
        return _never
    if scope == "all":
        return _always
    return partial(_in_scope, user, scope)


def sees_columns(user: Any, type_key: str) -> bool | tuple[str, Any]:
    """:func:`sees` as data, for code that decides many rows in one expression (the API list's row
    builder): True (every record of ``type_key``), False (none), or (column, value): a record is seen
    when its ``column`` ("team_id" or "owner_id") equals ``value`` (never None)."""
    if user is SYSTEM:
        return True
    rule = _scope_column(user, type_key, "view")
    if rule is None:
        return False
    column, value = rule
    if not column:
        return True
    return (column, value) if value is not None else False


def link_label(user: Any, type_key: str, name: Any, *, owner_id: Any, team_id: Any) -> str | None:
    """The one rule for showing a linked record's name: ``name`` when ``user`` may view the
    record, else None (the viewer sees that a link exists, by id, without its name).

    The API (``{"id": 5, "name": null}``), list rows, detail pages, board cards, exports, search
    results and timelines all decide through this function; callers read the linked record's
    ``owner_id`` and ``team_id`` in the same query as its name, so it costs no query.
    """
    return name if sees(user, type_key, owner_id, team_id) else None


def record_link(user: Any, obj: Any) -> dict[str, Any] | None:
    """``{"id", "name"}`` of a linked record object for ``user`` (name None when hidden)."""
    if obj is None:
        return None
    name = getattr(obj, "display_name", None) or str(obj)
    label = link_label(user, obj.record_type_key, name, owner_id=obj.owner_id, team_id=obj.team_id)
    return {"id": obj.pk, "name": label}


def search_label(record: Any, linked: Any) -> str:
    """A linked record's name as ``record``'s search document may carry it (a person's entry
    shows and is found by their company's name): only when the linked record is in the same
    team (or, without a team, has the same owner), so that whoever finds ``record`` by team
    scope may also see ``linked``. The index is one document for every viewer, so it cannot ask
    :func:`link_label` per viewer; this is its conservative form."""
    if linked is None:
        return ""
    if record.team_id is not None:
        same = linked.team_id == record.team_id
    else:
        same = linked.owner_id is not None and linked.owner_id == record.owner_id
    return str(linked) if same else ""
