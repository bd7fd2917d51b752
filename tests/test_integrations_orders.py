"""The ``order`` webhook: when a deal is won, subscriptions that ask for ``order`` by name get its line items
(priced as on its quotes), company and contacts, as the subscription's creator may see them; a subscription to
every event keeps getting ``deal.won``."""

from __future__ import annotations

from rapport.jobs.events import dispatch_pending
from rapport.webhooks import services as webhooks
from rapport.webhooks.models import Delivery

from .conftest import write


def test_won_deal_sends_an_order(users, company, person):
    write(
        "companies",
        {"street": "1 Main Street", "city": "Springfield", "postal_code": "12345", "country": "United States"},
        actor=users["member"],
        instance=company,
    )
    deal = write(
        "deals",
        {
            "title": "Acme 12 seats",
            "company": company.pk,
            "currency": "EUR",
            "contacts": [{"person": person.pk, "role": "decision_maker"}],
            "line_items": [
                {
                    "name": "Seat licence",
                    "quantity": "12",
                    "unit_price": "100.00",
                    "discount_percent": "10",
                    "tax_percent": "20",
                },
                {"name": "Onboarding", "quantity": "1", "unit_price": "500.00"},
            ],
        },
        actor=users["member"],
    )
    orders = webhooks.create_subscription(
        {"name": "Invoicing", "url": "https://billing.example.com/hooks", "event_types": ["order"]},
        actor=users["admin"],
    )
    everything = webhooks.create_subscription(
        {"name": "All", "url": "https://all.example.com/hooks"}, actor=users["admin"]
    )
    outsider_sub = webhooks.create_subscription(
        {"name": "Theirs", "url": "https://west.example.com/hooks", "event_types": ["order"]}, actor=users["outsider"]
    )
    dispatch_pending()
    assert not Delivery.objects.filter(subscription=orders).exists()  # created and updated are not orders

    from rapport.deals.services import mark_won

    mark_won(deal, actor=users["member"], source="ui")
    dispatch_pending()
    delivery = Delivery.objects.get(subscription=orders)
    assert delivery.event_type == "order.created"
    order = delivery.payload["data"]["order"]
    # 12 × 100.00 − 10 % = 1,080.00 (tax 216.00); 1 × 500.00 = 500.00: the deal's amount is the sum of the nets.
    assert order["amount"] == "1580.00" and order["currency"] == "EUR"
    assert [(line["name"], line["quantity"], line["net"], line["tax"]) for line in order["line_items"]] == [
        ("Seat licence", "12.000", "1080.00", "216.00"),
        ("Onboarding", "1.000", "500.00", "0.00"),
    ]
    assert order["company"] == {
        "id": company.pk, "name": "Acme", "domain": "acme.com", "website": "", "phone": "",
        "street": "1 Main Street", "city": "Springfield", "postal_code": "12345", "country": "United States",
    }  # fmt: skip
    assert order["contact"] == {
        "id": person.pk, "name": "Ada Lovelace", "first_name": "Ada", "last_name": "Lovelace",
        "email": "ada@acme.com", "phone": "", "job_title": "", "role": "decision_maker",
    }  # fmt: skip
    assert order["deal"]["id"] == deal.pk and order["deal"]["closed_on"]
    # A subscription to every event gets deal.won as before; one whose creator may not see the deal gets nothing.
    assert Delivery.objects.filter(subscription=everything).latest("id").event_type == "deal.won"
    assert not Delivery.objects.filter(subscription=outsider_sub).exists()
    # At least once: dispatching again makes no second order.
    dispatch_pending()
    assert Delivery.objects.filter(subscription=orders).count() == 1
