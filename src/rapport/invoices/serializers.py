"""Write validation of invoices and payments, shared by the API, the pages, imports and the integrations.

An invoice's owner is its company's owner unless the write names one, and a payment's its invoice's, so who sees
the company sees its invoices and payments (DESIGN §3; ``services.follow_company_owner`` keeps them together when
the company changes hands). The amount paid is the payments' sum, never written."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from rapport.contacts.models import Company
from rapport.core.money import precision_error
from rapport.core.serializers import RecordLinkField, RecordWriteSerializer, actor_of
from rapport.core.visibility import SYSTEM, can_assign_owner
from rapport.deals.models import Deal
from rapport.forecasting.serializers import clean_currency

from .models import DRAFT, INVOICE_STATUSES, PAID, PARTLY_PAID, SENT, Invoice, Payment

# Statuses a write may ask for; paid and partly paid follow the payments.
SETTABLE = [(k, v) for k, v in INVOICE_STATUSES if k not in (PAID, PARTLY_PAID)]


def _may_give(serializer: Any, owner: Any) -> bool:
    """May the writer make ``owner`` the owner of a new invoice or payment (else it stays the writer's, as for
    any record)? Writes without a person behind them (``SYSTEM``) name their owners themselves."""
    actor = actor_of(serializer)
    if owner is None or actor is SYSTEM or not getattr(actor, "is_authenticated", False):
        return False
    return can_assign_owner(actor, serializer.Meta.model.record_type_key, "add", owner)


class InvoiceWriteSerializer(RecordWriteSerializer):
    company = RecordLinkField(Company, required=False, allow_null=True)
    deal = RecordLinkField(Deal, required=False, allow_null=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False)
    currency = serializers.CharField(max_length=3, required=False)
    status = serializers.ChoiceField(
        choices=INVOICE_STATUSES,
        required=False,
        help_text=(
            "draft, sent, overdue or void; paid and partly paid follow the payments: given, they keep the "
            "invoice's status (sent for a new one), so a representation read back writes no change."
        ),
    )

    class Meta:
        model = Invoice
        fields = (
            "number",
            "company",
            "deal",
            "issue_date",
            "due_date",
            "currency",
            "amount",
            "status",
            "external_id",
            *RecordWriteSerializer.base_fields,
        )

    def validate_number(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the invoice its number.")
        return value.strip()

    def validate_currency(self, value: str) -> str:
        return clean_currency(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance: Invoice | None = self.instance
        company = attrs.get("company", instance.company if instance else None)
        deal = attrs.get("deal", instance.deal if instance else None)
        if deal is not None and company is not None and deal.company_id not in (None, company.pk):
            raise serializers.ValidationError({"deal": "This deal belongs to another company."})
        if attrs.get("status") in (PAID, PARTLY_PAID):  # these follow the payments, never set by hand
            attrs["status"] = instance.status if instance is not None else SENT
        if instance is None:
            attrs.setdefault("currency", str(settings.BASE_CURRENCY).upper())
            attrs.setdefault("status", DRAFT)
        currency = attrs.get("currency", instance.currency if instance else "")
        if instance is not None and currency != instance.currency and instance.payments.live().exists():
            raise serializers.ValidationError({"currency": "This invoice has payments in its currency."})
        amount = attrs.get("amount", instance.amount if instance else None)
        if amount is not None and precision_error(amount, currency):
            raise serializers.ValidationError({"amount": precision_error(amount, currency)})
        issue = attrs.get("issue_date", instance.issue_date if instance else None)
        due = attrs.get("due_date", instance.due_date if instance else None)
        if issue and due and due < issue:
            raise serializers.ValidationError({"due_date": "The due date is before the issue date."})
        # Who sees an invoice is who sees its company: its owner is the company's unless one is given (a
        # company without an owner leaves it to the writer, like any record).
        if "owner" not in attrs and company is not None and _may_give(self, company.owner):
            if instance is None or (
                instance.company_id != company.pk
                and instance.company
                and instance.owner_id == instance.company.owner_id
            ):
                attrs["owner"] = company.owner
        return attrs


class PaymentWriteSerializer(RecordWriteSerializer):
    invoice = RecordLinkField(Invoice, required=False, allow_null=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))

    class Meta:
        model = Payment
        fields = (
            "invoice",
            "amount",
            "paid_on",
            "method",
            "reference",
            "external_id",
            *RecordWriteSerializer.base_fields,
        )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        instance: Payment | None = self.instance
        invoice = attrs.get("invoice", instance.invoice if instance else None)
        amount = attrs.get("amount", instance.amount if instance else None)
        if invoice is not None and amount is not None and precision_error(amount, invoice.currency):
            raise serializers.ValidationError({"amount": precision_error(amount, invoice.currency)})
        if invoice is not None and invoice.status == "void":
            raise serializers.ValidationError({"invoice": f"Invoice {invoice.number} is void."})
        if "owner" not in attrs and invoice is not None and instance is None and _may_give(self, invoice.owner):
            attrs["owner"] = invoice.owner  # who sees the invoice sees its payments
        if invoice is not None:
            attrs["currency"] = invoice.currency
        return attrs
