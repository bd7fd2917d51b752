"""Quotes: yearly numbering (also under concurrent creation), totals with discounts and tax, draft-only
editing, status transitions, accepting into a won deal, expiry, visibility on pages, PDF and API."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client

from rapport.core.errors import PermissionDenied, VersionConflict
from rapport.core.models import Event
from rapport.deals.models import Pipeline
from rapport.quotes import services as quotes
from rapport.quotes.models import Quote
from rapport.quotes.pdf import build_pdf

from .conftest import write

LINES = [
    # 10 × 100 − 10 % = 900.00 net, 20 % tax = 180.00
    {"name": "Seats", "quantity": "10", "unit_price": "100", "discount_percent": "10", "tax_percent": "20"},
    # 3 × 33.33 = 99.99 net, 7.5 % tax = 7.50 (7.49925 rounded half up)
    {"name": "Onboarding", "quantity": "3", "unit_price": "33.33", "tax_percent": "7.5"},
]


def ensure_pipeline() -> None:
    """Transactional tests flush the tables, the migration's default pipeline with them."""
    if Pipeline.objects.exists():
        return
    pipeline = Pipeline.objects.create(name="Sales pipeline")
    for n, (name, probability, kind) in enumerate([("Qualification", 10, "open"), ("Won", 100, "won")]):
        pipeline.stages.create(name=name, position=n, probability=probability, kind=kind)


def make_deal(actor: Any, company: Any = None, lines: list[dict[str, Any]] | None = None, **extra: Any) -> Any:
    ensure_pipeline()
    data = {"title": "Acme seats", "currency": "EUR", "line_items": LINES if lines is None else lines, **extra}
    if company is not None:
        data["company"] = company.pk
    return write("deals", data, actor=actor)


@pytest.fixture
def deal(users, company):
    address = {"street": "1 Main St", "postal_code": "75001", "city": "Paris", "country": "France"}
    company = write("companies", address, actor=users["member"], instance=company)
    return make_deal(users["member"], company)


# --- services ------------------------------------------------------------------------------------
def test_quote_copies_lines_totals_and_customer(users, deal):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"], today=dt.date(2026, 3, 1))
    assert quote.number == "Q-2026-0001" and quote.status == "draft" and quote.version == 1
    assert quote.currency == "EUR"
    assert quote.valid_until == dt.date(2026, 3, 31)
    assert quote.customer_name == "Acme"
    assert quote.customer_address == "1 Main St\n75001 Paris\nFrance"
    lines = list(quote.lines.all())
    assert [(ln.name, ln.net, ln.tax) for ln in lines] == [
        ("Seats", Decimal("900.00"), Decimal("180.00")),
        ("Onboarding", Decimal("99.99"), Decimal("7.50")),
    ]
    assert (quote.subtotal, quote.tax_total, quote.total) == (Decimal("999.99"), Decimal("187.50"), Decimal("1187.49"))
    deal.refresh_from_db()
    assert deal.amount == Decimal("999.99")
    event = Event.objects.filter(type_key="deals", record_id=deal.pk).latest("id")
    assert event.kind == "quote_created" and event.changes == {"quote": [None, "Q-2026-0001"]}
    assert event.actor == users["member"]


def test_customer_falls_back_to_the_first_contact(users, person):
    deal = make_deal(users["member"], contacts=[{"person": person.pk, "role": "champion"}])
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    assert quote.customer_name == "Ada Lovelace"


def test_numbers_follow_per_year_and_restart_in_a_new_year(users, deal):
    member = users["member"]
    numbers = [quotes.create_quote_from_deal(deal, actor=member, today=dt.date(2026, 5, d)).number for d in (1, 2, 3)]
    assert numbers == ["Q-2026-0001", "Q-2026-0002", "Q-2026-0003"]
    assert quotes.create_quote_from_deal(deal, actor=member, today=dt.date(2027, 1, 2)).number == "Q-2027-0001"
    assert quotes.create_quote_from_deal(deal, actor=member, today=dt.date(2026, 12, 31)).number == "Q-2026-0004"


