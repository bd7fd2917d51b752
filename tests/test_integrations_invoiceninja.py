"""The Invoice Ninja integration, with payloads shaped as Invoice Ninja v5 posts them (its transformers:
an invoice with its client included, a payment with its paymentables, invoices and client): invoices,
payments and companies are written through the write path; the same state sent twice is one delivery;
the secret travels in a custom header since Invoice Ninja cannot sign."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from rapport.contacts.models import Company
from rapport.core.models import Event
from rapport.integrations import services
from rapport.integrations.models import ExternalLink, InboundDelivery
from rapport.invoices.models import Invoice, Payment

from .conftest import write

FIXTURES = Path(__file__).parent / "fixtures" / "invoiceninja"


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def ninja(users):
    return services.create_integration({"name": "Invoice Ninja", "kind": "invoiceninja"}, actor=users["admin"])


def send(integration, secret: str, body: dict[str, Any]) -> Any:
    return Client().post(
        integration.inbound_path, json.dumps(body), content_type="application/json", HTTP_X_RAPPORT_SECRET=secret
    )


def test_invoice_created_makes_company_and_invoice(ninja):
    row, secret = ninja
    answer = send(row, secret, payload("invoice_created"))
    assert answer.status_code == 200, answer.json()
    company = Company.objects.get()
    invoice = Invoice.objects.get()
    assert (company.name, company.domain, company.phone) == ("Acme Anvils", "acme-anvils.example", "+12025550100")
    assert (invoice.number, invoice.company_id, invoice.currency, invoice.amount) == (
        "0042",
        company.pk,
        "EUR",
        Decimal("1250.00"),
    )
    assert (str(invoice.issue_date), str(invoice.due_date), invoice.status, invoice.external_id) == (
        "2026-10-01",
        "2026-10-31",
        "sent",
        "Wpmbk5ezJn",
    )
    assert answer.json()["records"] == [
        {"type": "companies", "id": company.pk, "action": "created"},
        {"type": "invoices", "id": invoice.pk, "action": "created"},
    ]
    assert ExternalLink.objects.get(kind="client").record_id == company.pk
    assert Event.objects.get(type_key="invoices", kind="created").source == "api"
    # The same webhook again (Invoice Ninja retries): one delivery, nothing written twice.
    again = send(row, secret, payload("invoice_created"))
    assert again.json()["status"] == "duplicate"
    assert Invoice.objects.count() == 1 and InboundDelivery.objects.count() == 1


def test_invoice_updated_then_payment_created(ninja):
    row, secret = ninja
    send(row, secret, payload("invoice_created"))
    answer = send(row, secret, payload("invoice_updated"))
    invoice = Invoice.objects.get()
    assert answer.json()["records"][-1] == {"type": "invoices", "id": invoice.pk, "action": "updated"}
    assert (invoice.amount, str(invoice.due_date), invoice.version) == (Decimal("1500.00"), "2026-11-15", 2)
    changed = Event.objects.filter(type_key="invoices", kind="updated").get()
    assert changed.changes == {"amount": ["1250.00", "1500.00"], "due_date": ["2026-10-31", "2026-11-15"]}

    answer = send(row, secret, payload("payment_created"))
    assert answer.status_code == 200, answer.json()
    payment = Payment.objects.get()
    assert (payment.amount, str(payment.paid_on), payment.method, payment.reference, payment.external_id) == (
        Decimal("500.00"),
        "2026-10-20",
        "bank_transfer",
        "BANK-20261020-17",
        "7LDdwRb1YK:Xy7Dm0aLqZ",
    )
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status, invoice.outstanding) == (
        Decimal("500.00"),
        "partly_paid",
        Decimal("1000.00"),
    )
    assert {"type": "payments", "id": payment.pk, "action": "created"} in answer.json()["records"]

    # The payment refunded in full (Invoice Ninja sends it again, refunded): the payment goes to the bin.
    refunded = payload("payment_created")
    refunded["updated_at"] += 60
    refunded["refunded"] = 500.0
    refunded["paymentables"][0]["refunded"] = 500.0
    send(row, secret, refunded)
    invoice.refresh_from_db()
    assert Payment.objects.live().count() == 0
    assert (invoice.amount_paid, invoice.status) == (Decimal("0.00"), "sent")


def test_clients_match_existing_companies_by_name_email_or_domain(ninja, users):
    row, secret = ninja
    existing = write("companies", {"name": "ACME ANVILS"}, actor=users["member"])
    send(row, secret, payload("invoice_created"))
    assert Company.objects.count() == 1
    assert Invoice.objects.get().company_id == existing.pk
    # Its owner (the member) owns the invoice too: visibility follows the company.
    assert Invoice.objects.get().owner_id == users["member"].pk

    other = payload("invoice_created")
    other.update(id="Other1", number="0043", client_id="Client2")
    other["client"] = {
        **other["client"],
        "id": "Client2",
        "name": "Roadrunner Ltd",
        "website": "",
        "contacts": [{**other["client"]["contacts"][0], "email": "beep@roadrunner.example"}],
    }
    rr = write("companies", {"name": "Road Runner Holdings"}, actor=users["member"])
    write(
        "people", {"first_name": "Beep", "emails": ["beep@roadrunner.example"], "company": rr.pk}, actor=users["member"]
    )
    send(row, secret, other)
    assert Invoice.objects.get(number="0043").company_id == rr.pk


def test_deleted_cancelled_unknown_and_refused(ninja):
    row, secret = ninja
    send(row, secret, payload("invoice_created"))
    cancelled = {**payload("invoice_created"), "status_id": "5", "updated_at": 1732970000}
    send(row, secret, cancelled)
    assert Invoice.objects.get().status == "void"
    deleted = {**payload("invoice_created"), "is_deleted": True, "updated_at": 1732980000}
    answer = send(row, secret, deleted)
    assert answer.json()["records"][0]["action"] == "deleted"
    assert Invoice.objects.live().count() == 0
    quote = {"id": "Q1", "entity_type": "quote", "number": "Q-1"}
    assert send(row, secret, quote).json()["status"] == "ignored"
    orphan = payload("payment_created")
    orphan.update(id="P2", invoices=[], paymentables=[{"id": "x", "invoice_id": "Nope", "amount": 5, "refunded": 0}])
    answer = send(row, secret, orphan)
    assert answer.status_code == 400 and list(answer.json()["fields"]) == ["paymentables[0].invoice_id"]
    no_client = {**payload("invoice_created"), "id": "New", "number": "0099", "client_id": "Unknown"}
    no_client.pop("client")
    answer = send(row, secret, no_client)
    assert answer.status_code == 400 and list(answer.json()["fields"]) == ["client_id"]
    wrong = send(row, "whsec_wrong", payload("invoice_created"))
    assert wrong.status_code == 401 and list(wrong.json()["fields"]) == ["X-Rapport-Secret"]
