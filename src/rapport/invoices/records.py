"""Registration of invoices and payments: declarations only, the generic paths do the rest (lists, detail
pages, forms, API, export, import, search, history, bin)."""

from __future__ import annotations

from rapport.contacts.records import COMMON_COLUMNS, COMMON_FILTERS
from rapport.core.registry import Column, Filter, RecordType, register

from .models import INVOICE_STATUSES, PAYMENT_METHODS, Invoice, Payment


def _invoice_serializer() -> type:
    from .serializers import InvoiceWriteSerializer

    return InvoiceWriteSerializer


def _payment_serializer() -> type:
    from .serializers import PaymentWriteSerializer

    return PaymentWriteSerializer


invoices = register(
    RecordType(
        key="invoices",
        model=Invoice,
        label="Invoice",
        label_plural="Invoices",
        icon="receipt",
        title_fields=("number",),
        serializer=_invoice_serializer,
        columns=[
            Column("number", "Number", "number", sortable=True),
            Column("company", "Company", "company", kind="record", link_type="companies"),
            Column("deal", "Deal", "deal", kind="record", link_type="deals", default=False),
            Column("status", "Status", "status", kind="choice", choices=tuple(INVOICE_STATUSES)),
            Column("issue_date", "Issued", "issue_date", kind="date", sortable=True),
            Column("due_date", "Due", "due_date", kind="date", sortable=True),
            Column("amount", "Amount", "amount", kind="money", sortable=True, currency="currency"),
            Column("amount_paid", "Paid", "amount_paid", kind="money", currency="currency"),
            Column("currency", "Currency", "currency", default=False),
            Column("external_id", "Id in the invoicing tool", "external_id", default=False),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("status", "Status", "status", kind="choice", choices=tuple(INVOICE_STATUSES)),
            Filter("company", "Company", "company_id", kind="record", link_type="companies"),
            Filter("deal", "Deal", "deal_id", kind="record", link_type="deals"),
            Filter("issued", "Issued", "issue_date", kind="date_range"),
            Filter("due", "Due", "due_date", kind="date_range"),
            Filter("currency", "Currency", "currency", kind="exact"),
            Filter("external_id", "Id in the invoicing tool", "external_id", kind="exact"),
            *COMMON_FILTERS,
        ],
        default_ordering="-created_at",
        related=[("payments", "invoice")],
        timeline_links=("company", "deal"),
        select_related=("company", "deal"),
        import_match={"number": "number", "external_id": "external_id"},
        # A report converts an invoice's amount at the rate of the day it was issued.
        money_day=("issue_date",),
        example={
            "number": "INV-2026-0042",
            "issue_date": "2026-11-02",
            "due_date": "2026-12-02",
            "currency": "USD",
            "amount": "12000.00",
            "status": "sent",
        },
    )
)

payments = register(
    RecordType(
        key="payments",
        in_nav=False,  # on each invoice's page, and the list from there
        model=Payment,
        label="Payment",
        label_plural="Payments",
        icon="banknote",
        title_fields=("reference",),
        serializer=_payment_serializer,
        columns=[
            Column("invoice", "Invoice", "invoice", kind="record", link_type="invoices"),
            Column("amount", "Amount", "amount", kind="money", sortable=True, currency="currency"),
            Column("currency", "Currency", "currency", default=False),
            Column("paid_on", "Paid on", "paid_on", kind="date", sortable=True),
            Column("method", "Method", "method", kind="choice", choices=tuple(PAYMENT_METHODS)),
            Column("reference", "Reference", "reference"),
            Column("external_id", "Id in the invoicing tool", "external_id", default=False),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("invoice", "Invoice", "invoice_id", kind="record", link_type="invoices"),
            Filter("method", "Method", "method", kind="choice", choices=tuple(PAYMENT_METHODS)),
            Filter("paid", "Paid on", "paid_on", kind="date_range"),
            Filter("external_id", "Id in the invoicing tool", "external_id", kind="exact"),
            *COMMON_FILTERS,
        ],
        select_related=("invoice",),
        import_match={"external_id": "external_id"},
        money_day=("paid_on",),
        example={
            "amount": "500.00",
            "paid_on": "2026-11-20",
            "method": "bank_transfer",
            "reference": "TR-881",
        },
    )
)