def test_a_deal_without_line_items_gives_no_quote(users):
    deal = make_deal(users["member"], lines=[])
    with pytest.raises(ValidationError) as exc:
        quotes.create_quote_from_deal(deal, actor=users["member"])
    assert "line_items" in exc.value.message_dict
    assert not Quote.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_never_duplicates_a_number(teams):
    from .conftest import make_user

    user = make_user("seller", "member", teams["east"])
    deals = [make_deal(user, title=f"Deal {n}") for n in range(8)]
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(deals))

    def create(deal: Any) -> None:
        try:
            barrier.wait()
            numbers.append(quotes.create_quote_from_deal(deal, actor=user, today=dt.date(2026, 6, 1)).number)
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(d,)) for d in deals]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(numbers) == [f"Q-2026-{n:04d}" for n in range(1, 9)]
    assert Quote.objects.count() == 8


def test_lines_change_only_while_draft(users, deal):
    member = users["member"]
    quote = quotes.create_quote_from_deal(deal, actor=member)
    lines = quotes.clean_lines(
        [{"name": "Seats", "quantity": "2", "unit_price": "50", "discount_percent": "50", "tax_percent": "10"}],
        "EUR",
        actor=member,
    )
    quote = quotes.update_quote_lines(quote, lines, actor=member, expected_version=1)
    assert (quote.subtotal, quote.tax_total, quote.total, quote.version) == (
        Decimal("50.00"),
        Decimal("5.00"),
        Decimal("55.00"),
        2,
    )
    assert quote.lines.count() == 1
    with pytest.raises(VersionConflict):
        quotes.update_quote_lines(quote, lines, actor=member, expected_version=1)
    quote = quotes.send_quote(quote, actor=member)
    with pytest.raises(ValidationError) as exc:
        quotes.update_quote_lines(quote, lines, actor=member, expected_version=quote.version)
    assert "status" in exc.value.message_dict
    assert "only drafts" in exc.value.message_dict["status"][0]


def test_lines_are_validated_naming_the_field(users):
    from rest_framework.exceptions import ValidationError as InvalidInput

    from rapport.api.errors import flatten

    with pytest.raises(InvalidInput) as exc:
        quotes.clean_lines(
            [{"name": "X", "quantity": "1", "unit_price": "5"}, {"name": "X", "quantity": "0"}],
            "EUR",
            actor=users["admin"],
        )
    assert list(flatten(exc.value.detail)) == ["lines[1].quantity"]
    with pytest.raises(InvalidInput) as exc:
        quotes.clean_lines([{"quantity": "1"}], "EUR", actor=users["admin"])
    assert sorted(flatten(exc.value.detail)) == ["lines[0].name", "lines[0].unit_price"]


def test_transitions(users, deal):
    member = users["member"]
    quote = quotes.create_quote_from_deal(deal, actor=member)
    with pytest.raises(ValidationError) as exc:
        quotes.accept_quote(quote, actor=member, mark_deal_won=False)
    assert "status" in exc.value.message_dict
    quote = quotes.send_quote(quote, actor=member)
    assert quote.status == "sent" and quote.sent_at is not None
    with pytest.raises(ValidationError):
        quotes.send_quote(quote, actor=member)
    quote = quotes.decline_quote(quote, actor=member)
    assert quote.status == "declined" and quote.decided_at is not None
    with pytest.raises(ValidationError):
        quotes.accept_quote(quote, actor=member, mark_deal_won=True)
    deal.refresh_from_db()
    assert deal.status == "open"
    kinds = list(
        Event.objects.filter(type_key="deals", record_id=deal.pk).order_by("id").values_list("kind", flat=True)
    )
    assert kinds[-3:] == ["quote_created", "quote_sent", "quote_declined"]


def test_accepting_can_mark_the_deal_won(users, deal):
    member = users["member"]
    first = quotes.send_quote(quotes.create_quote_from_deal(deal, actor=member), actor=member)
    first = quotes.accept_quote(first, actor=member, mark_deal_won=False)
    deal.refresh_from_db()
    assert first.status == "accepted" and deal.status == "open"
    second = quotes.send_quote(quotes.create_quote_from_deal(deal, actor=member), actor=member)
    quotes.accept_quote(second, actor=member, mark_deal_won=True)
    deal.refresh_from_db()
    assert deal.status == "won" and deal.stage.kind == "won"
    kinds = list(
        Event.objects.filter(type_key="deals", record_id=deal.pk).order_by("-id")[:2].values_list("kind", flat=True)
    )
    assert set(kinds) == {"quote_accepted", "updated"}


