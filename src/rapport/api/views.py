"""Generic REST endpoints for every registered record type.

Reads go through the shared list query and projection and are encoded with orjson (DESIGN.md
§12); writes go through the type's serializer and the write services.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

import orjson
from django.db import transaction
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, permissions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from rapport.accounts.models import ApiToken, User
from rapport.core import listing, projection, registry, search, services
from rapport.core.children import prefetch_children, record_by_id
from rapport.core.errors import PermissionDenied, VersionConflict
from rapport.core.models import Event
from rapport.core.registry import RecordType
from rapport.core.visibility import sees

from . import schema
from .models import IdempotencyKey
from .representation import detail_queryset, represent
from .throttle import WindowRateThrottle

ETAG_RE = re.compile(r'^(?:W/)?"(\d+)-(\d+)"$')


def api_user(request: Any) -> User:
    """The user of an authenticated API request (every view behind BaseAPIView has one)."""
    return cast(User, request.user)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    # Django keeps UTC; a naive datetime read straight from SQLite is UTC too.
    response = HttpResponse(
        orjson.dumps(data, default=_json_default, option=orjson.OPT_NAIVE_UTC),
        status=status,
        content_type="application/json",
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money stays exact: "1250.00"
    raise TypeError(f"cannot encode {type(value).__name__}")


def if_match_version(request: Request, pk: int, current_etag: str) -> int | None:
    """The version an ``If-Match: "<id>-<version>"`` header expects, None without one (or ``*``);
    an ETag of another record or an unreadable one is stale (412 with the current ETag)."""
    header = (request.headers.get("If-Match") or "").strip()
    if not header or header == "*":
        return None
    match = ETAG_RE.match(header)
    if not match or int(match.group(1)) != pk:
        raise VersionConflict(current_etag)
    return int(match.group(2))


def page_link(request: Request, cursor: str | None) -> str | None:
    """The URL of the page at ``cursor``: this request's parameters with ``cursor`` replaced."""
    if cursor is None:
        return None
    params = [(k, v) for k in request.query_params for v in request.query_params.getlist(k) if k != "cursor"]
    params.append(("cursor", cursor))
    return request.build_absolute_uri(request.path) + "?" + urlencode(params)


def page_response(
    request: Request, results: list[Any], next_cursor: str | None, previous_cursor: str | None = None
) -> HttpResponse:
    """The one page shape of every API list (schema.page_serializer): ``{results, next, previous}``."""
    return json_response(
        {
            "results": results,
            "next": page_link(request, next_cursor),
            "previous": page_link(request, previous_cursor),
        }
    )


def object_page(
    request: Request, qs: Any, path: str, *, descending: bool = True
) -> tuple[list[Any], str | None, str | None]:
    """A keyset page of model objects over (``path``, id) for the hand-written lists, with the
    ``cursor`` and ``page_size`` of every list (``core.listing.object_page``); objects come back in page order."""
    page = listing.object_page(qs, path, request.query_params, descending=descending)
    return page.objects, page.next_cursor, page.previous_cursor


class TokenScopePermission(permissions.BasePermission):
    """Read-only tokens may only read."""

    message = "This API token is read-only."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and token.scope == ApiToken.SCOPE_READ:
            return request.method in permissions.SAFE_METHODS
        return True


class KeptNegotiation(DefaultContentNegotiation):
    """DRF's choice of renderer, kept per Accept header and renderers: the same answer without parsing
    the header and ranking media types on every request (a 406 is worked out, and refused, every time)."""

    chosen: dict[tuple[str, tuple[type, ...]], tuple[int, str]] = {}
    KEEP = 256  # Accept headers remembered at most (they come from clients)

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        if format_suffix or self.settings.URL_FORMAT_OVERRIDE:
            return super().select_renderer(request, renderers, format_suffix)
        key = (request.META.get("HTTP_ACCEPT", "*/*"), tuple(type(r) for r in renderers))
        found = self.chosen.get(key)
        if found is None:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            found = (renderers.index(renderer), media_type)
            if len(self.chosen) < self.KEEP:
                self.chosen[key] = found
        return renderers[found[0]], found[1]


