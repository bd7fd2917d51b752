"""The "Invoices" section of a company's or a deal's page (loaded by htmx): the visible invoices with their
status and what is outstanding."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from rapport.contacts.models import Company
from rapport.core.inputs import is_id
from rapport.deals.models import Deal
from rapport.web.common import page, signed_in

from .. import queries


@page
def invoices_section(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    company_raw, deal_raw = request.GET.get("company", ""), request.GET.get("deal", "")
    if user.scope_for("invoices", "view") is None:
        return HttpResponse("")
    if is_id(company_raw):
        if not Company.objects.visible_to(user).filter(pk=int(company_raw)).exists():
            raise Http404("No such company.")
        context = queries.invoices_for(user, company_id=int(company_raw))
        context.update(all_url=f"/invoices/?company={company_raw}", new_url=f"/invoices/new/?company={company_raw}")
    elif is_id(deal_raw):
        deal = Deal.objects.visible_to(user).filter(pk=int(deal_raw)).first()
        if deal is None:
            raise Http404("No such deal.")
        context = queries.invoices_for(user, deal_id=deal.pk)
        new_url = f"/invoices/new/?deal={deal.pk}" + (f"&company={deal.company_id}" if deal.company_id else "")
        context.update(all_url=f"/invoices/?deal={deal_raw}", new_url=new_url)
    else:
        return HttpResponse("company or deal: give the id of one.", status=400, content_type="text/plain")
    context["can_add"] = user.scope_for("invoices", "add") is not None
    return render(request, "invoices/section_rows.html", context)
