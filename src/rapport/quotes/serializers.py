"""Write validation of products and of line items (on deals and quotes), shared by the API, the pages
and imports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from rapport.core.money import precision_error
from rapport.core.serializers import EntrySerializer, RecordLinkField, RecordWriteSerializer
from rapport.forecasting.serializers import clean_currency

from .models import Product

PERCENT: dict[str, Any] = {"max_digits": 5, "decimal_places": 2, "min_value": Decimal("0"), "max_value": Decimal("100")}


class PriceSerializer(EntrySerializer):
    currency = serializers.CharField(max_length=3)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0"))

    def validate_currency(self, value: str) -> str:
        return clean_currency(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        problem = precision_error(attrs["unit_price"], attrs["currency"])
        if problem:
            raise serializers.ValidationError({"unit_price": problem})
        return attrs


class ProductWriteSerializer(RecordWriteSerializer):
    prices = PriceSerializer(many=True, required=False)
    tax_rate = serializers.DecimalField(required=False, **PERCENT)

    class Meta:
        model = Product
        fields = ("name", "sku", "description", "tax_rate", "active", "prices", *RecordWriteSerializer.base_fields)

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the product a name.")
        return value.strip()

    def validate_sku(self, value: str) -> str:
        value = value.strip()
        if value:
            clash = Product.objects.live().filter(sku=value)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError(f"Another product already has the SKU {value}.")
        return value

    def validate_prices(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen = [p["currency"] for p in value]
        if len(seen) != len(set(seen)):
            raise serializers.ValidationError("Give one price per currency.")
        return value


class LineItemSerializer(EntrySerializer):
    ignored_keys = frozenset({"net", "tax"})  # computed, shown by the API: a line read back is accepted
    product = RecordLinkField(Product, required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0.001"))
    unit_price = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), required=False, allow_null=True
    )
    discount_percent = serializers.DecimalField(required=False, default=Decimal("0"), **PERCENT)
    tax_percent = serializers.DecimalField(required=False, allow_null=True, **PERCENT)


def price_line(item: dict[str, Any], currency: str) -> dict[str, str]:
    """Fill a line's name, unit price (in ``currency``) and tax rate from its product where the
    line leaves them out — the one rule for deal line items and quote lines. Returns the problems
    by field (empty when the line is complete)."""
    problems: dict[str, str] = {}
    product = item.get("product")
    if not item.get("name"):
        if product is None:
            problems["name"] = "Give a name or choose a product."
        else:
            item["name"] = product.name
    if item.get("unit_price") is None:
        price = product.price_in(currency) if product is not None else None
        if price is None:
            problems["unit_price"] = (
                f"{product.name} has no price in {currency}; give a unit price."
                if product is not None
                else "Give a unit price."
            )
        item["unit_price"] = price
    elif precision_error(Decimal(item["unit_price"]), currency):
        problems["unit_price"] = str(precision_error(Decimal(item["unit_price"]), currency))
    if item.get("tax_percent") is None:
        item["tax_percent"] = product.tax_rate if product is not None else Decimal("0")
    return problems
