"""The row form of the visibility rule a list page uses (core.visibility.sees_rule) decides
exactly as the one rule (core.visibility.sees), and its SQL form the API list uses
(core.visibility.visible_where) selects what ``visible_to`` selects, for every registered type and
every kind of user."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from rapport.core import registry
from rapport.core.visibility import SYSTEM, sees, sees_columns, sees_rule, visible_where

from .conftest import make_user


def test_sees_rule_and_sees_columns_agree_with_sees_for_every_type_and_user(users, teams):
    east, west = teams["east"], teams["west"]
    teamless = make_user("loner", "member")
    inactive = make_user("gone", "member", east, is_active=False)
    root = make_user("root", "member", east, is_superuser=True)
    viewers = [*users.values(), teamless, inactive, root, SYSTEM, AnonymousUser(), None]
    other = users["outsider"]
    rows = [
        (owner, team)
        for owner in (None, users["member"].id, users["peer"].id, other.id, teamless.id)
        for team in (None, east.id, west.id)
    ]
    checked = 0
    for rtype in registry.all_types():
        for user in viewers:
            rule = sees_rule(user, rtype.key)
            columns = sees_columns(user, rtype.key)
            for owner, team in rows:
                expected = sees(user, rtype.key, owner, team)
                assert rule(owner, team) == expected, (rtype.key, user, owner, team)
                # the data form the API list's row builder compiles into its expression
                if isinstance(columns, bool):
                    assert columns == expected, (rtype.key, user, owner, team)
                else:
                    column, value = columns
                    assert ((team if column == "team_id" else owner) == value) == expected, (rtype.key, user)
                checked += 1
    assert checked == len(list(registry.all_types())) * len(viewers) * len(rows)


def test_sees_rule_by_hand(users, teams):
    member, outsider = users["member"], users["outsider"]
    rule = sees_rule(member, "people")  # built-in member role: people of the own team
    assert rule(users["peer"].id, teams["east"].id) is True
    assert rule(outsider.id, teams["west"].id) is False
    assert sees_rule(users["admin"], "people")(outsider.id, teams["west"].id) is True
    assert sees_rule(None, "people")(member.id, teams["east"].id) is False


@pytest.mark.usefixtures("team_scoped_catalogue")
@pytest.mark.parametrize("type_key", registry.keys())
def test_visible_where_selects_what_visible_to_selects(type_key, users, teams):
    """The API list's SQL form of the rule (compiled once per scope shape and reused with each user's
    value) selects the same rows as ``visible_to`` for every kind of viewer, binned records never."""
    from django.db import connection

    from rapport.core import services

    from .test_api_generic import make

    teamless = make_user("loner", "member")
    owners = [users["member"], users["peer"], users["outsider"], teamless, users["admin"]]
    made = [make(type_key, owner, n) for n, owner in enumerate(owners)]
    services.delete_record(made[1], actor=users["admin"], source="system")
    model = registry.get(type_key).model
    viewers = [*users.values(), teamless, make_user("gone", "member", teams["east"], is_active=False)]
    table = connection.ops.quote_name(model._meta.db_table)

    def selected(viewer: Any) -> set[int] | None:
        found = visible_where(model, viewer, connection)
        if found is None:
            return None
        where, params = found
        with connection.cursor() as cur:
            cur.execute(f"SELECT id FROM {table} WHERE {where}", params)  # noqa: S608
            return {row[0] for row in cur.fetchall()}

    for viewer in viewers:
        expected = set(model.objects.visible_to(viewer).values_list("id", flat=True))
        assert (selected(viewer) or set()) == expected, viewer
    # By hand: a member of the east team sees the east records still live (their own and the admin's, not
    # their peer's binned one), not the west's or the teamless user's; the outsider sees only their own.
    ours = {m.pk for m in made}
    assert (selected(users["member"]) or set()) & ours == {made[0].pk, made[4].pk}
    assert (selected(users["outsider"]) or set()) & ours == {made[2].pk}
    assert selected(users["admin"]) is not None and made[1].pk not in selected(users["admin"])
