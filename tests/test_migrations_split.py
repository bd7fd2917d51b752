"""The split of ``sales`` into deals, quotes and forecasting keeps every row: a database at the migration
state before the split, filled through the historical models, migrated forward to the latest state,
has the same rows (same ids and values) under the new apps, and the content types (with their
permissions) follow the models to their new app labels."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from rapport.deals.models import Deal, DealContact, LostReason, Pipeline, Stage, StageChange
from rapport.forecasting.models import ExchangeRate, Quota
from rapport.quotes.models import LineItem, Product, ProductPrice, Quote, QuoteCounter, QuoteLine

SPLIT = [
    ("deals", "0001_initial"),
    ("quotes", "0001_initial"),
    ("forecasting", "0001_initial"),
    ("sales", "0008_split"),
]
MOVED = {
    "deals": {
        "pipeline": Pipeline,
        "stage": Stage,
        "lostreason": LostReason,
        "deal": Deal,
        "dealcontact": DealContact,
        "stagechange": StageChange,
    },
    "quotes": {
        "product": Product,
        "productprice": ProductPrice,
        "lineitem": LineItem,
        "quotecounter": QuoteCounter,
        "quote": Quote,
        "quoteline": QuoteLine,
    },
    "forecasting": {"exchangerate": ExchangeRate, "quota": Quota},
}


def pre_split_targets(executor: MigrationExecutor) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    """Per app, the last migration that does not depend on the split (``None`` for the new apps), and
    those nodes: the state a database made before the split is in."""
    graph = executor.loader.graph
    after: set[tuple[str, str]] = set()
    todo = list(SPLIT)
    while todo:  # the split migrations and everything that depends on them
        node = todo.pop()
        if node not in after:
            after.add(node)
            todo += [child.key for child in graph.node_map[node].children]
    before = set(graph.nodes) - after
    targets: list[tuple[str, str | None]] = []
    nodes: list[tuple[str, str]] = []
    for app in sorted({app for app, _ in graph.nodes}):
        mine = [n for n in before if n[0] == app]
        leaves = [n for n in mine if not any(c in before and c[0] == app for c in graph.node_map[n].children)]
        assert len(leaves) <= 1, leaves
        targets.append(leaves[0] if leaves else (app, None))
        nodes += leaves
    return targets, nodes


def fill_pre_split(apps) -> dict[str, int]:
    """At least two rows of every model the split moves, through the historical models (app ``sales``)."""

    def m(name: str):
        return apps.get_model("sales", name)

    Team = apps.get_model("accounts", "Team")
    User = apps.get_model("accounts", "User")
    Company = apps.get_model("contacts", "Company")
    Person = apps.get_model("contacts", "Person")
    team = Team.objects.create(name="Split team")
    ann = User.objects.create(username="split-ann", team=team)
    bob = User.objects.create(username="split-bob", team=team)
    acme = Company.objects.create(name="Split Acme", owner=ann, team=team)
    people = [Person.objects.create(first_name=n, last_name="Split", owner=ann, team=team) for n in ("Ada", "Ben")]

    pipeline = m("Pipeline").objects.create(name="Split pipeline", position=7)
    m("Pipeline").objects.create(name="Split renewals", position=8, archived=True)
    qualify = m("Stage").objects.create(pipeline=pipeline, name="Split qualify", position=0, probability=20)
    won = m("Stage").objects.create(pipeline=pipeline, name="Split won", position=1, probability=100, kind="won")
    m("LostReason").objects.create(name="Split price", position=0)
    m("LostReason").objects.create(name="Split timing", position=1, active=False)
    deals = [
        m("Deal").objects.create(
            title="Split deal one",
            pipeline=pipeline,
            stage=qualify,
            amount=Decimal("1234.50"),
            currency="EUR",
            probability=20,
            company=acme,
            owner=ann,
            team=team,
            tags=["split"],
            custom={"region": "north"},
        ),
        m("Deal").objects.create(
            title="Split deal two",
            pipeline=pipeline,
            stage=won,
            status="won",
            amount=Decimal("99.99"),
            currency="USD",
            probability=100,
            closed_on=dt.date(2026, 10, 1),
            owner=bob,
            team=team,
        ),
    ]
    for deal, person in zip(deals, people, strict=True):
        m("DealContact").objects.create(deal=deal, person=person, role="champion")
    m("StageChange").objects.create(deal=deals[0], to_stage=qualify, actor=ann)
    m("StageChange").objects.create(deal=deals[1], from_stage=qualify, to_stage=won, seconds_in_previous=3600)
    seat = m("Product").objects.create(name="Split seat", sku="SPLIT-1", tax_rate=Decimal("20"), owner=ann, team=team)
    m("Product").objects.create(name="Split support", sku="", owner=bob, team=team)
    m("ProductPrice").objects.create(product=seat, currency="EUR", unit_price=Decimal("100.00"))
    m("ProductPrice").objects.create(product=seat, currency="USD", unit_price=Decimal("110.00"))
    for n in range(2):
        m("LineItem").objects.create(
            deal=deals[0],
            position=n,
            product=seat,
            name=f"Split line {n}",
            quantity=Decimal("3"),
            unit_price=Decimal("100"),
        )
    m("QuoteCounter").objects.create(year=2026, last=12)
    m("QuoteCounter").objects.create(year=2027, last=1)
    quotes = [
        m("Quote").objects.create(number=f"Q-2026-90{n}", deal=deals[0], currency="EUR", total=Decimal("360.00"))
        for n in range(2)
    ]
    for quote in quotes:
        m("QuoteLine").objects.create(
            quote=quote,
            product=seat,
            name="Split seat",
            quantity=Decimal("3"),
            unit_price=Decimal("100"),
            tax_percent=Decimal("20"),
            net=Decimal("300.00"),
            tax=Decimal("60.00"),
        )
    m("ExchangeRate").objects.create(currency="EUR", rate=Decimal("1.08"), valid_from=dt.date(2026, 1, 1))
    m("ExchangeRate").objects.create(currency="EUR", rate=Decimal("1.10"), valid_from=dt.date(2026, 7, 1))
    m("Quota").objects.create(user=ann, period="month", period_start=dt.date(2026, 11, 1), amount=Decimal("5000"))
    m("Quota").objects.create(user=bob, period="quarter", period_start=dt.date(2026, 10, 1), amount=Decimal("15000"))

    # Content types as a database made before the split has them, with a permission on one of them.
    ContentTypeOld = apps.get_model("contenttypes", "ContentType")
    PermissionOld = apps.get_model("auth", "Permission")
    ContentTypeOld.objects.filter(app_label__in=list(MOVED)).delete()
    for models in MOVED.values():
        for model in models:
            ContentTypeOld.objects.get_or_create(app_label="sales", model=model)
    deal_type = ContentTypeOld.objects.get(app_label="sales", model="deal")
    PermissionOld.objects.get_or_create(content_type=deal_type, codename="split_probe", defaults={"name": "Probe"})

    return {model: m(model).objects.count() for models in MOVED.values() for model in models}


@pytest.mark.django_db(transaction=True)
@pytest.mark.history_exempt(reason="rows written through historical models of an older schema")
def test_split_keeps_every_row() -> None:
    executor = MigrationExecutor(connection)
    targets, nodes = pre_split_targets(executor)
    assert ("sales", "0007_covering_indexes_for_board_and_forecast") in nodes
    executor.migrate(targets)
    try:
        executor.loader.build_graph()
        before = fill_pre_split(executor.loader.project_state(nodes, at_end=True).apps)
        deal_type_id = ContentType.objects.get(app_label="sales", model="deal").pk
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    after = {model: cls.objects.count() for models in MOVED.values() for model, cls in models.items()}
    assert after == before
    assert all(count >= 2 for count in after.values()), after

    deal = Deal.objects.select_related("stage", "pipeline", "company").get(title="Split deal one")
    assert (deal.amount, deal.currency, deal.stage.name, deal.pipeline.name) == (
        Decimal("1234.50"),
        "EUR",
        "Split qualify",
        "Split pipeline",
    )
    assert (deal.company.name, deal.tags, deal.custom) == ("Split Acme", ["split"], {"region": "north"})
    assert [(c.person.first_name, c.role) for c in deal.deal_contacts.all()] == [("Ada", "champion")]
    assert [i.net for i in deal.line_items.all()] == [Decimal("300.00"), Decimal("300.00")]
    assert Deal.objects.get(title="Split deal two").stage_changes.get().seconds_in_previous == 3600
    seat = Product.objects.get(sku="SPLIT-1")
    assert seat.price_in("USD") == Decimal("110.00")
    quote = Quote.objects.get(number="Q-2026-900")
    assert (quote.deal_id, quote.total, [line.tax for line in quote.lines.all()]) == (
        deal.pk,
        Decimal("360.00"),
        [Decimal("60.00")],
    )
    assert QuoteCounter.objects.get(year=2026).last == 12
    assert [r.rate for r in ExchangeRate.objects.filter(currency="EUR")] == [
        Decimal("1.10000000"),
        Decimal("1.08000000"),
    ]
    assert Quota.objects.get(user__username="split-bob").amount == Decimal("15000.00")

    # Content types were relabelled in place: same ids, so permissions (and anything else keyed by them) follow.
    assert not ContentType.objects.filter(app_label="sales").exists()
    for app, models in MOVED.items():
        assert set(ContentType.objects.filter(app_label=app).values_list("model", flat=True)) >= set(models)
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(Deal).pk == deal_type_id
    assert Permission.objects.get(codename="split_probe").content_type_id == deal_type_id
