"""The row form of the visibility rule a list page uses (core.visibility.sees_rule) decides
exactly as the one rule (core.visibility.sees), for every registered type and every kind of user."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from rapport.core import registry
from rapport.core.visibility import SYSTEM, sees, sees_rule

from .conftest import make_user


def test_sees_rule_agrees_with_sees_for_every_type_and_user(users, teams):
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
            for owner, team in rows:
                assert rule(owner, team) == sees(user, rtype.key, owner, team), (rtype.key, user, owner, team)
                checked += 1
    assert checked == len(list(registry.all_types())) * len(viewers) * len(rows)


def test_sees_rule_by_hand(users, teams):
    member, outsider = users["member"], users["outsider"]
    rule = sees_rule(member, "people")  # built-in member role: people of the own team
    assert rule(users["peer"].id, teams["east"].id) is True
    assert rule(outsider.id, teams["west"].id) is False
    assert sees_rule(users["admin"], "people")(outsider.id, teams["west"].id) is True
    assert sees_rule(None, "people")(member.id, teams["east"].id) is False
