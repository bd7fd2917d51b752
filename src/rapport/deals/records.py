"""Registration of deals: declarations only, the generic paths do the rest."""

from __future__ import annotations

from typing import Any

from rapport.contacts.records import COMMON_COLUMNS, COMMON_FILTERS
from rapport.core.registry import AttachedSearch, ChildRows, Column, Filter, RecordType, RowPart, register

from .models import CONTACT_ROLES, DEAL_STATUSES, FORECAST_CATEGORIES, Deal

# the parts of the ``entered`` filter (deals.queries.entered_q), declared here: the records module stays light
ENTERED_PARTS = (
    ("", "Entered stage", "id"),
    ("after", "Entered stage from", "date"),
    ("before", "Entered stage to", "date"),
    ("advanced", "Moved on after entering", "yes_no"),
)


def _deal_serializer() -> type:
    from .serializers import DealWriteSerializer

    return DealWriteSerializer


def _deal_api_fields() -> dict:
    from rest_framework import serializers

    from rapport.api.schema import LinkSerializer

    contact = type(
        "DealContactSerializer",
        (serializers.Serializer,),
        {"person": LinkSerializer(), "role": serializers.CharField(allow_blank=True)},
    )
    money: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}
    line = type(
        "DealLineItemSerializer",
        (serializers.Serializer,),
        {
            "product": LinkSerializer(allow_null=True),
            "name": serializers.CharField(),
            "quantity": serializers.DecimalField(max_digits=12, decimal_places=3),
            "unit_price": serializers.DecimalField(**money),
            "discount_percent": serializers.DecimalField(max_digits=5, decimal_places=2),
            "tax_percent": serializers.DecimalField(max_digits=5, decimal_places=2),
            "net": serializers.DecimalField(**money),
            "tax": serializers.DecimalField(**money),
        },
    )
    return {
        "contacts": contact(many=True),
        "line_items": line(many=True),
        "weighted_amount": serializers.DecimalField(allow_null=True, **money),
    }


def _deal_form_setup(specs: list[Any], **kwargs: Any) -> None:
    from .views.form import setup_deal_form

    setup_deal_form(specs, **kwargs)


def _pipelines() -> list[tuple[str, str]]:
    from .models import Pipeline

    return [(str(p.pk), p.name) for p in Pipeline.objects.filter(archived=False)]


def _stages() -> list[tuple[str, str]]:
    from .models import Stage

    return [(str(s.pk), f"{s.pipeline.name} · {s.name}") for s in Stage.objects.select_related("pipeline")]


def _lost_reasons() -> list[tuple[str, str]]:
    from .models import LostReason

    return [(str(r.pk), r.name) for r in LostReason.objects.all()]


def _entered(parts: dict[str, list[str]], user: Any) -> Any:
    from .queries import entered_q

    return entered_q(parts, user)


def _next_activity(parts: dict[str, list[str]], user: Any) -> Any:
    from .queries import next_activity_q

    return next_activity_q(parts, user)


def _quote_documents(deal_ids: list[int]) -> list[tuple[int, int, str, str, str]]:
    from rapport.quotes.queries import search_documents

    return search_documents(deal_ids)


def _deal_page(deal: Any, user: Any) -> dict[str, Any]:
    from .queries import deal_page

    return deal_page(deal, user)


