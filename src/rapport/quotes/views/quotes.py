"""Pages for a deal's line items and quotes: the line-item editor (htmx), the deal's quotes, one
quote with its status buttons, its printable page and its PDF. A quote is visible exactly when
its deal is."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as InvalidInput

from rapport.core import formatting, registry, services, visibility
from rapport.core.errors import PermissionDenied, RecordGone, VersionConflict
from rapport.core.inputs import is_id
from rapport.core.money import minor_units, quantum
from rapport.deals.models import Deal
from rapport.web import display
from rapport.web.common import error_page, page

from .. import pdf, queries
from .. import services as quotes
from ..models import Quote, price, price_all

LINE_KEYS = ("product", "name", "quantity", "unit_price", "discount_percent", "tax_percent")
STALE = "Someone changed this {what} since you opened it. These are the saved {saved}; make your change again."


# --- lookups -------------------------------------------------------------------------------------
def _deal(user: Any, pk: int) -> Deal:
    deal = Deal.objects.visible_to(user).select_related("company").filter(pk=pk).first()
    if deal is None:
        raise Http404("No such deal.")
    return deal


def _quote(user: Any, pk: int) -> Quote:
    quote = queries.visible_quotes(user).select_related("deal", "created_by").filter(pk=pk).first()
    if quote is None:
        raise Http404("No such quote.")
    return quote


def _in_units(value: Decimal | None, currency: str) -> Decimal | None:
    """A stored price (two decimal places in the column) with the currency's own decimals: 1234 for
    JPY, 9000.00 for EUR; a value that does not fit them is left as it is, for the validator to name."""
    if value is None:
        return None
    try:
        fitted = value.quantize(quantum(currency))
    except InvalidOperation:
        return value
    return fitted if fitted == value else value


def _fit(row: dict[str, Any], currency: str) -> dict[str, Any]:
    """An editor row in ``currency``: its unit price with the currency's decimals, its net rounded to them."""
    number = _decimal(row["unit_price"])
    if number is not None and number.is_finite():
        row["unit_price"] = f"{_in_units(number, currency):f}"
    quantity, unit_price = _decimal(row["quantity"]), _decimal(row["unit_price"])
    if quantity is not None and unit_price is not None and quantity.is_finite() and unit_price.is_finite():
        try:
            row["net"] = price(
                {"quantity": quantity, "unit_price": unit_price, "discount_percent": _decimal(row["discount_percent"])},
                currency,
            ).net
        except InvalidOperation:
            row["net"] = None
    return row


def _version(request: HttpRequest) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if is_id(value) else None


# --- the line editor, shared by deals and draft quotes -------------------------------------------
def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _row(item: dict[str, Any], errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """One editor row from a saved line (model) or a posted one (strings)."""
    product = item.get("product")
    row = {
        "product": str(getattr(product, "pk", product) or ""),
        "name": item.get("name") or "",
        "quantity": item.get("quantity"),
        "unit_price": item.get("unit_price"),
        "discount_percent": item.get("discount_percent"),
        "tax_percent": item.get("tax_percent"),
        "errors": {k: v if isinstance(v, list) else [v] for k, v in (errors or {}).items()},
        "net": None,
    }
    for key in ("quantity", "unit_price", "discount_percent", "tax_percent"):
        number = _decimal(row[key])
        if number is not None and not isinstance(row[key], str):
            row[key] = f"{number.normalize():f}" if key != "unit_price" else f"{number:.2f}"
    quantity, unit_price = _decimal(row["quantity"]), _decimal(row["unit_price"])
    if quantity is not None and unit_price is not None:
        row["net"] = price(
            {"quantity": quantity, "unit_price": unit_price, "discount_percent": _decimal(row["discount_percent"])}
        ).net
    return row


def _model_rows(lines: Any) -> list[dict[str, Any]]:
    return [
        _row(
            {
                "product": ln.product_id,
                "name": ln.name,
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "discount_percent": ln.discount_percent,
                "tax_percent": ln.tax_percent,
            }
        )
        for ln in lines
    ]


def _posted(request: HttpRequest) -> list[dict[str, Any]]:
    """Posted rows in page order (reordering is just moving rows); rows left blank are dropped."""
    columns = {k: request.POST.getlist(k) for k in LINE_KEYS}
    count = max((len(v) for v in columns.values()), default=0)
    rows = []
    for i in range(count):
        row = {k: (columns[k][i] if i < len(columns[k]) else "").strip() for k in LINE_KEYS}
        if any(row.values()):
            rows.append(row)
    return rows


def _as_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "product": int(r["product"]) if is_id(str(r["product"])) else None,
            "name": r["name"],
            "quantity": r["quantity"],
            "unit_price": r["unit_price"] or None,
            "discount_percent": r["discount_percent"] or "0",
            "tax_percent": r["tax_percent"] or None,
        }
        for r in rows
    ]