class BaseAPIView(APIView):
    permission_classes = [permissions.IsAuthenticated, TokenScopePermission]
    throttle_classes = [WindowRateThrottle]
    content_negotiation_class = KeptNegotiation


class SettingsAPIView(BaseAPIView):
    """Endpoints over settings (pipelines and stages, exchange rates, quotas): whoever is signed in
    reads what they may, only settings managers write — checked here, before the handler, for every
    unsafe method. ``settings_subject`` names what in the 403."""

    settings_subject = "settings"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method not in permissions.SAFE_METHODS and not api_user(request).can_manage_settings():
            raise PermissionDenied(f"Only administrators can change {self.settings_subject}.")


def get_or_404(queryset: Any, pk: Any) -> Any:
    """The row ``pk`` of ``queryset`` (already narrowed to what the user may see), or 404: the same
    answer for a missing row and one the user may not see."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


IDEMPOTENCY_TTL = timedelta(hours=24)


def idempotent_create(request: Request, create: Any) -> HttpResponse:
    """Run ``create()`` once per ``Idempotency-Key``: a retry with the same key and body gets the
    stored answer; the same key with another body is refused (422).

    The key is claimed first, by inserting its row with ON CONFLICT DO NOTHING in the create's own
    transaction: a second request with the same key arriving while the first is still running
    waits on that row (PostgreSQL waits for the inserting transaction; SQLite's writer lock queues
    it) and then replays the first answer, instead of creating twice or failing on the unique key."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return create()
    if len(key) > 200:
        raise listing.QueryError("Idempotency-Key", "use at most 200 characters.")
    user = api_user(request)
    digest = hashlib.sha256(request.body).hexdigest()
    with transaction.atomic():
        IdempotencyKey.objects.filter(created_at__lt=timezone.now() - IDEMPOTENCY_TTL).delete()
        claim = IdempotencyKey(user=user, key=key, path=request.path, request_hash=digest, status=0, response=b"")
        IdempotencyKey.objects.bulk_create([claim], ignore_conflicts=True)
        stored = IdempotencyKey.objects.select_for_update().get(user=user, key=key)
        if stored.status:  # an answer stored by an earlier request with this key
            if stored.request_hash != digest or stored.path != request.path:
                return json_response(
                    {
                        "error": "idempotency_mismatch",
                        "message": "This Idempotency-Key was used with another request body or endpoint.",
                    },
                    status=422,
                )
            response = HttpResponse(bytes(stored.response), status=stored.status, content_type="application/json")
            for name, value in stored.headers.items():
                response[name] = value
            response["Idempotent-Replayed"] = "true"
            return response
        # Our own claim: answers below 500 are kept for a retry; a failure gives the key back.
        response = create()
        if response.status_code < 500:
            stored.status = response.status_code
            stored.response = response.content
            stored.headers = {k: response[k] for k in ("ETag", "Location") if response.has_header(k)}
            stored.save(update_fields=["status", "response", "headers"])
        else:
            stored.delete()
        return response


def _page_size_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "page_size",
        listing.PAGE_SIZE_SCHEMA,
        description=f"1–{listing.MAX_PAGE_SIZE}, default {listing.DEFAULT_PAGE_SIZE}.",
    )