def test_expiry(users, deal):
    member = users["member"]
    today = dt.date(2026, 1, 10)
    draft = quotes.create_quote_from_deal(deal, actor=member, today=today, valid_days=5)
    sent = quotes.send_quote(quotes.create_quote_from_deal(deal, actor=member, today=today, valid_days=5), actor=member)
    accepted = quotes.send_quote(
        quotes.create_quote_from_deal(deal, actor=member, today=today, valid_days=5), actor=member
    )
    accepted = quotes.accept_quote(accepted, actor=member, mark_deal_won=False)
    later = quotes.create_quote_from_deal(deal, actor=member, today=today, valid_days=30)
    assert quotes.expire_quotes(dt.date(2026, 1, 15)) == 0  # valid through the 15th
    assert quotes.expire_quotes(dt.date(2026, 1, 16)) == 2
    statuses = dict(Quote.objects.values_list("pk", "status"))
    assert statuses == {draft.pk: "expired", sent.pk: "expired", accepted.pk: "accepted", later.pk: "draft"}
    assert quotes.expire_quotes(dt.date(2026, 1, 16)) == 0
    event = Event.objects.filter(kind="quote_expired").first()
    assert event is not None and event.actor is None and event.source == "system"


def test_only_who_may_change_the_deal_makes_quotes(users, deal):
    with pytest.raises(PermissionDenied):
        quotes.create_quote_from_deal(deal, actor=users["read-only"])
    with pytest.raises(PermissionDenied):
        quotes.create_quote_from_deal(deal, actor=users["outsider"])
    quote = quotes.create_quote_from_deal(deal, actor=users["peer"])
    with pytest.raises(PermissionDenied):
        quotes.send_quote(quote, actor=users["outsider"])
    assert Quote.objects.count() == 1


# --- PDF -----------------------------------------------------------------------------------------
def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_is_a_real_pdf_with_the_number_and_totals(users, deal):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"], today=dt.date(2026, 2, 1))
    data = build_pdf(quote, compress=False)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Q-2026-0001" in text
    # 900.00 + 99.99 net, 187.50 tax: €1,187.49 in the default en-US locale; dates as en-US shows them.
    assert "€1,187.49" in text and "€999.99" in text and "€187.50" in text
    assert "Page 1 of 1" in text


def test_pdf_speaks_the_locale_of_whoever_asked(users, deal):
    from rapport.core import formatting

    quote = quotes.create_quote_from_deal(deal, actor=users["member"], today=dt.date(2026, 2, 1))
    with formatting.using("de-DE"):
        text = pdf_text(build_pdf(quote, compress=False))
    assert "1.187,49 €" in text and "999,99 €" in text
    assert "900,00" in text  # a line's net: the currency's two decimals, German grouping, no symbol


def test_long_quotes_get_numbered_pages(users):
    many = [{"name": f"Item {n}", "quantity": "1", "unit_price": "1"} for n in range(120)]
    deal = make_deal(users["member"], lines=many)
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    text = pdf_text(build_pdf(quote))
    assert "Page 1 of 3" in text or "Page 1 of 4" in text
    assert "Item 119" in text


UNICODE_NAMES = {
    "greek": "Ελληνική Εταιρεία ΑΕ",
    "polish": "Zakład Łódź — żółć gęślą",
    "japanese": "株式会社トウキョウ",
    "chinese": "北京科技有限公司",
    "korean": "서울 주식회사",
    "emoji": "Smiles 😀 ❤ ✓ ☀",
}


