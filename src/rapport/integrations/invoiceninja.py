"""The Invoice Ninja kind (v5): its webhooks post the entity as its API transformer shapes it, with no event
name and no signature (docs/integrations.md shows the payloads). What is recognised:

- an invoice (``entity_type: "invoice"``; created/updated webhooks include its ``client``) → an invoice matched
  by Invoice Ninja's id (``external_id``) or its number, on the company of its client;
- a payment (``paymentables``, ``transaction_reference``; the created webhook includes ``invoices`` and
  ``client``) → one payment per invoice it pays (``paymentables``), which keeps the invoice's amount paid;
- a client (``contacts``, ``display_name``) → a company, matched by client id (remembered in ``ExternalLink``),
  then by name, then by a contact's email (a person's company), then by the website's domain; else created.

Status: 1 draft, 2 sent, 3 partial and 4 paid (Rapport derives paid and partly paid from the payments),
5 cancelled and 6 reversed → void; ``is_deleted`` → the record goes to the bin. Amounts are Invoice Ninja's
floats, read as their decimal text. Currency: the client's ``settings.currency_id`` (Invoice Ninja's currency
table), else the invoice's current one, else the base currency."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from rapport.contacts.models import Company, Person
from rapport.core import services as core_services
from rapport.invoices.models import Invoice, Payment

from .mapping import write
from .models import INVOICE_NINJA, ExternalLink, Integration
from .services import Outcome, Refused, handler
from .telephony import e164

STATUSES = {"1": "draft", "2": "sent", "3": "sent", "4": "sent", "5": "void", "6": "void"}
PAYMENT_TYPES = {"1": "bank_transfer", "2": "cash", "3": "direct_debit", "4": "bank_transfer", "15": "cheque"}
PAYMENT_TYPES.update({str(n): "card" for n in (5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20)})
# Invoice Ninja's currency ids (its currencies seeder) → ISO 4217.
CURRENCIES = {
    "1": "USD", "2": "GBP", "3": "EUR", "4": "ZAR", "5": "DKK", "6": "ILS", "7": "SEK", "8": "KES", "9": "CAD",
    "10": "PHP", "11": "INR", "12": "AUD", "13": "SGD", "14": "NOK", "15": "NZD", "16": "VND", "17": "CHF",
    "19": "MYR", "20": "BRL", "21": "THB", "23": "ARS", "25": "AED", "26": "HKD", "27": "IDR", "28": "MXN",
    "32": "CNY", "41": "TRY", "42": "RON", "45": "JPY", "49": "PLN", "51": "CZK", "69": "HUF", "79": "KRW",
}  # fmt: skip


def entity_of(payload: dict[str, Any]) -> str:
    if payload.get("entity_type") == "invoice":
        return "invoice"
    if "paymentables" in payload or ("transaction_reference" in payload and "applied" in payload):
        return "payment"
    if "contacts" in payload and ("display_name" in payload or "name" in payload):
        return "client"
    return ""


def delivery_id(payload: dict[str, Any]) -> str:
    """Invoice Ninja sends no delivery id: the entity, its id, its update time and deletion make one, so the
    same state sent twice is one delivery."""
    entity = entity_of(payload) or "unknown"
    deleted = int(bool(payload.get("is_deleted")))
    entity_id = str(payload.get("id", ""))[:40]
    return f"in:{entity}:{entity_id}:{payload.get('updated_at', '')}:{deleted}"[:100]


def _text(value: Any, limit: int = 200) -> str:
    return str(value).strip()[:limit] if value not in (None, False) else ""


def _money(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise Refused(400, "invalid", f"{field}: not an amount.", {field: ["Not an amount."]}) from exc


def _day(value: Any) -> str | None:
    text = _text(value, 10)
    return text if len(text) == 10 else None


def _currency(client: dict[str, Any] | None, fallback: str) -> str:
    settings_ = (client or {}).get("settings") or {}
    code = CURRENCIES.get(_text(settings_.get("currency_id") if isinstance(settings_, dict) else "", 5))
    return code or fallback


def _link(integration: Integration, kind: str, external_id: str) -> ExternalLink | None:
    return ExternalLink.objects.filter(integration=integration, kind=kind, external_id=external_id).first()


def _remember(integration: Integration, kind: str, external_id: str, type_key: str, record_id: int) -> None:
    ExternalLink.objects.update_or_create(
        integration=integration, kind=kind, external_id=external_id,
        defaults={"type_key": type_key, "record_id": record_id},
    )  # fmt: skip


def _domain(website: str) -> str:
    if not website:
        return ""
    host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
    return host.removeprefix("www.").lower()


def company_for_client(
    integration: Integration, client_id: str, client: dict[str, Any] | None, *, written: list[dict[str, Any]]
) -> Company:
    """The company of an Invoice Ninja client (see the module's docstring for the matching order)."""
    actor = integration.service_user
    visible = Company.objects.visible_to(actor)
    link = _link(integration, "client", client_id) if client_id else None
    company = visible.filter(pk=link.record_id).first() if link else None
    if company is None and client:
        name = _text(client.get("name") or client.get("display_name"))
        emails = [_text(c.get("email"), 254).lower() for c in client.get("contacts") or [] if isinstance(c, dict)]
        domain = _domain(_text(client.get("website")))
        company = visible.filter(name__iexact=name).first() if name else None
        if company is None and any(emails):
            person = (
                Person.objects.visible_to(actor)
                .filter(emails__email__in=[e for e in emails if e], company__isnull=False)
                .select_related("company")
                .first()
            )
            company = person.company if person and person.company and person.company.deleted_at is None else None
        if company is None and domain:
            company = visible.filter(domain__iexact=domain).first()
        if company is None:
            if not name:
                raise Refused(
                    400, "invalid", "client.name: the client has no name.", {"client.name": ["Give the client a name."]}
                )
            data: dict[str, Any] = {"name": name}
            if domain:
                data["domain"] = domain
            phone = _text(client.get("phone"), 40)
            if phone and e164(phone):
                data["phone"] = phone
            company = write("companies", data, actor=actor, prefix="client")
            written.append({"type": "companies", "id": company.pk, "action": "created"})
    if company is None:
        raise Refused(
            400,
            "invalid",
            "client_id: unknown client.",
            {
                "client_id": [
                    "Rapport does not know this client yet: include the client in the webhook, "
                    "or send its client webhook first."
                ]
            },
        )
    if client_id:
        _remember(integration, "client", client_id, "companies", company.pk)
    return company


def upsert_invoice(
    integration: Integration, payload: dict[str, Any], *, written: list[dict[str, Any]]
) -> Invoice | None:
    actor = integration.service_user
    external_id = _text(payload.get("id"), 100)
    if not external_id:
        raise Refused(400, "invalid", "id: missing.", {"id": ["The invoice has no id."]})
    number = _text(payload.get("number"), 60)
    visible = Invoice.objects.visible_to(actor)
    invoice = visible.filter(external_id=external_id).first() or (
        visible.filter(number=number).first() if number else None
    )
    if payload.get("is_deleted"):
        if invoice is not None:
            core_services.delete_record(invoice, actor=actor, source="api")
            written.append({"type": "invoices", "id": invoice.pk, "action": "deleted"})
        return None
    client = payload.get("client") if isinstance(payload.get("client"), dict) else None
    company = company_for_client(integration, _text(payload.get("client_id"), 100), client, written=written)
    fallback = invoice.currency if invoice else str(settings.BASE_CURRENCY).upper()
    data = {
        "number": number or f"IN-{external_id}",
        "company": company.pk,
        "issue_date": _day(payload.get("date")),
        "due_date": _day(payload.get("due_date")),
        "currency": _currency(client, fallback),
        "amount": str(_money(payload.get("amount", 0), "amount")),
        "status": STATUSES.get(_text(payload.get("status_id"), 3), "sent"),
        "external_id": external_id,
    }
    if invoice is not None and invoice.status == "overdue" and data["status"] == "sent":
        data["status"] = "overdue"  # marked by Rapport's daily job; Invoice Ninja does not store it
    if invoice is None:
        invoice = write("invoices", data, actor=actor, prefix="")
        written.append({"type": "invoices", "id": invoice.pk, "action": "created"})
    else:
        before = invoice.version
        invoice = write("invoices", data, actor=actor, instance=invoice, prefix="")
        written.append(
            {"type": "invoices", "id": invoice.pk, "action": "updated" if invoice.version != before else "unchanged"}
        )
    return invoice


def upsert_payment(integration: Integration, payload: dict[str, Any], *, written: list[dict[str, Any]]) -> None:
    actor = integration.service_user
    payment_id = _text(payload.get("id"), 60)
    for included in payload.get("invoices") or []:
        if isinstance(included, dict) and included.get("id"):
            if "client" not in included and isinstance(payload.get("client"), dict):
                included = {**included, "client": payload["client"], "client_id": payload.get("client_id", "")}
            upsert_invoice(integration, {**included, "entity_type": "invoice"}, written=[])
    shares = [p for p in payload.get("paymentables") or [] if isinstance(p, dict) and p.get("invoice_id")]
    if not shares and len(payload.get("invoices") or []) == 1:
        only = payload["invoices"][0]
        shares = [
            {
                "id": "0",
                "invoice_id": only.get("id"),
                "amount": payload.get("amount", 0),
                "refunded": payload.get("refunded", 0),
            }
        ]
    if not shares:
        raise Refused(
            400, "invalid", "paymentables: the payment pays no invoice.", {"paymentables": ["No invoice is paid."]}
        )
    for n, share in enumerate(shares):
        invoice_ext = _text(share.get("invoice_id"), 100)
        invoice = Invoice.objects.visible_to(actor).filter(external_id=invoice_ext).first()
        if invoice is None:
            raise Refused(
                400,
                "invalid",
                f"paymentables[{n}].invoice_id: unknown invoice.",
                {
                    f"paymentables[{n}].invoice_id": [
                        f"Rapport has no invoice {invoice_ext}: send its invoice webhook first."
                    ]
                },
            )
        amount = _money(share.get("amount", 0), f"paymentables[{n}].amount") - _money(
            share.get("refunded", 0), f"paymentables[{n}].refunded"
        )
        external_id = f"{payment_id}:{_text(share.get('id'), 30)}"[:100]
        payment = Payment.objects.visible_to(actor).filter(external_id=external_id).first()
        if payload.get("is_deleted") or amount <= 0:
            if payment is not None:
                core_services.delete_record(payment, actor=actor, source="api")
                written.append({"type": "payments", "id": payment.pk, "action": "deleted"})
            continue
        data = {
            "invoice": invoice.pk,
            "amount": str(amount),
            "paid_on": _day(payload.get("date")) or _day(str(payload.get("created_at", ""))) or None,
            "method": PAYMENT_TYPES.get(_text(payload.get("type_id"), 3), "other"),
            "reference": _text(payload.get("transaction_reference") or payload.get("number"), 100),
            "external_id": external_id,
        }
        if payment is None:
            payment = write("payments", data, actor=actor, prefix=f"paymentables[{n}]")
            written.append({"type": "payments", "id": payment.pk, "action": "created"})
        else:
            before = payment.version
            payment = write("payments", data, actor=actor, instance=payment, prefix=f"paymentables[{n}]")
            written.append(
                {
                    "type": "payments",
                    "id": payment.pk,
                    "action": "updated" if payment.version != before else "unchanged",
                }
            )


@handler(INVOICE_NINJA)
def invoice_ninja(integration: Integration, payload: dict[str, Any]) -> Outcome:
    entity = entity_of(payload)
    written: list[dict[str, Any]] = []
    if entity == "invoice":
        upsert_invoice(integration, payload, written=written)
    elif entity == "payment":
        upsert_payment(integration, payload, written=written)
    elif entity == "client":
        client_id = _text(payload.get("id"), 100)
        company = company_for_client(integration, client_id, payload, written=written)
        if not written:
            written.append({"type": "companies", "id": company.pk, "action": "unchanged"})
    else:
        return Outcome("unknown", "Not an invoice, payment or client: nothing to do.", [], status="ignored")
    verb = "deleted" if payload.get("is_deleted") else "saved"
    return Outcome(
        f"{entity}", f"Invoice Ninja {entity} {_text(payload.get('number') or payload.get('id'), 60)} {verb}.", written
    )
