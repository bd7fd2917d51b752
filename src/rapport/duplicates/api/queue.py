"""Duplicates endpoints under /api/v1/: check a record for likely duplicates before creating it, the review queue, and
"Not a duplicate"."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api import schema
from rapport.api.views import BaseAPIView, api_user, json_response, match_json, page_link
from rapport.core import listing
from rapport.core.errors import PermissionDenied
from rapport.core.registry import RecordType

from .. import finder, queries, services
from ..models import DuplicateCandidate

TAG = ["Duplicates"]


class DuplicateCheckView(BaseAPIView):
    """``POST /api/v1/<type>/duplicates/``: the records you may view that are likely the same as the
    body (a create body; only its identifying fields matter, none is required). Creates nothing."""

    rtype: RecordType

    def post(self, request: Request) -> HttpResponse:
        rtype = self.rtype
        user = api_user(request)
        if user.scope_for(rtype.key, "view") is None:
            raise PermissionDenied(f"You may not view {rtype.label_plural.lower()}.")
        serializer = rtype.get_serializer_class()(data=request.data, partial=True, context={"actor": user})
        serializer.is_valid(raise_exception=True)
        found = finder.likely_duplicates(rtype, serializer.validated_data, actor=user)
        return json_response({"results": [match_json(rtype, m) for m in found]})


def check_view_for(rtype: RecordType) -> Any:
    return type(
        f"{rtype.label}DuplicateCheckView",
        (DuplicateCheckView,),
        {
            "rtype": rtype,
            "post": extend_schema(
                summary=f"Likely duplicates of a {rtype.label.lower()} (creates nothing)",
                description="The body is like a create's; none of its fields is required. The answer lists "
                f"the {rtype.label_plural.lower()} you may view that score at least "
                f"{finder.THRESHOLD} (best first, at most 5), with the reasons.",
                tags=TAG,
                request=rtype.get_serializer_class(),
                responses={200: schema.DuplicateMatchesSerializer},
                operation_id=f"{rtype.key}_duplicates_check",
            )(_copy(DuplicateCheckView.post)),
        },
    )


def _copy(method: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    return wrapper


class PairSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(help_text="The record type: people, companies…")
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="The two records, smaller id first.")
    names = serializers.ListField(child=serializers.CharField())
    score = serializers.FloatField(min_value=0, max_value=1)
    reasons = serializers.ListField(child=serializers.CharField())
    found_by = serializers.ChoiceField(choices=[c for c, _ in DuplicateCandidate.FOUND_BY])
    found_at = serializers.DateTimeField()


class PairPageSerializer(serializers.Serializer):
    results = PairSerializer(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


def pair_json(view: queries.PairView) -> dict[str, Any]:
    p = view.pair
    return {
        "id": p.pk,
        "type": p.type_key,
        "ids": [p.record_a, p.record_b],
        "names": [view.left.title, view.right.title],
        "score": p.score,
        "reasons": list(p.reasons),
        "found_by": p.found_by,
        "found_at": p.found_at,
    }


class DuplicateQueueView(BaseAPIView):
    @extend_schema(
        summary="Likely duplicate pairs waiting for review, best first",
        description="Open pairs whose two records you may view (a pair with a record in the recycle bin, "
        "merged away or of another team is left out).",
        tags=TAG,
        parameters=[
            OpenApiParameter("type", str, description="Only pairs of this record type."),
            schema.CURSOR,
            OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA),
        ],
        responses={200: PairPageSerializer},
        operation_id="duplicates_list",
    )
    def get(self, request: Request) -> HttpResponse:
        user = api_user(request)
        params = request.query_params
        unknown = set(params) - {"type", "cursor", "page_size"}
        if unknown:
            raise listing.QueryError(sorted(unknown)[0], "unknown parameter; use type, cursor, page_size.")
        types = queries.viewable_types(user)
        type_key = params.get("type", "")
        if type_key and type_key not in {t.key for t in types}:
            raise listing.QueryError("type", f"one of: {', '.join(t.key for t in types)}.")
        qs = queries.visible_pairs(user, type_key)
        page = listing.paginate(
            qs,
            listing.Ordering(key="score", path="score", descending=True),
            params.get("cursor") or None,
            listing.page_size(params),
            fields=["id", "score"],
        )
        ids = [row["id"] for row in page.rows]
        by_id = qs.filter(pk__in=ids).in_bulk() if ids else {}
        views = queries.pair_views([by_id[pk] for pk in ids], user)
        return json_response(
            {
                "results": [pair_json(v) for v in views],
                "next": page_link(request, page.next_cursor),
                "previous": page_link(request, page.previous_cursor),
            }
        )


class DuplicateDismissView(BaseAPIView):
    @extend_schema(
        summary="Not a duplicate: the pair leaves the queue for good",
        tags=TAG,
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        request=None,
        responses={200: PairSerializer},
        operation_id="duplicates_dismiss",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        candidate = DuplicateCandidate.objects.filter(pk=pk).first()
        if candidate is None or not queries.visible_pairs(user, candidate.type_key).filter(pk=pk).exists():
            raise Http404
        views = queries.pair_views([candidate], user)
        services.dismiss(candidate, actor=user)
        return json_response(pair_json(views[0]))
