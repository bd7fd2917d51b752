"""Registration of products: declarations only, the generic paths do the rest."""

from __future__ import annotations

from typing import Any

from rapport.contacts.records import COMMON_COLUMNS, COMMON_FILTERS
from rapport.core.registry import ChildRows, Column, Filter, RecordType, register

from .models import Product


def _product_serializer() -> type:
    from .serializers import ProductWriteSerializer

    return ProductWriteSerializer


def _product_picker_data(user: Any, ids: list[int], params: Any) -> dict[int, dict[str, str]]:
    from .queries import product_picker_data

    return product_picker_data(user, ids, params)


def _product_api_fields() -> dict:
    from rest_framework import serializers

    price = type(
        "ProductPriceSerializer",
        (serializers.Serializer,),
        {"currency": serializers.CharField(), "unit_price": serializers.DecimalField(max_digits=14, decimal_places=2)},
    )
    return {"prices": price(many=True)}


products = register(
    RecordType(
        key="products",
        model=Product,
        label="Product",
        label_plural="Products",
        icon="package",
        title_fields=("name",),
        serializer=_product_serializer,
        columns=[
            Column("name", "Name", "name", sortable=True),
            Column("sku", "SKU", "sku", sortable=True),
            Column("tax_rate", "Tax %", "tax_rate", kind="percent"),
            Column("active", "Active", "active", kind="choice", choices=(("True", "Yes"), ("False", "No"))),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("active", "Active", "active", kind="choice", choices=(("true", "Yes"), ("false", "No"))),
            *COMMON_FILTERS,
        ],
        example={
            "name": "Rapport Cloud seat",
            "sku": "RC-SEAT",
            "tax_rate": "20.00",
            "prices": [{"currency": "USD", "unit_price": "240.00"}, {"currency": "EUR", "unit_price": "220.00"}],
        },
        prefetch_related=("prices",),
        import_match={"sku": "sku"},  # an import finds the product by its SKU (re-importing a catalogue)
        api_fields=_product_api_fields,
        picker_data=_product_picker_data,
        child_rows={"prices": ChildRows(prices=True)},  # {currency: amount} → "€220.00, $240.00"
    )
)
