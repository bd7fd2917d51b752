"""The /reports/ index: where the standard reports, the builder and dashboards start."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from rapport.web.common import page, signed_in

from .. import standard


@page
def reports_index(request: HttpRequest) -> HttpResponse:
    return render(request, "reports/index.html", {"standard_reports": standard.available(signed_in(request))})