def test_pdf_renders_every_script_with_fonts_that_have_the_glyphs(users):
    from pypdf import PdfReader

    from rapport.quotes import pdf

    company = write("companies", {"name": UNICODE_NAMES["polish"]}, actor=users["member"])
    lines = [{"name": text, "quantity": "1", "unit_price": "10"} for text in UNICODE_NAMES.values()]
    deal = make_deal(users["member"], company, lines=lines)
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    data = build_pdf(quote)
    text = pdf_text(data)
    for script, name in UNICODE_NAMES.items():
        assert name in text, script  # extractable, so drawn with real glyphs and a correct ToUnicode map

    # Every character is set in a font that has a glyph for it: no .notdef box.
    for name in UNICODE_NAMES.values():
        for font, run in pdf.font_runs(name):
            for char in run:
                if font in (pdf.JAPANESE, pdf.CHINESE, pdf.KOREAN):
                    assert pdf._is_cjk(ord(char)) or pdf._is_kana(ord(char)) or pdf._is_hangul(ord(char)), char
                else:
                    assert ord(char) in pdf._glyphs(font), (font, char)
    assert pdf.font_for("ト") == pdf.font_for("株", japanese=True) == pdf.JAPANESE
    assert pdf.font_for("北") == pdf.CHINESE and pdf.font_for("서") == pdf.KOREAN

    # The PDF embeds the Unicode font (a subset) and names the CJK fonts; the base-14 fonts are gone.
    fonts = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts.add(str(font["/BaseFont"]))
            if "/FontDescriptor" in font and "/FontFile2" in font["/FontDescriptor"]:
                fonts.add("embedded:" + str(font["/BaseFont"]).split("+")[-1])
    assert {"embedded:DejaVuSans", "embedded:DejaVuSans-Bold"} <= fonts
    assert {f"/{pdf.JAPANESE}", f"/{pdf.CHINESE}", f"/{pdf.KOREAN}"} <= fonts
    assert not any("Helvetica" in f for f in fonts)  # Latin-1 only: drew the boxes


def test_currencies_without_minor_units_print_without_decimals(users):
    # 3 × 1500 − 7.5 % = 4162.5 → 4,163 yen net; 10 % tax = 416.3 → 416; total 4,579
    lines = [{"name": "Licence", "quantity": "3", "unit_price": "1500", "discount_percent": "7.5", "tax_percent": "10"}]
    deal = make_deal(users["member"], lines=lines, currency="JPY")
    assert deal.amount == Decimal("4163")
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    assert (quote.subtotal, quote.tax_total, quote.total) == (Decimal("4163"), Decimal("416"), Decimal("4579"))
    text = pdf_text(build_pdf(quote))
    assert "1,500" in text and "4,163" in text and "¥4,579" in text
    assert "1,500.00" not in text and "4,579.00" not in text
    page = client_for(users["member"]).get(f"/quotes/{quote.pk}/print/").content.decode()
    assert "¥4,579" in page and "4,579.00" not in page


def test_deal_amounts_show_in_their_currencys_decimals_on_pages(users):
    yen = make_deal(users["member"], lines=[], currency="JPY", amount="98000")
    euro = make_deal(users["member"], lines=[], currency="EUR", amount="1234.5")
    client = client_for(users["member"])
    for params in ("", "?columns=title,amount"):  # the currency column shown or hidden
        page = client.get(f"/deals/{params}").content.decode()
        assert "98,000" in page and "98000.00" not in page and "1,234.50" in page, params
    detail = client.get(f"/deals/{yen.pk}/").content.decode()
    assert "¥98,000" in detail and "98000" not in detail  # the field and its history
    assert "1,234.50" in client.get(f"/deals/{euro.pk}/").content.decode()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/deals/", {"title": "Yen", "currency": "JPY", "amount": "1000.50"}, "amount"),
        (
            "/api/v1/deals/",
            {"title": "Yen", "currency": "JPY", "line_items": [{"name": "X", "quantity": "1", "unit_price": "9.5"}]},
            "line_items[0].unit_price",
        ),
        (
            "/api/v1/products/",
            {"name": "Yen box", "prices": [{"currency": "JPY", "unit_price": "99.99"}]},
            "prices[0].unit_price",
        ),
    ],
)
def test_amounts_with_more_decimals_than_the_currency_has_are_refused(users, api_client_for, path, body, field):
    ensure_pipeline()
    api = api_client_for(users["member"])
    response = api.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    assert "JPY has no minor unit" in json.dumps(response.json()["fields"]), response.json()
    assert field in response.json()["fields"], response.json()
    whole = json.loads(json.dumps(body).replace("1000.50", "1000").replace('"9.5"', '"9"').replace("99.99", "99"))
    assert api.post(path, json.dumps(whole), content_type="application/json").status_code == 201