deals = register(
    RecordType(
        key="deals",
        model=Deal,
        label="Deal",
        label_plural="Deals",
        icon="handshake",
        title_fields=("title",),
        serializer=_deal_serializer,
        columns=[
            Column("title", "Title", "title", sortable=True),
            Column("company", "Company", "company", kind="record", link_type="companies"),
            Column("pipeline", "Pipeline", "pipeline", kind="fk", default=False),
            Column("stage", "Stage", "stage", kind="fk"),
            Column("status", "Status", "status", kind="choice", choices=tuple(DEAL_STATUSES)),
            Column("amount", "Amount", "amount", kind="money", sortable=True, currency="currency"),
            Column("currency", "Currency", "currency"),
            Column("probability", "Probability %", "probability", kind="percent", default=False),
            Column("expected_close_date", "Expected close", "expected_close_date", kind="date", sortable=True),
            Column(
                "forecast_category",
                "Forecast",
                "forecast_category",
                kind="choice",
                choices=tuple(FORECAST_CATEGORIES),
                default=False,
            ),
            Column("closed_on", "Closed on", "closed_on", kind="date", sortable=True, default=False),
            Column("source", "Source", "source", default=False),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("pipeline", "Pipeline", "pipeline_id", kind="id", options=_pipelines),
            Filter("stage", "Stage", "stage_id", kind="id", options=_stages),
            Filter("status", "Status", "status", kind="choice", choices=tuple(DEAL_STATUSES)),
            Filter(
                "forecast_category", "Forecast", "forecast_category", kind="choice", choices=tuple(FORECAST_CATEGORIES)
            ),
            Filter("company", "Company", "company_id", kind="record", link_type="companies"),
            Filter("close_date", "Expected close", "expected_close_date", kind="date_range"),
            Filter("closed", "Closed on", "closed_on", kind="date_range"),
            Filter("currency", "Currency", "currency", kind="exact"),
            Filter("source", "Source", "source", kind="exact"),
            Filter("lost_reason", "Lost reason", "lost_reason_id", kind="id", options=_lost_reasons),
            # entered=<stage>&entered__after=&entered__before=[&entered__advanced=yes]: the funnel's drill-down
            Filter("entered", "Entered stage", "", kind="query", options=_stages, parts=ENTERED_PARTS, query=_entered),
            # has_next_activity=yes|no: an activity still to do is linked (data quality's drill-down)
            Filter(
                "has_next_activity",
                "Has a next activity",
                "",
                kind="query",
                parts=(("", "Has a next activity", "yes_no"),),
                query=_next_activity,
            ),
            *COMMON_FILTERS,
        ],
        example={
            "title": "Globex — 50 seats",
            "amount": "12000.00",
            "currency": "USD",
            "expected_close_date": "2027-03-31",
            "forecast_category": "best_case",
            "source": "referral",
            "tags": ["expansion"],
        },
        # The deal's own page (deals/detail.html): the timeline beside the details, line items below them.
        detail_template="deals/detail.html",
        detail_context=_deal_page,
        detail_history=False,  # the timeline's Changes tab shows the history
        # Global search finds a deal's quotes by number, for whoever may see the deal.
        attached_search=AttachedSearch("quotes", "Quote", "Quotes", documents=_quote_documents),
        detail_sections=["quotes/line_items.html", "invoices/section.html"],
        # line items are edited on the deal's line-items page; the status follows the stage
        form_exclude=("line_items", "status"),
        form_setup=_deal_form_setup,
        select_related=("stage", "pipeline", "company"),
        prefetch_related=("deal_contacts__person", "line_items__product"),
        api_fields=_deal_api_fields,
        # A won or lost deal converts at the rate of the day it closed, an open one at its expected
        # close (like the forecast); reports.engine groups by the rate period of that day.
        money_day=("closed_on", "expected_close_date"),
        child_rows={
            # [person id, role] → "Ann Lee (Decision maker)"
            "contacts": ChildRows(
                parts=(
                    RowPart("person", "record", link_type="people"),
                    RowPart("role", "choice", choices=tuple(CONTACT_ROLES)),
                ),
                wording="{person} ({role})",
            ),
            # quotes.models.line_snapshot → "2 × Premium support (annual) at €9,000.00, 10% off, tax 20%"
            "line_items": ChildRows(
                parts=(
                    RowPart("product", "record", link_type="products"),
                    RowPart("name"),
                    RowPart("quantity", "number"),
                    RowPart("unit_price", "money"),
                    RowPart("discount", "percent"),
                    RowPart("tax", "percent"),
                ),
                wording="{quantity} × {name} at {unit_price}",
                extras=((", {discount} off", "discount"), (", tax {tax}", "tax")),
            ),
        },
    )
)
