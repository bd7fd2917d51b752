"""Merge endpoints under /api/v1/: ``POST /<type>/merge/`` (one per registered type, typed with the
type's record schema), ``GET /merges/<id>/`` and ``POST /merges/<id>/undo/``."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api import schema
from rapport.api.representation import detail_queryset, represent
from rapport.api.views import BaseAPIView, api_user, if_match_version, json_response
from rapport.core import registry
from rapport.core.models import to_json_value
from rapport.core.registry import RecordType

from .. import merge as merging
from ..models import Merge


class MergeRequestSerializer(serializers.Serializer):
    survivor = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The record that stays.")
    others = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=merging.MAX_RECORDS - 1,
        help_text="The records merged into it (they go to the recycle bin).",
    )
    fields = serializers.DictField(  # type: ignore[assignment]  # a declared field, not Serializer.fields
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        help_text="Per field (custom fields as `cf_<key>`, child lists such as `emails`), the id of the record "
        "whose value survives; by default the survivor's when it has one, else the first record's that has one.",
    )


class MergeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(help_text="The records' type key.")
    survivor = serializers.IntegerField()
    merged = serializers.ListField(child=serializers.IntegerField(), help_text="The records merged into the survivor.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.IntegerField(), help_text="Fields whose value came from a merged record: {field: id}."
    )
    moved = serializers.IntegerField(help_text="Relations re-pointed to the survivor (records and rows).")
    actor = schema.LinkSerializer(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]  # a declared field, not Field.source
    created_at = serializers.DateTimeField()
    undone_at = serializers.DateTimeField(allow_null=True)


def merge_json(merge: Merge) -> dict[str, Any]:
    moved = sum(len(m.get("rows", [])) if "rows" in m else 1 for m in merge.moves)
    return {
        "id": merge.pk,
        "type": merge.type_key,
        "survivor": merge.survivor_id,
        "merged": merge.merged_ids,
        "fields": merge.choices,
        "moved": moved,
        "actor": {"id": merge.actor_id, "name": merge.actor.display_name} if merge.actor else None,
        "source": merge.source,
        "created_at": to_json_value(merge.created_at),
        "undone_at": to_json_value(merge.undone_at),
    }


def _error(status: int, error: str, exc: merging.MergeError) -> HttpResponse:
    body: dict[str, Any] = {"error": error, "message": str(exc)}
    if status == 400:
        body["fields"] = {exc.field: [str(exc)]}
    return json_response(body, status=status)


def merge_error(exc: merging.MergeError) -> HttpResponse:
    if isinstance(exc, merging.NoSuchRecord):
        return _error(404, "not_found", exc)
    if isinstance(exc, merging.MergeConflict):
        return _error(409, "conflict", exc)
    return _error(400, "invalid", exc)


def _result(merge: Merge, user: Any) -> HttpResponse:
    record = detail_queryset(merge.type_key).get(pk=merge.survivor_id)
    return json_response({"merge": merge_json(merge), "record": represent(record, user)}, headers={"ETag": record.etag})


def _result_serializer(rtype: RecordType) -> type[serializers.Serializer]:
    return type(
        f"{rtype.label}MergeResult",
        (serializers.Serializer,),
        {"merge": MergeSerializer(), "record": schema.record_serializer(rtype)()},
    )


class RecordMergeView(BaseAPIView):
    rtype: RecordType

    def post(self, request: Request) -> HttpResponse:
        user = api_user(request)
        body = MergeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        expected = None
        if request.headers.get("If-Match"):
            survivor = self.rtype.model.objects.visible_to(user, "change").filter(pk=data["survivor"]).first()
            if survivor is None:
                return merge_error(
                    merging.NoSuchRecord(f"There is no {self.rtype.label.lower()} #{data['survivor']}.", "survivor")
                )
            expected = if_match_version(request, survivor.pk, survivor.etag)
        try:
            merge = merging.merge_records(
                self.rtype,
                data["survivor"],
                data["others"],
                choices=data.get("fields") or {},
                actor=user,
                source="api",
                expected_version=expected,
            )
        except merging.MergeError as exc:
            return merge_error(exc)
        return _result(merge, user)


def merge_view(rtype: RecordType) -> type[RecordMergeView]:
    return type(
        f"{rtype.label}MergeView",
        (RecordMergeView,),
        {
            "rtype": rtype,
            "post": extend_schema(
                summary=f"Merge {rtype.label_plural.lower()} into one",
                description="The survivor takes each field's chosen value; every relation to the others moves to "
                "it; the others go to the recycle bin. 404 for a record you may not see or change (survivor) or "
                "delete (others), the same as a missing id. `If-Match` with the survivor's ETag refuses a stale merge.",
                tags=["Merge"],
                parameters=[schema.IF_MATCH, schema.ETAG],
                request=MergeRequestSerializer,
                responses={
                    200: OpenApiResponse(response=_result_serializer(rtype), description="The merge and the survivor"),
                    404: schema.ERROR,
                },
                operation_id=f"{rtype.key}_merge",
            )(_own(RecordMergeView.post)),
        },
    )


def _own(method: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    return wrapper


def _visible_merge(user: Any, pk: int) -> Merge:
    merge = Merge.objects.select_related("actor").filter(pk=pk).first()
    rtype = registry.find(merge.type_key) if merge else None
    if merge is None or rtype is None or not rtype.model.objects.visible_to(user).filter(pk=merge.survivor_id).exists():
        raise Http404
    return merge


MERGE_RESPONSE = OpenApiResponse(response=MergeSerializer, description="The merge")


class MergeDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a merge",
        tags=["Merge"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={200: MERGE_RESPONSE},
        operation_id="merges_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(merge_json(_visible_merge(api_user(request), pk)))


class MergeUndoView(BaseAPIView):
    @extend_schema(
        summary="Undo a merge",
        description="The merged records come back from the recycle bin, the relations the merge moved go back, and "
        "the survivor's fields take their values from before. 409 when the survivor changed since the merge, a "
        "merged record left the bin, or the merge was undone already.",
        tags=["Merge"],
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=None,
        responses={200: MERGE_RESPONSE, 409: schema.ERROR},
        operation_id="merges_undo",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        merge = _visible_merge(user, pk)
        try:
            merge = merging.undo_merge(merge, actor=user, source="api")
        except merging.MergeError as exc:
            return merge_error(exc)
        return json_response(merge_json(merge))