def test_money_custom_fields_follow_the_currencys_decimals(users, api_client_for):
    from rapport.core.models import CustomField

    CustomField.objects.create(record_type="people", key="budget", label="Budget", field_type="money")
    api = api_client_for(users["member"])

    def post(amount, currency):
        body = {"first_name": "Kai", "custom": {"budget": {"amount": amount, "currency": currency}}}
        return api.post("/api/v1/people/", json.dumps(body), content_type="application/json")

    refused = post("12.5", "JPY")
    assert refused.status_code == 400 and "JPY has no minor unit" in refused.json()["fields"]["custom.budget"][0]
    assert post("12", "JPY").json()["custom"]["budget"] == {"amount": "12", "currency": "JPY"}
    assert post("1.234", "KWD").json()["custom"]["budget"] == {"amount": "1.234", "currency": "KWD"}
    assert post("1.5", "EUR").json()["custom"]["budget"] == {"amount": "1.50", "currency": "EUR"}


# --- pages ---------------------------------------------------------------------------------------
def client_for(user: Any) -> Any:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_create_a_quote_from_the_pages_and_walk_it_to_accepted(users, deal):
    client = client_for(users["member"])
    page = client.get(f"/deals/{deal.pk}/quotes/").content.decode()
    assert "Create quote from line items" in page and "No quotes yet" in page
    response = client.post(f"/deals/{deal.pk}/quotes/new/", {"valid_days": "14"})
    quote = Quote.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/quotes/{quote.pk}/"
    assert quote.valid_until - quote.created_at.date() == dt.timedelta(days=14)
    page = client.get(f"/quotes/{quote.pk}/").content.decode()
    assert quote.number in page and "Draft" in page and "Mark as sent" in page and "Save lines" in page
    assert "€1,187.49" in page
    # draft lines are editable from the quote page
    response = client.post(
        f"/quotes/{quote.pk}/lines/",
        {"name": ["Seats"], "quantity": ["1"], "unit_price": ["10"], "tax_percent": ["10"], "version": "1"},
    )
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.total == Decimal("11.00") and quote.version == 2
    client.post(f"/quotes/{quote.pk}/send/", {"version": "2"})
    page = client.get(f"/quotes/{quote.pk}/").content.decode()
    assert "Sent" in page and "Save lines" not in page and "Mark the deal won" in page
    response = client.post(f"/quotes/{quote.pk}/lines/", {"name": ["X"], "quantity": ["1"], "unit_price": ["1"]})
    assert response.status_code == 400 and "only drafts change" in response.content.decode()
    client.post(f"/quotes/{quote.pk}/accept/", {"version": "3", "mark_deal_won": "on"})
    quote.refresh_from_db()
    deal.refresh_from_db()
    assert quote.status == "accepted" and deal.status == "won"
    history = [e.kind for e in Event.objects.filter(type_key="deals", record_id=deal.pk).order_by("id")]
    assert history[-5:] == ["quote_created", "quote_updated", "quote_sent", "quote_accepted", "updated"]


def test_a_refused_transition_is_a_clear_message(users, deal):
    client = client_for(users["member"])
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    response = client.post(f"/quotes/{quote.pk}/accept/", {"version": "1"}, follow=True)
    assert "A draft quote cannot become accepted." in response.content.decode()
    response = client.post(f"/quotes/{quote.pk}/send/", {"version": "7"}, follow=True)
    assert "Someone changed this quote" in response.content.decode()
    quote.refresh_from_db()
    assert quote.status == "draft"


