"""The board's won and lost column figures read one covering index (stage, closed_on, …), and an open
column's cards for a member who sees their team's deals read (team, stage, expected_close_date, id)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("deals", "0004_fill_stage_total")]

    operations = [
        migrations.RemoveIndex(model_name="deal", name="deal_stage_closed_idx"),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=[
                    "stage",
                    "closed_on",
                    "status",
                    "pipeline",
                    "team",
                    "owner",
                    "currency",
                    "amount",
                    "probability",
                    "deleted_at",
                ],
                name="deal_stage_closed_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="deal",
            index=models.Index(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=["team", "stage", "expected_close_date", "id"],
                name="deal_team_stage_close_idx",
            ),
        ),
        # The planner's statistics for the new indexes (without them SQLite took the team index for the
        # "new deals" scan, which (team, created_at, id) serves).
        migrations.RunSQL("ANALYZE sales_deal", reverse_sql=migrations.RunSQL.noop),
    ]