def _filter_parameters(rtype: RecordType) -> list[OpenApiParameter]:
    params = [
        schema.CURSOR,
        _page_size_parameter(),
        OpenApiParameter(
            "ordering", str, description="One of: " + ", ".join(f"{k}, -{k}" for k in rtype.sortable_keys)
        ),
        OpenApiParameter(
            listing.SEARCH_PARAM,
            {"type": "string", "maxLength": search.MAX_QUERY},
            description="Search within the list: words (by prefix) or 3+ characters of an email, phone or "
            "domain, as global search matches them; combined with the other filters.",
        ),
    ]
    for f in rtype.filters:
        if f.kind == "date_range":
            params += [
                OpenApiParameter(f"{f.name}__after", OpenApiTypes.DATE, description=f"{f.label} on or after."),
                OpenApiParameter(f"{f.name}__before", OpenApiTypes.DATE, description=f"{f.label} on or before."),
                OpenApiParameter(
                    f"{f.name}__isnull", OpenApiTypes.BOOL, description=f"{f.label} empty (true) or set (false)."
                ),
            ]
        elif f.kind == "query":
            for op, label, widget in f.parts:
                name = f"{f.name}__{op}" if op else f.name
                if widget == "date":
                    bound = "on or before" if op == "before" else "on or after"
                    params.append(OpenApiParameter(name, OpenApiTypes.DATE, description=f"{label}: {bound}."))
                elif widget == "yes_no":
                    params.append(
                        OpenApiParameter(name, {"type": "string", "enum": ["yes", "no"]}, description=f"{label}.")
                    )
                else:
                    params.append(OpenApiParameter(name, str, description=f"{label}: id. Comma-separate for any of."))
        else:
            desc = f.label
            if f.choices:
                desc += ": " + ", ".join(c for c, _ in f.choices)
            if f.kind == "user":
                desc += " (user id, `me` or `none`)"
            if f.kind == "present":
                desc += ": yes (filled in) or no (empty)"
            params.append(OpenApiParameter(f.name, str, description=desc + ". Repeat or comma-separate for any of."))
            if f.kind in listing.NEGATABLE:
                params.append(
                    OpenApiParameter(f"{f.name}__not", str, description=f"{f.label}: none of these (comma-separated).")
                )
            if f.kind in listing.EMPTIABLE:
                desc = f"{f.label} empty (true) or filled in (false)."
                params.append(OpenApiParameter(f"{f.name}__isnull", OpenApiTypes.BOOL, description=desc))
    return params  # custom field filters (cf_<key>...) are added per installation by schema.postprocess


class RecordListView(BaseAPIView):
    rtype: RecordType

    def get(self, request: Request) -> HttpResponse:
        rtype = self.rtype
        params = request.query_params
        q = listing.build_filter(rtype, params, api_user(request))
        ordering = listing.parse_ordering(rtype, params.get("ordering"))
        size = listing.page_size(params)
        prefix = f"/api/v1/{rtype.key}/"
        page = projection.fetch_page(rtype, q, ordering, params.get("cursor"), size, user=api_user(request))
        if page is None:  # a filter needing joins: the ORM projection
            qs = rtype.model.objects.visible_to(api_user(request))
            if q:
                qs = qs.filter(q)
            fields = listing.projection_fields(rtype)
            page = listing.paginate(qs, ordering, params.get("cursor"), size, fields=fields)
            page.rows = [listing.project_row(rtype, raw, user=api_user(request)) for raw in page.rows]
        rows = page.rows
        for row in rows:
            row["url"] = f"{prefix}{row['id']}/"
        return page_response(request, rows, page.next_cursor, page.previous_cursor)

    def post(self, request: Request) -> HttpResponse:
        return idempotent_create(request, lambda: self._create(request))

    def _create(self, request: Request) -> HttpResponse:
        rtype = self.rtype
        check = check_duplicates_param(request, rtype)
        if api_user(request).scope_for(rtype.key, "add") is None:
            raise PermissionDenied(f"You may not add {rtype.label_plural.lower()}.")
        serializer = rtype.get_serializer_class()(data=request.data, context={"actor": api_user(request)})
        serializer.is_valid(raise_exception=True)
        if check:
            from rapport.duplicates import finder

            found = finder.likely_duplicates(rtype, serializer.validated_data, actor=api_user(request))
            if found:
                return json_response(
                    {
                        "error": "likely_duplicates",
                        "message": f"Found {len(found)} likely duplicate(s) among the {rtype.label_plural.lower()} "
                        "you may view; nothing was created. Send it again without check_duplicates to create "
                        "it anyway.",
                        "matches": [match_json(rtype, m) for m in found],
                    },
                    status=409,
                )
        # The answer is the record as written (its links and child rows are in memory): no re-read.
        record = services.create_record(rtype.model, serializer.validated_data, actor=api_user(request), source="api")
        return json_response(
            represent(record, api_user(request)),
            status=201,
            headers={"ETag": record.etag, "Location": f"/api/v1/{rtype.key}/{record.pk}/"},
        )


