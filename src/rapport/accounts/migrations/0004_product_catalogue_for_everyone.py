"""The product catalogue is organisation-wide: the built-in manager, member and read-only roles see
every product (and export it where they may export). A role whose grants already name products
(an administrator chose) is left as it is."""

from django.db import migrations

CATALOGUE = {
    "manager": {"view": "all", "export": "all"},
    "member": {"view": "all", "export": "all"},
    "read-only": {"view": "all"},
}


def open_catalogue(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(key__in=CATALOGUE):
        if "products" not in (role.grants or {}):
            role.grants = {**(role.grants or {}), "products": CATALOGUE[role.key]}
            role.save(update_fields=["grants"])


def close_catalogue(apps, schema_editor):
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(key__in=CATALOGUE):
        if (role.grants or {}).get("products") == CATALOGUE[role.key]:
            role.grants = {k: v for k, v in role.grants.items() if k != "products"}
            role.save(update_fields=["grants"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_login_failure_device")]

    operations = [migrations.RunPython(open_catalogue, close_catalogue)]
