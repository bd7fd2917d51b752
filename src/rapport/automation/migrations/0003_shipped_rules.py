"""The rules Rapport ships (``automation.shipped``): the overdue invoice task for the account owner."""

from django.db import migrations


def create(apps, schema_editor):
    from rapport.automation.shipped import ensure_shipped_rules

    ensure_shipped_rules(apps=apps, using=schema_editor.connection.alias)


def remove(apps, schema_editor):
    apps.get_model("automation", "Rule").objects.filter(shipped__isnull=False).delete()


class Migration(migrations.Migration):
    dependencies = [("automation", "0002_rule_shipped")]

    operations = [migrations.RunPython(create, remove)]
