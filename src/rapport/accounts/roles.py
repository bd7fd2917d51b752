"""The four built-in roles (migration 0002 holds its own frozen copy of this table)."""

from __future__ import annotations

from typing import Any

ALL_ACTIONS = ["view", "add", "change", "delete", "export", "import"]

DEFAULT_ROLES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("admin", "Administrator", {"*": {a: "all" for a in ALL_ACTIONS}}, True),
    ("manager", "Manager", {"*": {a: "team" for a in ALL_ACTIONS}}, False),
    (
        "member",
        "Member",
        {"*": {"view": "team", "add": "team", "change": "team", "delete": "own", "export": "team"}},
        False,
    ),
    ("read-only", "Read-only", {"*": {"view": "team"}}, False),
]


def ensure_default_roles(sender: Any = None, *, apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    """Create any missing built-in role, never overwriting one an administrator edited.

    Connected to ``post_migrate``, so the roles also come back after a database flush (the test
    suite's transactional tests flush between tests).
    """
    role_model: Any
    if apps is None:
        from .models import Role

        role_model = Role
    else:
        try:
            role_model = apps.get_model("accounts", "Role")
        except LookupError:  # accounts not migrated yet
            return
    for key, name, grants, manage in DEFAULT_ROLES:
        role_model.objects.using(using).get_or_create(
            key=key, defaults={"name": name, "grants": grants, "manage_settings": manage}
        )
