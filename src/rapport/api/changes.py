"""``GET /api/v1/<type>/changes/``: the sync cursor of every registered type. Each page names the
records that changed after the cursor — as the API shows them, or as a tombstone once in the recycle
bin — each once, at its latest change; a client that keeps ``cursor`` mirrors the type by polling.
The positions come from the event log (core/changes.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.core import changes, listing
from rapport.core.models import to_json_value
from rapport.core.registry import RecordType

from . import schema
from .representation import detail_queryset, represent
from .views import BaseAPIView, api_user, json_response, page_link

PARAMS = ("cursor", "page_size")


class RecordChangesView(BaseAPIView):
    rtype: RecordType

    def get(self, request: Request) -> HttpResponse:
        rtype, user = self.rtype, api_user(request)
        params = request.query_params
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise listing.QueryError(unknown[0], "unknown parameter; use cursor and page_size.")
        page = changes.changed_records(rtype.key, params.get("cursor"), listing.page_size(params))
        ids = list(page.events)
        # The records first, then which of them are still at the event this page names: a record
        # written between the two reads is left for the page of its newer event, so what is shown
        # here is its state as of this page's event (never a newer state shown twice).
        records: Any = detail_queryset(rtype.key)
        live = {r.pk: r for r in records.visible_to(user).filter(pk__in=ids)} if ids else {}
        missing = [pk for pk in ids if pk not in live]
        binned = (
            dict(
                rtype.model.objects.visible_to(user, deleted=True)
                .filter(pk__in=missing)
                .values_list("pk", "deleted_at")
            )
            if missing
            else {}
        )
        current = changes.latest_of(rtype.key, {pk: page.events[pk] for pk in ids if pk in live or pk in binned})
        results: list[dict[str, Any]] = []
        for pk in ids:
            if pk not in current:
                continue
            if pk in live:
                results.append({"id": pk, "change": "changed", "record": represent(live[pk], user), "deleted_at": None})
            else:  # in the bin and the user may see it there: a tombstone
                results.append({"id": pk, "change": "deleted", "record": None, "deleted_at": to_json_value(binned[pk])})
        return json_response(
            {
                "results": results,
                "next": page_link(request, page.cursor) if page.more else None,
                "previous": None,
                "cursor": page.cursor,
            }
        )


def changes_page_serializer(rtype: RecordType) -> type[serializers.Serializer]:
    """``<Label>ChangesPage``: the page shape of every list plus the cursor to resume from."""
    item = type(
        f"{rtype.label}ChangeSerializer",
        (serializers.Serializer,),
        {
            "id": serializers.IntegerField(),
            "change": serializers.ChoiceField(
                choices=["changed", "deleted"],
                help_text="changed: created, updated or restored (``record`` is its current state); "
                "deleted: moved to the recycle bin (a tombstone, ``record`` is null).",
            ),
            "record": schema.record_serializer(rtype)(allow_null=True),
            "deleted_at": serializers.DateTimeField(allow_null=True),
            "__doc__": f"A {rtype.label.lower()} that changed after the cursor, at its latest change.",
        },
    )
    return type(
        f"{rtype.label}ChangesPageSerializer",
        (schema.page_serializer(f"{rtype.label}ChangesPageBase", item),),
        {
            "cursor": serializers.CharField(
                help_text="Where this page ends: send it back as `cursor` for the changes after it. "
                "Given on every page, also the last one (`next` is null there): keep it and poll."
            ),
        },
    )


def changes_view(rtype: RecordType) -> type[RecordChangesView]:
    label = rtype.label.lower()

    def get(self: Any, request: Request) -> HttpResponse:
        return RecordChangesView.get(self, request)

    return type(
        f"{rtype.label}ChangesView",
        (RecordChangesView,),
        {
            "rtype": rtype,
            "get": extend_schema(
                summary=f"Sync: {rtype.label_plural.lower()} changed after a cursor",
                description=f"Every {label} created, updated, restored or moved to the recycle bin after "
                "`cursor` (from the start without one) that you may see, each once at its latest change, in "
                "the order the changes were committed. Follow `next` while it is there, keep `cursor` and ask "
                "again later for what changed since. A page may hold fewer entries than `page_size` (a "
                "record changed again later comes with its later change).",
                tags=[rtype.label_plural],
                parameters=[
                    OpenApiParameter(
                        "cursor", str, description="The `cursor` of an earlier page; none to start from the beginning."
                    ),
                    OpenApiParameter(
                        "page_size",
                        listing.PAGE_SIZE_SCHEMA,
                        description=f"Changes read per page: 1–{listing.MAX_PAGE_SIZE}, "
                        f"default {listing.DEFAULT_PAGE_SIZE}.",
                    ),
                ],
                responses={200: changes_page_serializer(rtype)},
                operation_id=f"{rtype.key}_changes",
            )(get),
        },
    )
