"""PostgreSQL GIN indexes on the JSON columns that list filters read (tags, custom fields)."""

from django.db import migrations

from rapport.core.dbops import json_gin_indexes


class Migration(migrations.Migration):
    dependencies = [("contacts", "0001_initial")]

    operations = [json_gin_indexes(["contacts_company", "contacts_person"])]