def test_printable_page_is_laid_out_like_a_quote(users, deal, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setenv("RAPPORT_COMPANY_NAME", "Initech <GmbH>")
    monkeypatch.setenv("RAPPORT_COMPANY_ADDRESS", "Hauptstr. 1; 10115 Berlin")
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    client = client_for(users["member"])
    with django_assert_max_num_queries(6):
        response = client.get(f"/quotes/{quote.pk}/print/")
    page = response.content.decode()
    assert "Initech &lt;GmbH&gt;" in page and "10115 Berlin" in page
    assert quote.number in page and "Acme" in page and "75001 Paris" in page
    for text in ("900.00", "99.99", "Subtotal", "€999.99", "€187.50", "€1,187.49", "Terms"):
        assert text in page
    assert 'class="num">10<' in page  # quantity without trailing zeros


def test_pdf_download(users, deal):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    response = client_for(users["peer"]).get(f"/quotes/{quote.pk}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{quote.number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_quote_page_query_count(users, deal, django_assert_max_num_queries):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    client = client_for(users["member"])
    with django_assert_max_num_queries(12):
        assert client.get(f"/quotes/{quote.pk}/").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(f"/deals/{deal.pk}/quotes/").status_code == 200


def test_outsiders_get_404_everywhere(users, deal, api_client_for):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    client = client_for(users["outsider"])
    for url in ("/deals/{d}/quotes/", "/quotes/{q}/", "/quotes/{q}/print/", "/quotes/{q}/pdf/"):
        assert client.get(url.format(d=deal.pk, q=quote.pk)).status_code == 404, url
    for url in ("/deals/{d}/quotes/new/", "/quotes/{q}/send/", "/quotes/{q}/lines/"):
        assert client.post(url.format(d=deal.pk, q=quote.pk), {}).status_code == 404, url
    api = api_client_for(users["outsider"])
    for url in ("/api/v1/quotes/{q}/", "/api/v1/quotes/{q}/pdf/"):
        assert api.get(url.format(q=quote.pk)).status_code == 404, url
    assert api.post(f"/api/v1/deals/{deal.pk}/quotes/").status_code == 404
    assert api.post(f"/api/v1/quotes/{quote.pk}/send/").status_code == 404
    assert api.get(f"/api/v1/quotes/?deal={deal.pk}").json()["results"] == []
    quote.refresh_from_db()
    assert quote.status == "draft" and Quote.objects.count() == 1


def test_read_only_users_see_quotes_but_cannot_change_them(users, deal, api_client_for):
    quote = quotes.create_quote_from_deal(deal, actor=users["member"])
    client = client_for(users["read-only"])
    page = client.get(f"/quotes/{quote.pk}/").content.decode()
    assert quote.number in page and "Mark as sent" not in page and "Save lines" not in page
    assert client.post(f"/quotes/{quote.pk}/send/", {}).status_code == 403
    assert client.post(f"/deals/{deal.pk}/quotes/new/", {}).status_code == 403
    api = api_client_for(users["read-only"])
    assert api.post(f"/api/v1/quotes/{quote.pk}/send/").status_code == 403
    quote.refresh_from_db()
    assert quote.status == "draft"


# --- API -----------------------------------------------------------------------------------------
def test_api_create_read_patch_and_transitions(users, deal, api_client_for):
    api = api_client_for(users["member"])
    response = api.post(f"/api/v1/deals/{deal.pk}/quotes/", {"valid_days": 10}, content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    quote_id = body["id"]
    assert body["number"].startswith("Q-") and body["total"] == "1187.49" and len(body["lines"]) == 2
    assert response["ETag"] == f'"{quote_id}-1"' and response["Location"] == f"/api/v1/quotes/{quote_id}/"

    response = api.get(f"/api/v1/quotes/{quote_id}/")
    assert response.status_code == 200 and response["ETag"] == f'"{quote_id}-1"'
    assert api.get(f"/api/v1/quotes/{quote_id}/", HTTP_IF_NONE_MATCH=f'"{quote_id}-1"').status_code == 304

    lines = {"lines": [{"name": "Seats", "quantity": "4", "unit_price": "25", "tax_percent": "10"}]}
    response = api.patch(
        f"/api/v1/quotes/{quote_id}/", lines, content_type="application/json", HTTP_IF_MATCH=f'"{quote_id}-1"'
    )
    assert (
        response.status_code == 200 and response.json()["total"] == "110.00" and response["ETag"] == f'"{quote_id}-2"'
    )
    stale = api.patch(
        f"/api/v1/quotes/{quote_id}/", lines, content_type="application/json", HTTP_IF_MATCH=f'"{quote_id}-1"'
    )
    assert stale.status_code == 412 and stale.json()["error"] == "stale" and stale["ETag"] == f'"{quote_id}-2"'
    bad = api.patch(
        f"/api/v1/quotes/{quote_id}/", {"lines": [{"name": "X", "quantity": "-1"}]}, content_type="application/json"
    )
    assert bad.status_code == 400 and list(bad.json()["fields"]) == ["lines[0].quantity"]

    assert api.post(f"/api/v1/quotes/{quote_id}/accept/", {}, content_type="application/json").status_code == 400
    assert api.post(f"/api/v1/quotes/{quote_id}/send/").json()["status"] == "sent"
    refused = api.patch(f"/api/v1/quotes/{quote_id}/", lines, content_type="application/json")
    assert refused.status_code == 400 and "status" in refused.json()["fields"]
    accepted = api.post(f"/api/v1/quotes/{quote_id}/accept/", {"mark_deal_won": True}, content_type="application/json")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    deal.refresh_from_db()
    assert deal.status == "won"

    response = api.get(f"/api/v1/quotes/{quote_id}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == f'attachment; filename="{body["number"]}.pdf"'


def test_api_list_is_keyset_paginated_and_filtered(users, deal, api_client_for, django_assert_max_num_queries):
    member = users["member"]
    made = [quotes.create_quote_from_deal(deal, actor=member) for _ in range(5)]
    other = make_deal(users["peer"], title="Other")
    quotes.create_quote_from_deal(other, actor=users["peer"])
    api = api_client_for(member)
    with django_assert_max_num_queries(6):
        page = api.get(f"/api/v1/quotes/?deal={deal.pk}&page_size=3").json()
    assert [r["id"] for r in page["results"]] == [q.pk for q in reversed(made)][:3]
    rest = api.get(page["next"]).json()
    assert [r["id"] for r in rest["results"]] == [made[1].pk, made[0].pk] and rest["next"] is None
    assert len(api.get("/api/v1/quotes/").json()["results"]) == 6
    bad = api.get("/api/v1/quotes/?colour=red")
    assert bad.status_code == 400 and "colour" in bad.json()["fields"]


def test_draft_details_are_edited_on_the_page_and_in_the_api(users, api_client_for):
    from rapport.quotes import services as quote_services

    deal = write(
        "deals",
        {"title": "Terms", "line_items": [{"name": "Seat", "quantity": "1", "unit_price": "10"}]},
        actor=users["member"],
    )
    quote = quote_services.create_quote_from_deal(deal, actor=users["member"])
    client = Client()
    client.force_login(users["member"])
    response = client.post(
        f"/quotes/{quote.pk}/details/",
        {
            "version": quote.version,
            "valid_until": "2027-01-31",
            "terms": "Net 30",
            "customer_name": "Globex",
            "customer_address": "1 Main St",
        },
    )
    assert response.status_code == 302
    quote.refresh_from_db()
    assert (str(quote.valid_until), quote.terms, quote.customer_name) == ("2027-01-31", "Net 30", "Globex")
    stale = client.post(f"/quotes/{quote.pk}/details/", {"version": 1, "terms": "Net 60"})
    assert stale.status_code == 409
    api = api_client_for(users["member"])
    etag = api.get(f"/api/v1/quotes/{quote.pk}/")["ETag"]
    bad = api.patch(
        f"/api/v1/quotes/{quote.pk}/",
        json.dumps({"valid_until": "soon"}),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )
    assert bad.status_code == 400 and "valid_until" in bad.json()["fields"]
    ok = api.patch(
        f"/api/v1/quotes/{quote.pk}/",
        json.dumps({"terms": "Net 45"}),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    )
    assert ok.status_code == 200 and ok.json()["terms"] == "Net 45"
    quote_services.send_quote(quote, actor=users["member"])
    sent = api.patch(f"/api/v1/quotes/{quote.pk}/", json.dumps({"terms": "Changed"}), content_type="application/json")
    assert sent.status_code == 400 and "status" in sent.json()["fields"]