def _row_errors(errors: Any, key: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Spread ``{key: [{field: [...]}, ...]}`` over the rows; anything else is a general message."""
    general: list[str] = []
    per_row = errors.get(key) if isinstance(errors, dict) else None
    out = list(rows)
    if isinstance(per_row, list) and per_row and all(isinstance(e, dict) for e in per_row):
        out = [_row(r, per_row[i] if i < len(per_row) else None) for i, r in enumerate(rows)]
    elif per_row:
        general += [str(e) for e in (per_row if isinstance(per_row, list) else [per_row])]
    for name, value in errors.items() if isinstance(errors, dict) else []:
        if name != key:
            general += [f"{name}: {e}" if name not in ("non_field_errors", "") else str(e) for e in value]
    return out, general


def _totals(rows: list[dict[str, Any]], currency: str | None = None) -> dict[str, Decimal]:
    """The editor's running totals, over the rows complete enough to price."""
    items = [
        {
            "quantity": _decimal(r["quantity"]),
            "unit_price": _decimal(r["unit_price"]),
            "discount_percent": _decimal(r["discount_percent"]),
            "tax_percent": _decimal(r["tax_percent"]),
        }
        for r in rows
    ]
    totals = price_all((i for i in items if i["quantity"] is not None and i["unit_price"] is not None), currency)
    return {"subtotal": totals.net, "tax": totals.tax, "total": totals.total}


def _editor(
    request: HttpRequest,
    *,
    action: str,
    rows: list[dict[str, Any]],
    currency: str,
    version: int,
    can_edit: bool,
    errors: list[str] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    rows = [_fit(row, currency) for row in rows]
    if can_edit:  # each line's product by name in its picker (#id to whoever may not see it)
        names = display.Names(request.user)
        for row in rows:
            names.want_record("products", row["product"])
        names.resolve()
        for row in rows:
            row["product_label"] = names.record_shown("products", row["product"]).text
    return {
        "action": action,
        "rows": rows,
        "currency": currency,
        "version": version,
        "can_edit": can_edit,
        "errors": errors or [],
        "notice": notice,
        "totals": _totals(rows, currency),
        "places": minor_units(currency),
        "locale": formatting.current_locale(),
    }


# --- deal line items -----------------------------------------------------------------------------
@page
def line_items(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    deal = _deal(user, pk)
    can_edit = visibility.can(user, deal, "change")
    rows = _model_rows(deal.line_items.all())
    status = 200
    notice = ""
    errors: list[str] = []
    if request.method == "POST":
        if not can_edit:
            return error_page(request, "You may not change this deal.", status=403, back=f"/deals/{deal.pk}/")
        posted = _posted(request)
        serializer = registry.get("deals").get_serializer_class()(
            deal, data={"line_items": _as_data(posted)}, partial=True, context={"actor": user}
        )
        if not serializer.is_valid():
            rows, errors = _row_errors(serializer.errors, "line_items", [_row(r) for r in posted])
            status = 400
        else:
            try:
                services.update_record(
                    deal, serializer.validated_data, actor=user, source="ui", expected_version=_version(request)
                )
            except VersionConflict:
                deal = _deal(user, pk)
                rows = _model_rows(deal.line_items.all())
                errors = [STALE.format(what="deal", saved="line items")]
                status = 409
            except (ValidationError, PermissionDenied, RecordGone) as exc:
                rows = [_row(r) for r in posted]
                errors = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
                status = 400
            else:
                deal = _deal(user, pk)
                rows = _model_rows(deal.line_items.all())
                notice = "Line items saved."
                if not request.headers.get("HX-Request"):
                    messages.success(request, notice)
                    return redirect(f"/deals/{deal.pk}/line-items/")
    editor = _editor(
        request,
        action=f"/deals/{deal.pk}/line-items/",
        rows=rows,
        currency=deal.currency,
        version=deal.version,
        can_edit=can_edit,
        errors=errors,
        notice=notice,
    )
    context = {"deal": deal, "editor": editor, "tab": "line_items"}
    if request.headers.get("HX-Request"):
        return render(request, "quotes/line_items_editor.html", context, status=status)
    return render(request, "quotes/line_items_page.html", context, status=status)


# --- quotes of a deal ----------------------------------------------------------------------------
@page
def deal_quotes(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    deal = _deal(user, pk)
    context = {
        "deal": deal,
        "quotes": list(deal.quotes.order_by("-id")),
        "can_change": visibility.can(user, deal, "change"),
        "has_lines": deal.line_items.exists(),
        "tab": "quotes",
    }
    return render(request, "quotes/quote_list.html", context)


@page
@require_POST
def create_quote(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    deal = _deal(user, pk)
    raw = request.POST.get("valid_days", "30").strip() or "30"
    back = f"/deals/{deal.pk}/quotes/"
    if not is_id(raw):
        return error_page(request, "Valid for: give a number of days, such as 30.", back=back)
    try:
        quote = quotes.create_quote_from_deal(deal, actor=user, valid_days=int(raw), source="ui")
    except ValidationError as exc:
        return error_page(request, " ".join(exc.messages), back=back)
    except (PermissionDenied, RecordGone) as exc:
        return error_page(request, str(exc), status=403, back=back)
    messages.success(request, f"Quote {quote.number} created.")
    return redirect(f"/quotes/{quote.pk}/")


# --- one quote -----------------------------------------------------------------------------------
def _quote_context(request: HttpRequest, quote: Quote, **editor: Any) -> dict[str, Any]:
    can_change = visibility.can(request.user, quote.deal, "change")
    can_edit = can_change and quote.status == "draft"
    rows = editor.pop("rows", None)
    if rows is None:
        rows = _model_rows(quote.lines.all())
    return {
        "quote": quote,
        "deal": quote.deal,
        "can_change": can_change,
        "editor": _editor(
            request,
            action=f"/quotes/{quote.pk}/lines/",
            rows=rows,
            currency=quote.currency,
            version=quote.version,
            can_edit=can_edit,
            **editor,
        ),
    }


@page
def quote_detail(request: HttpRequest, pk: int) -> HttpResponse:
    quote = _quote(request.user, pk)
    return render(request, "quotes/quote_detail.html", _quote_context(request, quote))


@page
@require_POST
def quote_lines(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    quote = _quote(user, pk)
    posted = _posted(request)
    status = 200
    try:
        lines = quotes.clean_lines(_as_data(posted), quote.currency, actor=request.user)
        quote = quotes.update_quote_lines(quote, lines, actor=user, expected_version=_version(request), source="ui")
    except InvalidInput as exc:
        rows, errors = _row_errors(exc.detail, "lines", [_row(r) for r in posted])
        context = _quote_context(request, quote, rows=rows, errors=errors)
        status = 400
    except VersionConflict:
        quote = _quote(user, pk)
        context = _quote_context(request, quote, errors=[STALE.format(what="quote", saved="lines")])
        status = 409
    except (ValidationError, PermissionDenied, RecordGone) as exc:
        message_list = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        context = _quote_context(request, quote, rows=[_row(r) for r in posted], errors=message_list)
        status = 403 if isinstance(exc, PermissionDenied) else 400
    else:
        quote = _quote(user, pk)
        if not request.headers.get("HX-Request"):
            messages.success(request, "Quote lines saved.")
            return redirect(f"/quotes/{quote.pk}/")
        context = _quote_context(request, quote, notice="Quote lines saved.")
    if request.headers.get("HX-Request"):
        return render(request, "quotes/line_items_editor.html", context, status=status)
    return render(request, "quotes/quote_detail.html", context, status=status)


@page
@require_POST
def quote_details(request: HttpRequest, pk: int) -> HttpResponse:
    from ..api.views import QuoteDetailsSerializer

    user = request.user
    quote = _quote(user, pk)
    fields: dict[str, Any] = {k: request.POST.get(k, "") for k in quotes.DETAIL_FIELDS if k in request.POST}
    if "valid_until" in fields and not fields["valid_until"]:
        fields["valid_until"] = None
    body = QuoteDetailsSerializer(data=fields, partial=True)
    errors: list[str] = []
    if body.is_valid():
        try:
            quotes.update_quote_details(
                quote, body.validated_data, actor=user, expected_version=_version(request), source="ui"
            )
        except VersionConflict:
            errors = [STALE.format(what="quote", saved="details")]
        except (ValidationError, PermissionDenied, RecordGone) as exc:
            errors = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        else:
            messages.success(request, "Quote details saved.")
            return redirect(f"/quotes/{quote.pk}/")
    else:
        errors = [f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in body.errors.items()]
    context = _quote_context(request, _quote(user, pk))
    context["details_errors"] = errors
    return render(
        request,
        "quotes/quote_detail.html",
        context,
        status=409 if errors and errors[0].startswith("Someone changed") else 400,
    )


ACTIONS = {"send": "sent", "accept": "accepted", "decline": "declined"}


@page
@require_POST
def quote_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = request.user
    quote = _quote(user, pk)
    back = f"/quotes/{quote.pk}/"
    try:
        if action == "send":
            quote = quotes.send_quote(quote, actor=user, expected_version=_version(request))
        elif action == "accept":
            won = request.POST.get("mark_deal_won") == "on"
            quote = quotes.accept_quote(quote, actor=user, mark_deal_won=won, expected_version=_version(request))
        elif action == "decline":
            quote = quotes.decline_quote(quote, actor=user, expected_version=_version(request))
        else:
            raise Http404("No such action.")
    except VersionConflict:
        messages.error(request, "Someone changed this quote since you opened it; check it and try again.")
        return redirect(back)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    except (PermissionDenied, RecordGone) as exc:
        return error_page(request, str(exc), status=403, back=back)
    text = {"sent": "marked as sent", "accepted": "accepted", "declined": "declined"}[quote.status]
    extra = " The deal is won." if quote.status == "accepted" and quote.deal.status == "won" else ""
    messages.success(request, f"Quote {quote.number} {text}.{extra}")
    return redirect(back)


@page
def quote_print(request: HttpRequest, pk: int) -> HttpResponse:
    quote = _quote(request.user, pk)
    name, address = pdf.seller()
    context = {
        "quote": quote,
        "lines": [
            {
                "name": ln.name,
                "quantity": pdf.format_number(ln.quantity),
                "unit_price": ln.unit_price,
                "discount": pdf.format_number(ln.discount_percent) if ln.discount_percent else "",
                "net": ln.net,
                "tax_percent": pdf.format_number(ln.tax_percent),
            }
            for ln in quote.lines.all()
        ],
        "seller_name": name,
        "seller_address": address,
        "address_lines": [x for x in quote.customer_address.splitlines() if x.strip()],
    }
    return render(request, "quotes/quote_print.html", context)


@page
def quote_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    quote = _quote(request.user, pk)
    return pdf_response(quote)


def pdf_response(quote: Quote) -> HttpResponse:
    response = HttpResponse(pdf.build_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{pdf.filename(quote)}"'
    response["Cache-Control"] = "private, no-store"
    return response
