"""The one rule turning a user into a filter; pages, API, search, exports and history all use it."""

from __future__ import annotations

from typing import Any

from django.db.models import Q


def scope_q(user: Any, type_key: str, action: str = "view", *, prefix: str = "") -> Q | None:
    """A Q selecting the records of ``type_key`` that ``user`` may ``action``; None when none.

    ``prefix`` is prepended to the owner/team column names, for tables that copy them
    (the search index uses ``owner_id``/``team_id`` columns of its own).
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    scope = user.scope_for(type_key, action)
    if scope is None:
        return None
    if scope == "all":
        return Q()
    if scope == "team" and user.team_id:
        # A record's team is always its owner's team (services.sync_owner_team keeps it so when
        # a user changes team), so "my team's" includes "mine" and one indexed column suffices:
        # (team_id, created_at, id) then serves the list in order instead of an OR and a sort.
        return Q(**{f"{prefix}team_id": user.team_id})
    return Q(**{f"{prefix}owner_id": user.id})


def can(user: Any, record: Any, action: str) -> bool:
    """Object-level check, the same rule as :func:`scope_q`."""
    if record is None or getattr(record, "deleted_at", None) is not None and action != "restore":
        return False
    type_key = record.record_type_key
    scope = user.scope_for(type_key, "delete" if action == "restore" else action) if user else None
    if scope is None:
        return False
    if scope == "all":
        return True
    if scope == "team" and user.team_id is not None:
        return bool(record.team_id == user.team_id)
    return bool(record.owner_id == user.id)


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
