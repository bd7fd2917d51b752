"""Products (registered) with their prices, a deal's line items, quotes with their lines and the
per-year quote counter. The tables keep their ``sales_*`` names from before the split."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rapport.core.models import Record
from rapport.core.money import round_amount
from rapport.forecasting.money import money

LIVE = Q(deleted_at__isnull=True)

QUOTE_STATUSES = [
    ("draft", "Draft"),
    ("sent", "Sent"),
    ("accepted", "Accepted"),
    ("declined", "Declined"),
    ("expired", "Expired"),
]


@dataclass(frozen=True)
class Price:
    """What a priced line (or a set of them) comes to: net of discount, tax on the net, and both."""

    net: Decimal
    tax: Decimal

    @property
    def total(self) -> Decimal:
        return self.net + self.tax


def _round(value: Decimal, currency: str | None) -> Decimal:
    return money(value) if currency is None else round_amount(value, currency)


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def price(item: Any, currency: str | None = None) -> Price:
    """The one pricing rule of a line, for a deal's line items and a quote's lines alike, saved (a
    model) or not (a mapping): net = quantity × unit price − discount %, tax = net × tax %, each
    rounded to the minor unit of ``currency`` (cents when not given)."""
    gross = Decimal(_get(item, "quantity")) * Decimal(_get(item, "unit_price"))
    discount = Decimal(_get(item, "discount_percent") or 0)
    net = _round(gross * (Decimal(100) - discount) / Decimal(100), currency)
    return Price(net=net, tax=_round(net * Decimal(_get(item, "tax_percent") or 0) / Decimal(100), currency))


def price_all(items: Iterable[Any], currency: str | None = None) -> Price:
    """The sum of the lines' prices (each line rounded first, as a quote shows them)."""
    prices = [price(item, currency) for item in items]
    return Price(net=sum((p.net for p in prices), Decimal("0")), tax=sum((p.tax for p in prices), Decimal("0")))


def line_snapshot(item: Any) -> list[Any]:
    get: Any = item.get if isinstance(item, dict) else lambda k, d=None: getattr(item, k, d)
    product = get("product")
    return [
        getattr(product, "pk", product) if product is not None else None,
        get("name"),
        str(Decimal(get("quantity")).normalize()),
        str(money(Decimal(get("unit_price")))),
        str(Decimal(get("discount_percent") or 0).normalize()),
        str(Decimal(get("tax_percent") or 0).normalize()),
    ]


class Product(Record):
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=64, blank=True, default="")
    description = models.TextField(blank=True, default="")
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    active = models.BooleanField(default=True)

    related_write_keys = frozenset({"prices"})

    class Meta:
        db_table = "sales_product"  # kept from before the split (see migrations)
        constraints = [
            models.UniqueConstraint("sku", name="product_live_sku_unique", condition=LIVE & ~Q(sku="")),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="product_created_idx", condition=LIVE),
            models.Index(fields=["updated_at", "id"], name="product_updated_idx", condition=LIVE),
            models.Index(fields=["name", "id"], name="product_name_idx", condition=LIVE),
            models.Index(fields=["team", "created_at", "id"], name="product_team_idx", condition=LIVE),
        ]

    def __str__(self) -> str:
        return self.name

    def related_snapshot(self) -> dict[str, Any]:
        if self.pk is None:
            return {"prices": {}}
        return {"prices": {p.currency: str(p.unit_price) for p in self.prices.all()}}

    def pending_snapshot(self, pending: dict[str, Any]) -> dict[str, Any]:
        if "prices" not in pending:
            return {}
        return {"prices": {p["currency"]: str(money(p["unit_price"])) for p in pending["prices"]}}

    def write_related(self, data: dict[str, Any], *, created: bool = False) -> None:
        if "prices" in data:
            if not created:
                self.prices.all().delete()
            rows = [
                ProductPrice(product=self, currency=p["currency"], unit_price=money(p["unit_price"]))
                for p in data["prices"]
            ]
            self.cache_related("prices", ProductPrice.objects.bulk_create(rows) if rows else [])

    def api_extra(self, viewer: Any) -> dict[str, Any]:
        return {"prices": [{"currency": p.currency, "unit_price": str(p.unit_price)} for p in self.prices.all()]}

    def price_in(self, currency: str) -> Decimal | None:
        for p in self.prices.all():
            if p.currency == currency:
                return p.unit_price
        return None

    def search_document(self) -> tuple[str, str, str]:
        return (self.name, self.description[:500], self.sku)

    def integrity_error_message(self, exc: Exception) -> dict[str, str]:
        return {"sku": f"Another product already has the SKU {self.sku}."}

    def on_restore(self) -> None:
        if self.sku and Product.objects.live().filter(sku=self.sku).exclude(pk=self.pk).exists():
            raise ValidationError({"sku": f"Another live product has the SKU {self.sku}; change one first."})


class ProductPrice(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        db_table = "sales_productprice"  # kept from before the split (see migrations)
        ordering = ["currency"]
        constraints = [models.UniqueConstraint(fields=["product", "currency"], name="product_price_unique")]


class PricedLine(models.Model):
    """A product (or free text) line with its quantity, unit price, discount and tax rate: a deal's line
    items and a quote's lines. :func:`price` is its one pricing rule."""

    position = models.PositiveSmallIntegerField(default=0)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    tax_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))

    class Meta:
        abstract = True
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity.normalize()} @ {self.unit_price}"

    def price(self, currency: str | None = None) -> Price:
        return price(self, currency)


class LineItem(PricedLine):
    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="line_items")

    class Meta(PricedLine.Meta):
        db_table = "sales_lineitem"  # kept from before the split (see migrations)

    @property
    def net(self) -> Decimal:
        """Rounded to the minor unit of the deal's currency (whole yen for JPY)."""
        return self.price(self.deal.currency).net

    @property
    def tax(self) -> Decimal:
        return self.price(self.deal.currency).tax


class QuoteCounter(models.Model):
    """The last quote number used per year; locked while a quote is numbered."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "sales_quotecounter"  # kept from before the split (see migrations)


class Quote(models.Model):
    number = models.CharField(max_length=20, unique=True)
    deal = models.ForeignKey("deals.Deal", on_delete=models.CASCADE, related_name="quotes")
    status = models.CharField(max_length=10, choices=QUOTE_STATUSES, default="draft")
    currency = models.CharField(max_length=3)
    valid_until = models.DateField(null=True, blank=True)
    customer_name = models.CharField(max_length=200, blank=True, default="")
    customer_address = models.TextField(blank=True, default="")
    terms = models.TextField(blank=True, default="")
    subtotal = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    tax_total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    total = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "sales_quote"  # kept from before the split (see migrations)
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.number


class QuoteLine(PricedLine):
    """A quote's line keeps the net and tax it was priced at (in the quote's currency) when written."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    net = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    tax = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))

    class Meta(PricedLine.Meta):
        db_table = "sales_quoteline"  # kept from before the split (see migrations)