def merged_into(rtype: RecordType, user: Any, pk: int) -> int | None:
    """The record a binned ``pk`` was merged into, when ``user`` may see both (core.merged)."""
    from rapport.core.merged import survivor_of

    if not rtype.model.objects.visible_to(user, deleted=True).filter(pk=pk).exists():
        return None
    survivor = survivor_of(rtype.key, pk)
    if survivor is None or not rtype.model.objects.visible_to(user).filter(pk=survivor).exists():
        return None
    return survivor


def check_duplicates_param(request: Request, rtype: RecordType) -> bool:
    """The create's opt-in ``?check_duplicates=true`` (types that declare an identity)."""
    if rtype.identity is None:
        return False
    raw = request.query_params.get("check_duplicates", "false").lower()
    if raw not in ("true", "false"):
        raise listing.QueryError("check_duplicates", "use true or false.")
    return raw == "true"


def match_json(rtype: RecordType, match: Any) -> dict[str, Any]:
    """A likely duplicate (rapport.duplicates.finder.Match) as the API shows it."""
    return {
        "id": match.record_id,
        "name": match.title,
        "url": f"/api/v1/{rtype.key}/{match.record_id}/",
        "score": match.score,
        "reasons": list(match.reasons),
    }


class RecordDetailView(BaseAPIView):
    rtype: RecordType

    def get_record(self, request: Request, pk: int, action: str = "view") -> Any:
        # One indexed lookup by id, its SQL compiled once per type (compiling it was ~1 ms of a PATCH's
        # CPU), then the visibility rule on the row read (visibility.sees, the row form of visible_to):
        # a record the user may not see is answered like one that does not exist.
        rtype, user = self.rtype, api_user(request)
        record = record_by_id(
            f"api-detail:{rtype.key}",
            rtype.model,
            lambda: detail_queryset(rtype.key, prefetch=False).filter(deleted_at__isnull=True),
            pk,
        )
        if record is None or not sees(user, rtype.key, record.owner_id, record.team_id):
            survivor = merged_into(self.rtype, api_user(request), pk)
            if survivor is not None:  # a hint, to whoever may see both: the record lives on as the survivor
                raise exceptions.NotFound(
                    f"This {self.rtype.label.lower()} was merged into #{survivor}: /api/v1/{self.rtype.key}/{survivor}/"
                )
            raise Http404
        if action != "view" and not services.can(user, record, action):
            raise PermissionDenied(f"You may not {action} this record.")
        # Child rows with SQL compiled once per type (compiling them was ~1/3 of a PATCH's CPU).
        prefetch_children(record, self.rtype.prefetch_related)
        return record

    def expected_version(self, request: Request, record: Any) -> int | None:
        return if_match_version(request, record.pk, record.etag)

    def get(self, request: Request, pk: int) -> HttpResponse:
        record = self.get_record(request, pk)
        if request.headers.get("If-None-Match") == record.etag:
            return HttpResponse(status=304, headers={"ETag": record.etag})
        return json_response(represent(record, api_user(request)), headers={"ETag": record.etag})

    def patch(self, request: Request, pk: int) -> HttpResponse:
        return self._update(request, pk, partial=True)

    def put(self, request: Request, pk: int) -> HttpResponse:
        return self._update(request, pk, partial=False)

    def _update(self, request: Request, pk: int, *, partial: bool) -> HttpResponse:
        record = self.get_record(request, pk, "change")
        expected = self.expected_version(request, record)
        serializer = self.rtype.get_serializer_class()(
            record, data=request.data, partial=partial, context={"actor": api_user(request)}
        )
        serializer.is_valid(raise_exception=True)
        record = services.update_record(
            record, serializer.validated_data, actor=api_user(request), source="api", expected_version=expected
        )
        return json_response(represent(record, api_user(request)), headers={"ETag": record.etag})

    def delete(self, request: Request, pk: int) -> HttpResponse:
        record = self.get_record(request, pk, "delete")
        expected = self.expected_version(request, record)
        services.delete_record(record, actor=api_user(request), source="api", expected_version=expected)
        return HttpResponse(status=204)


