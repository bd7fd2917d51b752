"""The four built-in roles; administrators can change their grants from the settings pages."""

from django.db import migrations

ALL = ["view", "add", "change", "delete", "export", "import"]

ROLES = [
    ("admin", "Administrator", {"*": {a: "all" for a in ALL}}, True),
    ("manager", "Manager", {"*": {a: "team" for a in ALL}}, False),
    (
        "member",
        "Member",
        {"*": {"view": "team", "add": "team", "change": "team", "delete": "own", "export": "team"}},
        False,
    ),
    ("read-only", "Read-only", {"*": {"view": "team"}}, False),
]


def create_roles(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for key, name, grants, manage in ROLES:
        Role.objects.update_or_create(key=key, defaults={"name": name, "grants": grants, "manage_settings": manage})


def remove_roles(apps, schema_editor):
    apps.get_model("accounts", "Role").objects.filter(key__in=[r[0] for r in ROLES]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_roles, remove_roles)]
