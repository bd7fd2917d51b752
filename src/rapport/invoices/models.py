"""Invoices and payments: registered record types fed by the invoicing tool (incoming webhooks, the API) or
typed in. An invoice's owner, and so who sees it, is its company's owner (DESIGN §3: visibility follows the
company); a payment's is its invoice's. Payments keep the invoice's amount paid and status current."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from rapport.core.models import Record

LIVE = Q(deleted_at__isnull=True)

DRAFT, SENT, PARTLY_PAID, PAID, OVERDUE, VOID = "draft", "sent", "partly_paid", "paid", "overdue", "void"
INVOICE_STATUSES = [
    (DRAFT, "Draft"),
    (SENT, "Sent"),
    (PARTLY_PAID, "Partly paid"),
    (PAID, "Paid"),
    (OVERDUE, "Overdue"),
    (VOID, "Void"),
]
# Statuses that follow the money (and the due date); draft and void are set by hand (or by the tool).
OPEN_STATUSES = (SENT, PARTLY_PAID, OVERDUE)
PAYMENT_METHODS = [
    ("bank_transfer", "Bank transfer"),
    ("card", "Card"),
    ("cash", "Cash"),
    ("cheque", "Cheque"),
    ("direct_debit", "Direct debit"),
    ("other", "Other"),
]


def _index(name: str, *fields: str) -> models.Index:
    return models.Index(fields=list(fields), name=name, condition=LIVE)


def today() -> dt.date:
    return timezone.localdate()


def status_for(status: str, amount: Decimal | None, paid: Decimal, due: dt.date | None, on: dt.date) -> str:
    """The status an invoice in ``status`` has with these amounts on day ``on``: draft and void stay; an open
    one is paid when paid in full, overdue once marked so while its due date is past, else partly paid or
    sent by what was paid."""
    if status in (DRAFT, VOID):
        return status
    total = amount or Decimal("0")
    if total > 0 and paid >= total:
        return PAID
    if status == OVERDUE and due is not None and due < on:
        return OVERDUE
    if status == PAID and paid < total:  # a payment was taken back
        status = SENT
    return PARTLY_PAID if paid > 0 else SENT


class Invoice(Record):
    number = models.CharField(max_length=60)
    # Empty only while the invoicing tool's customer is not matched to a company yet.
    company = models.ForeignKey(
        "contacts.Company", null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    deal = models.ForeignKey("deals.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices")
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    amount_paid = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    status = models.CharField(max_length=12, choices=INVOICE_STATUSES, default=DRAFT)
    # The invoice's id in the invoicing tool (Invoice Ninja's hashed id...), for matching its webhooks.
    external_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [
            _index("invoice_created_idx", "created_at", "id"),
            _index("invoice_updated_idx", "updated_at", "id"),
            _index("invoice_number_idx", "number", "id"),
            _index("invoice_issue_idx", "issue_date", "id"),
            _index("invoice_due_idx", "due_date", "id"),
            _index("invoice_amount_idx", "amount", "id"),
            _index("invoice_status_due_idx", "status", "due_date", "id"),
            _index("invoice_owner_idx", "owner", "created_at", "id"),
            _index("invoice_team_idx", "team", "created_at", "id"),
            _index("invoice_company_idx", "company", "updated_at", "id"),
            _index("invoice_deal_idx", "deal", "updated_at", "id"),
            models.Index(fields=["external_id"], name="invoice_external_idx", condition=~Q(external_id="")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def outstanding(self) -> Decimal:
        return max(Decimal("0"), (self.amount or Decimal("0")) - (self.amount_paid or Decimal("0")))

    def prepare_write(self, before: dict[str, Any] | None, pending: dict[str, Any]) -> None:
        # (The owner, and so who sees it, is the company's: the write serializer and the company consumer.)
        self.status = status_for(self.status, self.amount, self.amount_paid or Decimal("0"), self.due_date, today())

    def search_document(self) -> tuple[str, str, str]:
        from rapport.core.visibility import search_label

        company = search_label(self, self.company) if self.company_id else ""
        return (self.number, " ".join(x for x in (company, self.get_status_display()) if x), self.external_id)


class Payment(Record):
    # Empty for a payment not applied to an invoice yet (a prepayment, a credit).
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")  # the invoice's
    paid_on = models.DateField()
    method = models.CharField(max_length=20, choices=PAYMENT_METHODS, blank=True, default="")
    reference = models.CharField(max_length=100, blank=True, default="")
    external_id = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [
            _index("payment_created_idx", "created_at", "id"),
            _index("payment_updated_idx", "updated_at", "id"),
            _index("payment_paid_on_idx", "paid_on", "id"),
            _index("payment_amount_idx", "amount", "id"),
            _index("payment_owner_idx", "owner", "created_at", "id"),
            _index("payment_team_idx", "team", "created_at", "id"),
            _index("payment_invoice_idx", "invoice", "updated_at", "id"),
            models.Index(fields=["external_id"], name="payment_external_idx", condition=~Q(external_id="")),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")]

    def __str__(self) -> str:
        # Not the invoice's number: a payment's name shows where its invoice's may not (another team's).
        return self.reference or f"Payment #{self.pk}"

    def after_write(self, changes: dict[str, Any], *, actor: Any, source: str, created: bool) -> None:
        from .services import refresh_paid

        if not (created or "amount" in changes or "invoice" in changes):
            return
        if self.invoice is not None:
            refresh_paid(self.invoice, actor=actor, source=source)
        old = (changes.get("invoice") or [None])[0]
        if old and old != self.invoice_id:  # moved to another invoice: the first one is paid less
            refresh_paid(Invoice.objects.get(pk=old), actor=actor, source=source)

    def on_soft_delete(self) -> None:
        from .services import refresh_paid

        if self.invoice is not None:
            refresh_paid(self.invoice, actor=None, source="system")

    def on_restore(self) -> None:
        from .services import refresh_paid

        if self.invoice is not None:
            refresh_paid(self.invoice, actor=None, source="system")

    def search_document(self) -> tuple[str, str, str]:
        return (str(self), self.get_method_display(), " ".join(x for x in (self.reference, self.external_id) if x))