class RecordRestoreView(BaseAPIView):
    rtype: RecordType

    def post(self, request: Request, pk: int) -> HttpResponse:
        record = self.rtype.model.objects.visible_to(api_user(request), "delete", deleted=True).filter(pk=pk).first()
        if record is None:
            raise Http404
        with transaction.atomic():
            services.restore_record(record, actor=api_user(request), source="api")
        record = detail_queryset(self.rtype.key).get(pk=pk)
        return json_response(represent(record, api_user(request)), headers={"ETag": record.etag})


class RecordExportView(BaseAPIView):
    rtype: RecordType

    def get(self, request: Request) -> HttpResponse:
        from rapport.core import export

        fmt = request.query_params.get("format", "csv")
        if fmt not in export.FORMATS:
            raise listing.QueryError("format", "choose csv or xlsx.")
        rows = export.export_rows(self.rtype, api_user(request), request.query_params)
        return export.download(rows, self.rtype, api_user(request), fmt)


def history_page(rtype: RecordType, record_id: int, cursor: str | None, size: int) -> dict[str, Any]:
    """Events of one record and of the records merged into it (core.merged), newest first, keyset by id."""
    from rapport.core.merged import history_ids

    ids = history_ids(rtype.key, record_id)
    qs = Event.objects.filter(type_key=rtype.key, record_id__in=ids).select_related("actor")
    if cursor:
        try:
            qs = qs.filter(id__lt=int(cursor))
        except ValueError:
            raise listing.QueryError("cursor", "this cursor is not valid.")
    events = list(qs.order_by("-id")[: size + 1])
    more = len(events) > size
    events = events[:size]
    return {
        "results": [
            {
                "id": e.id,
                "kind": e.kind,
                "occurred_at": e.occurred_at.isoformat(),
                "actor": {"id": e.actor_id, "name": e.actor.display_name} if e.actor else None,
                "source": e.source,
                "request_id": e.request_id,
                "changes": [
                    {"field": k, "before": v[0], "after": v[1]}
                    for k, v in e.changes.items()
                    if isinstance(v, list) and len(v) == 2
                ],
            }
            for e in events
        ],
        "next_cursor": str(events[-1].id) if more else None,  # as `next` and `previous` links by the view
    }


class RecordHistoryView(BaseAPIView):
    rtype: RecordType

    def get(self, request: Request, pk: int) -> HttpResponse:
        visible = self.rtype.model.objects.visible_to(api_user(request))
        if not visible.filter(pk=pk).exists():
            binned = self.rtype.model.objects.visible_to(api_user(request), "delete", deleted=True)
            if not binned.filter(pk=pk).exists():
                raise Http404
        size = listing.page_size(request.query_params)
        page = history_page(self.rtype, pk, request.query_params.get("cursor"), size)
        return page_response(request, page["results"], page["next_cursor"])


