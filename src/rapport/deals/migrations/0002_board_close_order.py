"""The board's open columns read their deals by expected close date (then the undated ones by id)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("deals", "0001_initial")]

    operations = [
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["stage", "expected_close_date", "id"],
                name="deal_stage_close_idx",
            ),
        ),
    ]
