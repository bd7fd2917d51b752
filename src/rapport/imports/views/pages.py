"""The import pages: choose a type and upload (drag and drop or a file input) with the history of
imports; then one page per import that walks it through mapping, dry run, import with progress, undo."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from rapport.core import registry
from rapport.core.errors import PermissionDenied
from rapport.core.export import escape_cell
from rapport.core.listing import QueryError
from rapport.web.common import error_page, object_page, page, signed_in

from .. import queries, services
from ..models import Import, ImportRejection


def _importable_or_403(request: HttpRequest) -> list[Any]:
    types = services.importable_types(signed_in(request))
    if not types:
        raise Http404("No such page.")
    return types


@page
def index(request: HttpRequest) -> HttpResponse:
    """Choose a type, upload a file; below, the imports made so far with their status."""
    user = signed_in(request)
    types = _importable_or_403(request)
    chosen = request.GET.get("type") or request.POST.get("type") or types[0].key
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, "Choose a file to import.")
            return redirect(f"/import/?type={chosen}")
        try:
            imp = services.create_import(actor=user, type_key=chosen, upload=upload, filename=upload.name or "")
        except services.ImportInputError as exc:
            messages.error(request, f"{upload.name}: {exc.message}")
            return redirect(f"/import/?type={chosen}")
        return redirect(f"/import/{imp.pk}/")
    try:
        history = object_page(request, queries.visible_imports(user), "id")
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back="/import/")
    labels = {t.key: t.label_plural for t in registry.all_types()}
    return render(
        request,
        "imports/index.html",
        {
            "types": types,
            "chosen": chosen if any(t.key == chosen for t in types) else types[0].key,
            "history": [(imp, labels.get(imp.type_key, imp.type_key)) for imp in history.objects],
            "pager": history,
        },
    )


def _get(request: HttpRequest, pk: int) -> Import:
    imp = queries.visible_imports(signed_in(request)).filter(pk=pk).first()
    if imp is None:
        raise Http404("No such import.")
    return imp


@page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An import: its mapping while it can change, the dry run's summary and rejected rows, the
    progress of the import (htmx polls the panel), and undo."""
    imp = _get(request, pk)
    rtype = registry.get(imp.type_key)
    context: dict[str, Any] = {"imp": imp, "rtype": rtype, "busy": imp.status in Import.BUSY}
    if request.headers.get("HX-Request"):
        response = render(request, "imports/_progress.html", context)
        if not context["busy"]:  # the phase polled for is over: the whole page shows its outcome
            response["HX-Refresh"] = "true"
        return response
    if imp.status in Import.EDITABLE:
        info = queries.mapping_info(imp)
        context["info"] = info
        context["constants"] = list(imp.constants.items())
    try:
        rejections = object_page(request, ImportRejection.objects.filter(job=imp), "id", descending=False)
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=f"/import/{imp.pk}/")
    context["rejections"] = rejections
    return render(request, "imports/detail.html", context)


def _fail_back(request: HttpRequest, imp: Import, exc: Exception) -> HttpResponse:
    message = exc.message if isinstance(exc, services.ImportInputError) else str(exc)
    messages.error(request, message[:1].upper() + message[1:])
    return redirect(f"/import/{imp.pk}/")


@page
@require_POST
def mapping(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the mapping and settings, then: start the dry run, save the mapping under a name, or
    apply a saved one (the button pressed says which)."""
    imp = _get(request, pk)
    user = signed_in(request)
    post = request.POST
    try:
        if post.get("apply_saved"):
            services.apply_saved_mapping(imp, post["apply_saved"], actor=user)
            messages.success(request, f"Mapping “{post['apply_saved']}” applied.")
            return redirect(f"/import/{imp.pk}/")
        targets = [post.get(f"target_{i}", "") for i in range(len(imp.headers))]
        constants = {}
        for key, value in zip(post.getlist("constant_field"), post.getlist("constant_value"), strict=False):
            if key and value.strip():
                constants[key] = value.strip()
        services.set_mapping(
            imp,
            actor=user,
            mapping=targets,
            constants=constants,
            on_match=post.get("on_match", "skip"),
            match_field=post.get("match_field", ""),
            create_companies=post.get("create_companies") == "on",
            tag_separator=post.get("tag_separator", ","),
        )
        if post.get("save_as", "").strip() and "save" in post:
            services.save_mapping(imp, post["save_as"], actor=user)
            messages.success(request, f"Mapping saved as “{post['save_as'].strip()}”.")
            return redirect(f"/import/{imp.pk}/")
        services.start_check(imp, actor=user)
    except (services.ImportInputError, PermissionDenied) as exc:
        return _fail_back(request, imp, exc)
    return redirect(f"/import/{imp.pk}/")


def _action(name: str) -> Any:
    actions = {"run": services.start_run, "cancel": services.cancel, "undo": services.start_undo}

    @page
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        imp = _get(request, pk)
        try:
            actions[name](imp, actor=signed_in(request))
        except (services.ImportInputError, PermissionDenied) as exc:
            return _fail_back(request, imp, exc)
        return redirect(f"/import/{imp.pk}/")

    view.__name__ = f"import_{name}"
    return view


run = _action("run")
cancel = _action("cancel")
undo = _action("undo")


@page
def rejected_csv(request: HttpRequest, pk: int) -> Any:
    """The rejected rows as CSV: the file's own columns and an Error column, ready to fix and import
    again; cells a spreadsheet would run as a formula are neutralised (core.export's rule)."""
    imp = _get(request, pk)

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([escape_cell(h) for h in [*imp.headers, "Error"]])
        last_line, reasons, cells = None, [], []
        for r in ImportRejection.objects.filter(job=imp).order_by("line", "id").iterator(chunk_size=1000):
            if r.line != last_line and last_line is not None:
                writer.writerow([escape_cell(c) for c in [*cells, "; ".join(reasons)]])
                reasons = []
            last_line, cells = r.line, list(r.cells) + [""] * (len(imp.headers) - len(r.cells))
            where = f"{r.column}: " if r.column else ""
            reasons.append(f"line {r.line}: {where}{r.reason}")
            if out.tell() > 64 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
        if last_line is not None:
            writer.writerow([escape_cell(c) for c in [*cells, "; ".join(reasons)]])
        yield out.getvalue()

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stem = re.sub(r"[^\w.-]", "_", imp.filename.rsplit(".", 1)[0])[:80] or "import"
    response["Content-Disposition"] = f'attachment; filename="{stem}-rejected.csv"'
    return response