class SearchView(BaseAPIView):
    @extend_schema(
        summary="Global search across every record type",
        tags=["Search"],
        parameters=[
            OpenApiParameter("q", str, required=True, description="Words, part of an email, phone or domain."),
            OpenApiParameter("type", str, description="Restrict to record types (comma-separated)."),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
                description="1–50, default 20.",
            ),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "results": serializers.ListField(
                    child=inline_serializer(
                        "SearchHit",
                        {
                            "type": serializers.CharField(),
                            "id": serializers.IntegerField(),
                            "title": serializers.CharField(),
                            "detail": serializers.CharField(),
                            "url": serializers.CharField(),
                        },
                    )
                )
            },
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        params = request.query_params
        unknown = set(params) - {"q", "type", "limit"}
        if unknown:
            raise listing.QueryError(sorted(unknown)[0], "unknown parameter; use q, type and limit.")
        types = [t for t in params.get("type", "").split(",") if t] or None
        known = search.searchable_types()  # the record types and the documents found through them (quotes)
        for t in types or []:
            if t not in known:
                raise listing.QueryError("type", f"unknown record type {t!r}; known: {', '.join(known)}.")
        try:
            limit = min(max(int(params.get("limit", 20)), 1), 50)
        except ValueError:
            raise listing.QueryError("limit", "give a number from 1 to 50.")
        hits = search.search(api_user(request), params.get("q", ""), types=types, limit=limit)
        return json_response(
            {
                "results": [
                    {
                        "type": h.type_key,
                        "id": h.record_id,
                        "title": h.title,
                        "detail": h.detail,
                        "url": f"/api/v1/{h.type_key}/{h.record_id}/",
                    }
                    for h in hits
                ]
            }
        )


class SchemaNegotiation(DefaultContentNegotiation):
    """``?format=json|yaml`` wins; otherwise the Accept header; JSON by default."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        fmt = request.query_params.get("format")
        if fmt:
            chosen = [r for r in renderers if r.format == fmt]
            if not chosen:
                raise listing.QueryError("format", "use json or yaml.")
            return chosen[0], chosen[0].media_type  # application/json, application/yaml
        return super().select_renderer(request, renderers, format_suffix)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document at /api/schema/, generated per request (this installation's custom fields)."""

    content_negotiation_class = SchemaNegotiation
    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer, OpenApiYamlRenderer2, OpenApiYamlRenderer]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    team = schema.LinkSerializer(allow_null=True)
    role = serializers.CharField(allow_null=True)
    time_zone = serializers.CharField()
    permissions = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_null=True)),
        help_text="Per record type and action (view, add, change, delete, export, import): "
        "the scope you have (own, team, all) or null.",
    )


class MeView(BaseAPIView):
    @extend_schema(
        summary="The signed-in user and what their role allows",
        tags=["Account"],
        responses=MeSerializer,
        operation_id="me_retrieve",
    )
    def get(self, request: Request) -> HttpResponse:
        user = api_user(request)
        grants = {
            t.key: {a: user.scope_for(t.key, a) for a in ("view", "add", "change", "delete", "export", "import")}
            for t in registry.all_types()
        }
        return json_response(
            {
                "id": user.pk,
                "username": user.username,
                "name": user.display_name,
                "email": user.email,
                "team": {"id": user.team.pk, "name": user.team.name} if user.team is not None else None,
                "role": user.role.key if user.role is not None else None,
                "time_zone": user.time_zone,
                "permissions": grants,
            }
        )


