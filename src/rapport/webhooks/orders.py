"""The ``order`` event: when a deal is won, what an invoicing tool needs to create the invoice — the deal's
line items priced as on its quotes, its company with its address and identifiers, and its contacts (the
first one as the order's contact), as the subscription's creator may see them (a company or person they may
not see is sent as its id only)."""

from __future__ import annotations

from typing import Any

from rapport.core.models import to_json_value
from rapport.core.visibility import sees


def _company(company: Any, viewer: Any) -> dict[str, Any] | None:
    if company is None:
        return None
    if not sees(viewer, "companies", company.owner_id, company.team_id):
        return {"id": company.pk, "name": None}
    return {
        "id": company.pk,
        "name": company.name,
        "domain": company.domain,
        "website": company.website,
        "phone": company.phone,
        "street": company.street,
        "city": company.city,
        "postal_code": company.postal_code,
        "country": company.country,
    }


def _person(person: Any, role: str, viewer: Any) -> dict[str, Any]:
    if not sees(viewer, "people", person.owner_id, person.team_id):
        return {"id": person.pk, "name": None, "role": role}
    return {
        "id": person.pk,
        "name": person.full_name,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.primary_email,
        "phone": person.primary_phone,
        "job_title": person.job_title,
        "role": role,
    }


def order_payload(deal: Any, viewer: Any) -> dict[str, Any]:
    """The order of a won deal (``deal`` read with its company, contacts and line items)."""
    lines = []
    for item in deal.line_items.all():
        price = item.price(deal.currency)
        lines.append(
            {
                "position": item.position,
                "product": (
                    {"id": item.product_id, "name": item.product.name, "sku": getattr(item.product, "sku", "")}
                    if item.product_id and item.product is not None
                    else None
                ),
                "name": item.name,
                "quantity": to_json_value(item.quantity),
                "unit_price": to_json_value(item.unit_price),
                "discount_percent": to_json_value(item.discount_percent),
                "tax_percent": to_json_value(item.tax_percent),
                "net": to_json_value(price.net),
                "tax": to_json_value(price.tax),
            }
        )
    contacts = [_person(c.person, c.role, viewer) for c in deal.deal_contacts.all()]
    return {
        "deal": {"id": deal.pk, "title": deal.title, "closed_on": to_json_value(deal.closed_on)},
        "currency": deal.currency,
        "amount": to_json_value(deal.amount),
        "company": _company(deal.company, viewer),
        "contact": contacts[0] if contacts else None,
        "contacts": contacts,
        "line_items": lines,
        "owner": (
            {"id": deal.owner_id, "name": deal.owner.get_full_name() or deal.owner.get_username()}
            if deal.owner_id and deal.owner is not None
            else None
        ),
    }


def won_deal(deal_id: int, viewer: Any) -> Any | None:
    """The won deal ``viewer`` may see, read for its order, or None."""
    from rapport.deals.models import Deal

    return (
        Deal.objects.visible_to(viewer)
        .filter(pk=deal_id, status="won")
        .select_related("company", "owner")
        .prefetch_related("deal_contacts__person", "line_items__product")
        .first()
    )
