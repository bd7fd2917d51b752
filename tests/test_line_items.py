"""The line-item page of a deal: products priced in the deal currency, free-text lines, discounts and
tax, removal and reordering; saving goes through the deal's write path, so the amount follows and
the history shows it; stale pages and bad input are answered clearly and write nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from rapport.core.models import Event
from rapport.deals.models import Deal

from .conftest import write
from .test_quotes import make_deal


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_lines(client: Client, deal: Deal, rows: list[dict[str, str]], version: int | None = None, **headers: Any):
    data: dict[str, Any] = {
        k: [r.get(k, "") for r in rows]
        for k in ("product", "name", "quantity", "unit_price", "discount_percent", "tax_percent")
    }
    data["version"] = str(version if version is not None else deal.version)
    return client.post(f"/deals/{deal.pk}/line-items/", data, **headers)


@pytest.fixture
def product(users):
    return write(
        "products",
        {
            "name": "Cloud seat",
            "sku": "SEAT",
            "tax_rate": "20",
            "prices": [{"currency": "EUR", "unit_price": "220"}, {"currency": "USD", "unit_price": "240"}],
        },
        actor=users["member"],
    )


def test_page_lists_lines_and_products_priced_in_the_deal_currency(users, product, django_assert_max_num_queries):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    with django_assert_max_num_queries(12):
        response = client.get(f"/deals/{deal.pk}/line-items/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Seats" in page and "Onboarding" in page
    # each line's product is a picker asking for prices in the deal's currency (EUR)
    assert 'data-type="products" data-query="currency=EUR"' in page
    found = client.get("/autocomplete/?type=products&q=cloud&currency=EUR").json()["results"]
    assert [(r["id"], r["label"], r["data"]) for r in found] == [
        (product.pk, "Cloud seat", {"name": "Cloud seat", "price": "220.00", "tax": "20.00", "note": "€220.00"})
    ]
    assert "€999.99" in page  # subtotal
    assert "€1,187.49" in page  # total with tax


def test_saving_lines_updates_the_amount_and_the_history(users, product):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    rows = [
        {"product": str(product.pk), "quantity": "2", "discount_percent": "10"},  # price and tax from the product
        {"name": "Custom <b>work</b>", "quantity": "1.5", "unit_price": "100", "tax_percent": "0"},
        {},  # a blank row is ignored
    ]
    response = post_lines(client, deal, rows)
    assert response.status_code == 302
    deal.refresh_from_db()
    lines = list(deal.line_items.all())
    assert [(ln.name, ln.unit_price, ln.tax_percent, ln.net) for ln in lines] == [
        ("Cloud seat", Decimal("220.00"), Decimal("20.00"), Decimal("396.00")),
        ("Custom <b>work</b>", Decimal("100.00"), Decimal("0.00"), Decimal("150.00")),
    ]
    assert deal.amount == Decimal("546.00") and deal.version == 2
    event = Event.objects.filter(type_key="deals", record_id=deal.pk).latest("id")
    assert event.kind == "updated" and event.source == "ui"
    assert set(event.changes) >= {"amount", "line_items"}
    page = client.get(f"/deals/{deal.pk}/line-items/").content.decode()
    assert "Custom &lt;b&gt;work&lt;/b&gt;" in page and "<b>work</b>" not in page


def test_reordering_and_removing_is_the_posted_order(users):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    rows = [{"name": "Onboarding", "quantity": "3", "unit_price": "33.33", "tax_percent": "7.5"}]
    rows.append({"name": "Seats", "quantity": "10", "unit_price": "100", "discount_percent": "10"})
    post_lines(client, deal, rows)
    deal.refresh_from_db()
    assert [ln.name for ln in deal.line_items.all()] == ["Onboarding", "Seats"]
    assert deal.amount == Decimal("999.99")


def test_htmx_save_answers_with_the_editor_and_the_new_version(users):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    response = post_lines(client, deal, [{"name": "One", "quantity": "1", "unit_price": "5"}], HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Line items saved." in page and 'name="version" value="2"' in page
    assert "<html" not in page


def test_bad_lines_name_the_field_and_write_nothing(users, product):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    rows = [{"name": "Fine", "quantity": "1", "unit_price": "1"}, {"name": "Bad", "quantity": "0", "unit_price": "x"}]
    response = post_lines(client, deal, rows, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0.001." in page
    assert "A valid number is required." in page
    assert 'value="Bad"' in page  # what the user typed is kept
    write("products", {"prices": []}, actor=users["admin"], instance=product)
    response = post_lines(client, deal, [{"product": str(product.pk), "quantity": "1"}])
    assert "Cloud seat has no price in EUR; give a unit price." in response.content.decode()
    deal.refresh_from_db()
    assert deal.version == 1 and deal.amount == Decimal("999.99")


def test_a_stale_page_is_refused_with_the_saved_lines(users):
    deal = make_deal(users["member"])
    client = client_for(users["member"])
    write("deals", {"title": "Renamed"}, actor=users["peer"], instance=deal)
    response = post_lines(client, deal, [{"name": "Mine", "quantity": "1", "unit_price": "1"}], version=1)
    page = response.content.decode()
    assert response.status_code == 409
    assert "Someone changed this deal since you opened it" in page
    assert "Seats" in page
    deal.refresh_from_db()
    assert deal.line_items.count() == 2


def test_who_may_see_and_change_line_items(users):
    deal = make_deal(users["member"])
    assert client_for(users["outsider"]).get(f"/deals/{deal.pk}/line-items/").status_code == 404
    assert (
        post_lines(client_for(users["outsider"]), deal, [{"name": "X", "quantity": "1", "unit_price": "1"}]).status_code
        == 404
    )
    read_only = client_for(users["read-only"])
    page = read_only.get(f"/deals/{deal.pk}/line-items/").content.decode()
    assert "Seats" in page and "Save lines" not in page
    response = post_lines(read_only, deal, [{"name": "X", "quantity": "1", "unit_price": "1"}])
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.line_items.count() == 2


@pytest.mark.parametrize(
    ("currency", "lines", "net", "tax"),
    [
        # 10 × 100 − 10 % = 900.00, tax 20 % = 180.00; 3 × 33.33 = 99.99, tax 7.5 % = 7.49925 → 7.50
        (
            "EUR",
            [
                {"name": "Seats", "quantity": "10", "unit_price": "100", "discount_percent": "10", "tax_percent": "20"},
                {"name": "Onboarding", "quantity": "3", "unit_price": "33.33", "tax_percent": "7.5"},
            ],
            Decimal("999.99"),
            Decimal("187.50"),
        ),
        # yen have no minor unit: 3 × 1001 − 12.5 % = 2627.625 → 2628, tax 10 % = 262.8 → 263
        (
            "JPY",
            [{"name": "Box", "quantity": "3", "unit_price": "1001", "discount_percent": "12.5", "tax_percent": "10"}],
            Decimal("2628"),
            Decimal("263"),
        ),
    ],
)
def test_deal_lines_and_quote_lines_are_priced_by_one_rule(users, currency, lines, net, tax):
    """Deal line items and quote lines are both PricedLines priced by quotes.models.price: the deal's
    amount, the quote's subtotal/tax/total and every stored quote line agree with it and with the sums
    worked out by hand."""
    from rapport.quotes import services as quotes
    from rapport.quotes.models import LineItem, PricedLine, QuoteLine, price

    assert issubclass(LineItem, PricedLine) and issubclass(QuoteLine, PricedLine)
    deal = make_deal(users["member"], lines=lines, currency=currency)
    quote = quotes.create_quote_from_deal(deal, actor=users["member"], source="system")
    assert deal.amount == net
    assert (quote.subtotal, quote.tax_total, quote.total) == (net, tax, net + tax)
    for item, line in zip(deal.line_items.all(), quote.lines.all(), strict=True):
        assert (line.net, line.tax) == (price(item, currency).net, price(item, currency).tax)
        assert line.price(currency) == price(line, currency)


def test_yen_lines_have_no_minor_unit_in_the_editor_the_model_and_the_api(users, api_client_for):
    """Worked by hand: 3 × 1001 − 12.5 % = 2627.625 → 2,628 yen net, tax 10 % = 262.8 → 263;
    1 × 99 at 8 % tax = 7.92 → 8. Subtotal 2,727, tax 271, total 2,998."""
    from rapport.quotes.models import LineItem

    lines = [
        {"name": "Box", "quantity": "3", "unit_price": "1001", "discount_percent": "12.5", "tax_percent": "10"},
        {"name": "Tape", "quantity": "1", "unit_price": "99", "tax_percent": "8"},
    ]
    deal = make_deal(users["member"], lines=lines, currency="JPY")
    items = list(LineItem.objects.filter(deal=deal).select_related("deal"))
    assert [(i.net, i.tax) for i in items] == [(Decimal("2628"), Decimal("263")), (Decimal("99"), Decimal("8"))]
    assert deal.amount == Decimal("2727")
    api = api_client_for(users["member"]).get(f"/api/v1/deals/{deal.pk}/").json()
    assert [(i["net"], i["tax"]) for i in api["line_items"]] == [("2628", "263"), ("99", "8")]
    page = client_for(users["member"]).get(f"/deals/{deal.pk}/line-items/").content.decode()
    assert 'data-currency="JPY" data-places="0"' in page
    assert 'name="unit_price" value="1001"' in page and "1001.00" not in page
    assert ">2,628<" in page and ">99<" in page  # nets without decimals
    assert "¥2,727" in page and "¥271" in page and "¥2,998" in page  # subtotal, tax, total
    assert "2,628.00" not in page and "2,998.00" not in page