def _own(method: Any) -> Any:
    """A fresh function per type: extend_schema marks the function object it decorates."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def views_for(rtype: RecordType) -> dict[str, Any]:
    """Concrete view classes for one type, with their OpenAPI description derived from the type
    (model fields → record schema, columns → row schema, write serializer → request body)."""
    write = rtype.get_serializer_class()
    record = schema.record_serializer(rtype)
    label = rtype.label.lower()
    tag = [rtype.label_plural]
    id_param = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
    detail = OpenApiResponse(response=record, description=f"The {label}, with its ETag.")

    list_view = type(
        f"{rtype.label}ListView",
        (RecordListView,),
        {
            "rtype": rtype,
            "get": extend_schema(
                summary=f"List {rtype.label_plural.lower()}",
                tags=tag,
                parameters=_filter_parameters(rtype),
                responses={200: schema.list_page_serializer(rtype)},
                operation_id=f"{rtype.key}_list",
            )(_own(RecordListView.get)),
            "post": extend_schema(
                summary=f"Create a {label}",
                tags=tag,
                parameters=[
                    schema.IDEMPOTENCY_KEY,
                    schema.ETAG,
                    schema.LOCATION,
                    schema.IDEMPOTENT_REPLAYED,
                    *([schema.CHECK_DUPLICATES] if rtype.identity is not None else []),
                ],
                request=write,
                responses={201: detail, **({409: schema.LIKELY_DUPLICATES} if rtype.identity is not None else {})},
                operation_id=f"{rtype.key}_create",
            )(_own(RecordListView.post)),
        },
    )
    detail_view = type(
        f"{rtype.label}DetailView",
        (RecordDetailView,),
        {
            "rtype": rtype,
            "get": extend_schema(
                summary=f"Retrieve a {label}",
                tags=tag,
                parameters=[*id_param, schema.IF_NONE_MATCH, schema.ETAG],
                responses={200: detail},
                operation_id=f"{rtype.key}_retrieve",
            )(_own(RecordDetailView.get)),
            "patch": extend_schema(
                summary=f"Update some fields of a {label}",
                tags=tag,
                parameters=[*id_param, schema.IF_MATCH, schema.ETAG],
                request=write,
                responses={200: detail},
                operation_id=f"{rtype.key}_partial_update",
            )(_own(RecordDetailView.patch)),
            "put": extend_schema(
                summary=f"Replace a {label}",
                tags=tag,
                parameters=[*id_param, schema.IF_MATCH, schema.ETAG],
                request=write,
                responses={200: detail},
                operation_id=f"{rtype.key}_update",
            )(_own(RecordDetailView.put)),
            "delete": extend_schema(
                summary=f"Move a {label} to the recycle bin",
                tags=tag,
                parameters=[*id_param, schema.IF_MATCH],
                responses={204: None},
                operation_id=f"{rtype.key}_delete",
            )(_own(RecordDetailView.delete)),
        },
    )
    restore_view = type(
        f"{rtype.label}RestoreView",
        (RecordRestoreView,),
        {
            "rtype": rtype,
            "post": extend_schema(
                summary=f"Restore a {label} from the recycle bin",
                tags=tag,
                parameters=[*id_param, schema.ETAG],
                request=None,
                responses={200: detail, 400: schema.ERROR},
                operation_id=f"{rtype.key}_restore",
            )(_own(RecordRestoreView.post)),
        },
    )
    history_view = type(
        f"{rtype.label}HistoryView",
        (RecordHistoryView,),
        {
            "rtype": rtype,
            "get": extend_schema(
                summary=f"Field history of a {label}, newest first",
                tags=tag,
                parameters=[*id_param, schema.CURSOR, _page_size_parameter()],
                responses={200: schema.HistoryPageSerializer},
                operation_id=f"{rtype.key}_history",
            )(_own(RecordHistoryView.get)),
        },
    )
    export_view = type(
        f"{rtype.label}ExportView",
        (RecordExportView,),
        {
            "rtype": rtype,
            "get": extend_schema(
                summary=f"Export {rtype.label_plural.lower()} as CSV or XLSX",
                tags=tag,
                parameters=[
                    OpenApiParameter("format", str, enum=["csv", "xlsx"], description="File format, default csv."),
                    *[p for p in _filter_parameters(rtype) if p.name not in ("cursor", "page_size")],
                ],
                responses={
                    (200, "text/csv"): OpenApiTypes.BINARY,
                    (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
                },
                operation_id=f"{rtype.key}_export",
            )(_own(RecordExportView.get)),
        },
    )
    return {
        "list": list_view,
        "detail": detail_view,
        "restore": restore_view,
        "history": history_view,
        "export": export_view,
    }
