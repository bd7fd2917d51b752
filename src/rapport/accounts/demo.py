"""Demo users and teams (``rapport demo``): an admin, managers, members and a read-only user in
three teams, each with a random password saved to the demo login file."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction

from rapport.core.demo import DemoContext

from .models import Role, Team, User

DEMO_USERS = (
    # username, first, last, role, team
    ("maria", "Maria", "Lopez", "manager", "Sales East"),
    ("james", "James", "Carter", "member", "Sales East"),
    ("aisha", "Aisha", "Okafor", "member", "Sales East"),
    ("lukas", "Lukas", "Weber", "manager", "Sales West"),
    ("sofia", "Sofia", "Rossi", "member", "Sales West"),
    ("kenji", "Kenji", "Ito", "member", "Sales West"),
    ("nora", "Nora", "Hansen", "manager", "Customer Success"),
    ("omar", "Omar", "Haddad", "member", "Customer Success"),
    ("viewer", "Vera", "Lindqvist", "read-only", "Customer Success"),
)
TEAMS = ("Sales East", "Sales West", "Customer Success")
# Where each team works: My day, the calendar and the digest follow each user's own day.
TEAM_ZONES = {
    "Sales East": "America/New_York",
    "Sales West": "America/Los_Angeles",
    "Customer Success": "Europe/London",
}


def load_demo(ctx: DemoContext) -> None:
    with transaction.atomic():
        teams = {name: Team.objects.get_or_create(name=name)[0] for name in TEAMS}
        ctx.admin = _user(ctx, "admin", "Alex", "Admin", "admin", None, superuser=True)
        ctx.users = [_user(ctx, u, f, la, role, teams[t]) for u, f, la, role, t in DEMO_USERS]
    ctx.sellers = [ctx.admin] + [u for u in ctx.users if u.role and u.role.key in ("manager", "member")]


def _user(ctx: DemoContext, username: str, first: str, last: str, role: str, team: Team | None, **kw: Any) -> User:
    password = secrets.token_urlsafe(12)
    user = User(
        username=username,
        first_name=first,
        last_name=last,
        email=f"{username}@rapport.example",
        role=Role.objects.get(key=role),
        team=team,
        time_zone=TEAM_ZONES[team.name] if team else "UTC",
        is_staff=kw.get("superuser", False),
        is_superuser=kw.get("superuser", False),
    )
    user.set_password(password)
    user.save()
    ctx.logins.append(f"{username} / {password}  ({role}{', ' + team.name if team else ''})")
    return user
