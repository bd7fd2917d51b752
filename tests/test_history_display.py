"""History and timelines in human wording: child rows (line items, contacts) one per line in words,
money in the deal's currency, percentages, dates and Yes/No by the viewer's locale, event names in
words — never a Python list, a raw key or an ISO date."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

from django.test import Client

from rapport.activities import timeline
from rapport.core import formatting, registry
from rapport.quotes import services as quotes

from .conftest import write
from .test_quotes import ensure_pipeline


def page_text(response) -> str:
    assert response.status_code == 200
    return unescape(re.sub(r"[ \t\r\n]+", " ", response.content.decode()))


def deal_pages(client: Client, deal) -> str:
    """The deal page and its timeline's changes (loaded into the page by htmx)."""
    return page_text(client.get(f"/deals/{deal.pk}/")) + page_text(
        client.get(f"/deals/{deal.pk}/timeline/", {"kind": "changes"})
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def yen_deal(users, company, person):
    ensure_pipeline()
    deal = write(
        "deals",
        {
            "title": "Tokyo rollout",
            "currency": "EUR",
            "company": company.pk,
            "expected_close_date": "2027-05-26",
            "contacts": [{"person": person.pk, "role": "decision_maker"}],
            "line_items": [
                {"name": "Premium support (annual)", "quantity": "1", "unit_price": "9000", "tax_percent": "20"},
            ],
        },
        actor=users["member"],
    )
    return write(
        "deals",
        {
            "probability": "35",
            "expected_close_date": "2027-06-30",
            "contacts": [{"person": person.pk, "role": "champion"}],
            "line_items": [
                {"name": "Premium support (annual)", "quantity": "2", "unit_price": "9000", "tax_percent": "20"},
                {"name": "Onboarding", "quantity": "1.5", "unit_price": "1200.5", "discount_percent": "10"},
            ],
        },
        actor=users["member"],
        instance=deal,
    )


def test_deal_history_reads_in_words(users, company, person):
    deal = yen_deal(users, company, person)
    quotes.create_quote_from_deal(deal, actor=users["member"])
    page = deal_pages(client_for(users["member"]), deal)
    # line items: quantity × name at the unit price in the deal's currency, discount and tax when set
    assert "1 × Premium support (annual) at €9,000.00, tax 20%" in page
    assert "2 × Premium support (annual) at €9,000.00, tax 20%" in page
    assert "1.5 × Onboarding at €1,200.50, 10% off" in page
    # contacts: the person's name and the role's label
    assert "Ada Lovelace (Decision maker)" in page and "Ada Lovelace (Champion)" in page
    assert "35%" in page and "Jun 30, 2027" in page and "May 26, 2027" in page
    assert "created a quote" in page
    words = re.sub(r"<[^>]+>", " ", page)
    for raw in ("[", "'Premium", "decision_maker", "quote_created", "2027-06-30", "9000.00", "2E+1"):
        assert raw not in words, raw


def test_history_follows_the_viewers_locale(users, company, person):
    deal = yen_deal(users, company, person)
    users["member"].locale = "de-DE"
    users["member"].save(update_fields=["locale"])
    page = deal_pages(client_for(users["member"]), deal)
    assert "2 × Premium support (annual) zu" not in page  # wording stays English; numbers are German
    assert "2 × Premium support (annual) at 9.000,00\xa0€, tax 20\xa0%" in page
    assert "1,5 × Onboarding at 1.200,50\xa0€, 10\xa0% off" in page
    assert "30.06.2027" in page and "35\xa0%" in page


def test_renderer_rows_for_line_items_contacts_and_money(users, company, person):
    deal = yen_deal(users, company, person)
    from rapport.core.models import Event
    from rapport.web import display

    event = Event.objects.filter(type_key="deals", record_id=deal.pk, kind="updated").get()
    names = display.Names(users["member"])
    renderer = display.HistoryRenderer(registry.get("deals"), [], names)
    renderer.collect(event.changes)
    names.resolve()
    with formatting.using("en-GB"):
        rows = {r["label"]: r for r in renderer.rows(event.changes, deal)}
    assert rows["Line items"]["before"].lines == ["1 × Premium support (annual) at €9,000.00, tax 20%"]
    assert rows["Line items"]["after"].lines == [
        "2 × Premium support (annual) at €9,000.00, tax 20%",
        "1.5 × Onboarding at €1,200.50, 10% off",
    ]
    assert rows["Contacts"]["after"].lines == ["Ada Lovelace (Champion)"]
    assert rows["Amount"]["before"].text == "€9,000.00"
    # 2 × 9000 + 1.5 × 1200.50 × 0.9 = 18000 + 1620.675 → 1620.68 ⇒ 19,620.68
    assert rows["Amount"]["after"].text == "€19,620.68" and deal.amount == Decimal("19620.68")
    assert rows["Expected close date"]["after"].text == "30 Jun 2027"
    assert rows["Probability"]["after"].text == "35%"


def test_contacts_of_people_the_viewer_may_not_see_stay_ids(users, company, person):
    deal = yen_deal(users, company, person)
    from rapport.core.models import Event
    from rapport.web import display

    write("people", {"owner": users["outsider"].pk}, actor=users["admin"], instance=person)  # to another team
    event = Event.objects.filter(type_key="deals", record_id=deal.pk, kind="updated").get()
    names = display.Names(users["peer"])
    renderer = display.HistoryRenderer(registry.get("deals"), [], names)
    renderer.collect(event.changes)
    names.resolve()
    rows = {r["label"]: r for r in renderer.rows(event.changes, deal)}
    assert rows["Contacts"]["after"].lines == [f"#{person.pk} (Champion)"]


def test_timeline_names_events_in_words(users, company, person):
    deal = yen_deal(users, company, person)
    quotes.create_quote_from_deal(deal, actor=users["member"])
    page = page_text(client_for(users["member"]).get(f"/deals/{deal.pk}/timeline/", {"kind": "changes"}))
    words = re.sub(r"<[^>]+>", " ", page)
    assert "created a quote" in words and "quote_created" not in words and "quote created" not in words
    assert "Ada Lovelace (Champion)" in page
    assert timeline.Item(source="event", at=deal.created_at, id=1).event_label == ""
