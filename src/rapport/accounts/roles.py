"""The four built-in roles (migrations 0002 and 0004 hold their own frozen copies of this table)."""

from __future__ import annotations

from typing import Any

ALL_ACTIONS = ["view", "add", "change", "delete", "export", "import"]

# The product catalogue is the organisation's, not a team's: everyone who may see deals sees every
# product (a deal's line editor offers them, its quotes print them), and exports what they may export.
CATALOGUE = {
    "manager": {"view": "all", "export": "all"},
    "member": {"view": "all", "export": "all"},
    "read-only": {"view": "all"},
}

DEFAULT_ROLES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("admin", "Administrator", {"*": {a: "all" for a in ALL_ACTIONS}}, True),
    ("manager", "Manager", {"*": {a: "team" for a in ALL_ACTIONS}, "products": CATALOGUE["manager"]}, False),
    (
        "member",
        "Member",
        {
            "*": {"view": "team", "add": "team", "change": "team", "delete": "own", "export": "team"},
            "products": CATALOGUE["member"],
        },
        False,
    ),
    ("read-only", "Read-only", {"*": {"view": "team"}, "products": CATALOGUE["read-only"]}, False),
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
