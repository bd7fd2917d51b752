"""A starting pipeline and lost reasons, so a fresh install can take deals at once; administrators
rename, reorder or archive them from Settings → Pipelines."""

from django.db import migrations

STAGES = [
    ("Qualification", 10, 14, "open"),
    ("Needs analysis", 25, 14, "open"),
    ("Proposal", 50, 21, "open"),
    ("Negotiation", 75, 21, "open"),
    ("Won", 100, None, "won"),
    ("Lost", 0, None, "lost"),
]
LOST_REASONS = ["Price", "Chose a competitor", "No budget", "No decision", "Timing", "Missing feature", "Other"]


def create(apps, schema_editor, app_label="sales"):
    """Also called by the tests with the live registry and ``app_label="deals"`` (the models' app since
    the split, sales/0007)."""
    Pipeline = apps.get_model(app_label, "Pipeline")
    Stage = apps.get_model(app_label, "Stage")
    LostReason = apps.get_model(app_label, "LostReason")
    if not Pipeline.objects.exists():
        pipeline = Pipeline.objects.create(name="Sales pipeline", position=0)
        for n, (name, probability, rotting, kind) in enumerate(STAGES):
            Stage.objects.create(
                pipeline=pipeline, name=name, position=n, probability=probability, rotting_days=rotting, kind=kind
            )
    for n, name in enumerate(LOST_REASONS):
        LostReason.objects.get_or_create(name=name, defaults={"position": n})


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
