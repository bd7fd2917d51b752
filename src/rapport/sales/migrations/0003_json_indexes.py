"""PostgreSQL GIN indexes on the JSON columns list filters read (tags, custom fields)."""

from django.db import migrations

from rapport.core.dbops import json_gin_indexes


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_default_pipeline")]

    operations = [json_gin_indexes(["sales_deal", "sales_product"])]
