"""The sales app's models moved to deals, quotes and forecasting (their 0001 migrations take them over
in Django's state, on the same tables). Here the sales app lets go of them, in state only, and the
content types (and with them the permissions) follow the models to their new app labels."""

from django.db import migrations

MOVED = {
    "deals": ["pipeline", "stage", "lostreason", "deal", "dealcontact", "stagechange"],
    "quotes": ["product", "productprice", "lineitem", "quotecounter", "quote", "quoteline"],
    "forecasting": ["exchangerate", "quota"],
}


def _relabel(apps, old_of, new_of):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for app, models in MOVED.items():
        for model in models:
            if ContentType.objects.filter(app_label=new_of(app), model=model).exists():
                continue  # already there (made by a partial migrate); the old row is left to remove_stale_contenttypes
            ContentType.objects.filter(app_label=old_of(app), model=model).update(app_label=new_of(app))


def content_types_follow(apps, schema_editor):
    _relabel(apps, lambda app: "sales", lambda app: app)


def content_types_return(apps, schema_editor):
    _relabel(apps, lambda app: app, lambda app: "sales")


class Migration(migrations.Migration):
    dependencies = [
        ("sales", "0007_covering_indexes_for_board_and_forecast"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("deals", "0001_initial"),
        ("quotes", "0001_initial"),
        ("forecasting", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="deal",
                    name="company",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="lost_reason",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="owner",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="pipeline",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="stage",
                ),
                migrations.RemoveField(
                    model_name="deal",
                    name="team",
                ),
                migrations.RemoveField(
                    model_name="quote",
                    name="deal",
                ),
                migrations.RemoveField(
                    model_name="stagechange",
                    name="deal",
                ),
                migrations.RemoveField(
                    model_name="lineitem",
                    name="deal",
                ),
                migrations.RemoveField(
                    model_name="dealcontact",
                    name="deal",
                ),
                migrations.RemoveField(
                    model_name="dealcontact",
                    name="person",
                ),
                migrations.DeleteModel(
                    name="ExchangeRate",
                ),
                migrations.RemoveField(
                    model_name="lineitem",
                    name="product",
                ),
                migrations.RemoveField(
                    model_name="stage",
                    name="pipeline",
                ),
                migrations.RemoveField(
                    model_name="product",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="product",
                    name="owner",
                ),
                migrations.RemoveField(
                    model_name="product",
                    name="team",
                ),
                migrations.RemoveField(
                    model_name="quoteline",
                    name="product",
                ),
                migrations.RemoveField(
                    model_name="productprice",
                    name="product",
                ),
                migrations.RemoveField(
                    model_name="quota",
                    name="user",
                ),
                migrations.RemoveField(
                    model_name="quote",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="quoteline",
                    name="quote",
                ),
                migrations.DeleteModel(
                    name="QuoteCounter",
                ),
                migrations.RemoveField(
                    model_name="stagechange",
                    name="from_stage",
                ),
                migrations.RemoveField(
                    model_name="stagechange",
                    name="to_stage",
                ),
                migrations.RemoveField(
                    model_name="stagechange",
                    name="actor",
                ),
                migrations.DeleteModel(
                    name="LostReason",
                ),
                migrations.DeleteModel(
                    name="Deal",
                ),
                migrations.DeleteModel(
                    name="DealContact",
                ),
                migrations.DeleteModel(
                    name="LineItem",
                ),
                migrations.DeleteModel(
                    name="Pipeline",
                ),
                migrations.DeleteModel(
                    name="Product",
                ),
                migrations.DeleteModel(
                    name="ProductPrice",
                ),
                migrations.DeleteModel(
                    name="Quota",
                ),
                migrations.DeleteModel(
                    name="Quote",
                ),
                migrations.DeleteModel(
                    name="QuoteLine",
                ),
                migrations.DeleteModel(
                    name="Stage",
                ),
                migrations.DeleteModel(
                    name="StageChange",
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
