"""``/api/v1/mail/``: messages, threads (read, with the mail visibility rule, mail.queries) and the mailboxes
a user manages with their sync health (secrets never included)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request

from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import BaseAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import listing
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value

from .. import queries
from ..models import Mailbox, Message, Thread

TAGS = ["Mail"]
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]


# One class (the schema has one MailAddress component), a fresh instance per use: DRF binds a field to one parent.
_MAIL_ADDRESS = type(
    inline_serializer(
        "MailAddress", {"name": serializers.CharField(allow_blank=True), "address": serializers.CharField()}
    )
)


def _address(**kwargs: Any) -> Any:
    return _MAIL_ADDRESS(**kwargs)


def _message_fields() -> dict[str, serializers.Field]:
    return {
        "id": serializers.IntegerField(),
        "mailbox": serializers.IntegerField(),
        "thread": serializers.IntegerField(),
        "direction": serializers.ChoiceField(choices=["in", "out"]),
        "message_id": serializers.CharField(),
        "subject": serializers.CharField(allow_blank=True),
        "from": _address(),
        "to": serializers.ListField(child=_address()),
        "cc": serializers.ListField(child=_address()),
        "sent_at": serializers.DateTimeField(allow_null=True),
        "snippet": serializers.CharField(allow_blank=True),
        "people": serializers.ListField(child=serializers.IntegerField()),
        "companies": serializers.ListField(child=serializers.IntegerField()),
        "truncated": serializers.BooleanField(),
        "gone_from_server_at": serializers.DateTimeField(allow_null=True),
    }


MESSAGE = inline_serializer("MailMessage", _message_fields())
MESSAGE_DETAIL = inline_serializer(
    "MailMessageDetail",
    {
        **_message_fields(),
        "body_text": serializers.CharField(allow_blank=True),
        "body_html": serializers.CharField(allow_blank=True, help_text="Sanitised; remote images as data-remote-src."),
        "attachments": serializers.ListField(
            child=inline_serializer(
                "MailAttachment",
                {
                    "id": serializers.IntegerField(),
                    "filename": serializers.CharField(),
                    "content_type": serializers.CharField(),
                    "size": serializers.IntegerField(),
                    "stored": serializers.BooleanField(help_text="False when over the size limit."),
                    "url": serializers.CharField(allow_null=True),
                },
            )
        ),
    },
)
THREAD = inline_serializer(
    "MailThread",
    {
        "id": serializers.IntegerField(),
        "mailbox": serializers.IntegerField(),
        "subject": serializers.CharField(allow_blank=True),
        "message_count": serializers.IntegerField(),
        "first_at": serializers.DateTimeField(),
        "last_at": serializers.DateTimeField(),
        "private": serializers.BooleanField(),
        "deals": serializers.ListField(child=serializers.IntegerField()),
    },
)
MAILBOX = inline_serializer(
    "MailMailbox",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "address": serializers.CharField(),
        "owner": serializers.IntegerField(allow_null=True),
        "shared": serializers.BooleanField(),
        "is_dropbox": serializers.BooleanField(),
        "active": serializers.BooleanField(),
        "imap_host": serializers.CharField(),
        "imap_port": serializers.IntegerField(),
        "sync_from": serializers.DateField(allow_null=True),
        "last_sync_at": serializers.DateTimeField(allow_null=True),
        "last_success_at": serializers.DateTimeField(allow_null=True),
        "next_sync_at": serializers.DateTimeField(allow_null=True),
        "messages_synced": serializers.IntegerField(),
        "last_error": serializers.CharField(allow_blank=True, help_text="In plain words, with the fix."),
    },
)
MessagePage = page_serializer("MailMessagePage", MESSAGE)
ThreadPage = page_serializer("MailThreadPage", THREAD)
MailboxPage = page_serializer("MailMailboxPage", MAILBOX)


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed))}.")


def _id_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not is_id(raw):
        raise QueryError(name, "an id (a positive whole number).")
    return int(raw)


def message_json(m: Message, people: dict[int, list[int]], companies: dict[int, list[int]]) -> dict[str, Any]:
    return {
        "id": m.pk,
        "mailbox": m.mailbox_id,
        "thread": m.thread_id,
        "direction": m.direction,
        "message_id": m.message_id,
        "subject": m.subject,
        "from": {"name": m.from_name, "address": m.from_address},
        "to": [{"name": p.get("name", ""), "address": p.get("address", "")} for p in m.to or []],
        "cc": [{"name": p.get("name", ""), "address": p.get("address", "")} for p in m.cc or []],
        "sent_at": to_json_value(m.sent_at),
        "snippet": m.snippet,
        "people": people.get(m.pk, []),
        "companies": companies.get(m.pk, []),
        "truncated": m.truncated,
        "gone_from_server_at": to_json_value(m.gone_from_server_at),
    }


def _links(ids: list[int]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    people: dict[int, list[int]] = {}
    companies: dict[int, list[int]] = {}
    for message_id, person_id in Message.people.through.objects.filter(message_id__in=ids).values_list(
        "message_id", "person_id"
    ):
        people.setdefault(message_id, []).append(person_id)
    for message_id, company_id in Message.companies.through.objects.filter(message_id__in=ids).values_list(
        "message_id", "company_id"
    ):
        companies.setdefault(message_id, []).append(company_id)
    return people, companies


class MessageListView(BaseAPIView):
    @extend_schema(
        summary="List the mail messages you may read",
        description="Newest first. Filter by `person`, `company`, `deal` (through its threads), `thread`, `mailbox`.",
        tags=TAGS,
        parameters=[
            OpenApiParameter("person", int),
            OpenApiParameter("company", int),
            OpenApiParameter("deal", int),
            OpenApiParameter("thread", int),
            OpenApiParameter("mailbox", int),
            *PAGE_PARAMS,
        ],
        responses={200: MessagePage, 400: ERROR},
        operation_id="mail_messages_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "person", "company", "deal", "thread", "mailbox"})
        rows = queries.visible_messages(api_user(request))
        filters = {
            "person": "people",
            "company": "companies",
            "deal": "thread__deals",
            "thread": "thread_id",
            "mailbox": "mailbox_id",
        }
        for name, field in filters.items():
            value = _id_param(request, name)
            if value is not None:
                rows = rows.filter(**{field: value})
        found, next_cursor, previous_cursor = object_page(request, rows.distinct(), "id")
        people, companies = _links([m.pk for m in found])
        results = [message_json(m, people, companies) for m in found]
        return page_response(request, results, next_cursor, previous_cursor)


class MessageDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a mail message with its (sanitised) body and attachments",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: MESSAGE_DETAIL, 404: ERROR},
        operation_id="mail_messages_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        message = get_or_404(queries.visible_messages(api_user(request)), pk)
        people, companies = _links([message.pk])
        body = message_json(message, people, companies)
        body["body_text"] = message.body_text
        body["body_html"] = message.body_html
        body["attachments"] = [
            {
                "id": a.pk,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "stored": bool(a.file),
                "url": f"/mail/attachments/{a.pk}/" if a.file else None,
            }
            for a in message.attachments.order_by("id")
        ]
        return json_response(body)


def thread_json(t: Thread, deals: dict[int, list[int]]) -> dict[str, Any]:
    return {
        "id": t.pk,
        "mailbox": t.mailbox_id,
        "subject": t.subject,
        "message_count": t.message_count,
        "first_at": to_json_value(t.first_at),
        "last_at": to_json_value(t.last_at),
        "private": t.private,
        "deals": deals.get(t.pk, []),
    }


def _thread_deals(user: Any, ids: list[int]) -> dict[int, list[int]]:
    from rapport.deals.models import Deal

    visible = Deal.objects.visible_to(user).values("pk")
    out: dict[int, list[int]] = {}
    for thread_id, deal_id in Thread.deals.through.objects.filter(thread_id__in=ids, deal__in=visible).values_list(
        "thread_id", "deal_id"
    ):
        out.setdefault(thread_id, []).append(deal_id)
    return out


class ThreadListView(BaseAPIView):
    @extend_schema(
        summary="List the mail conversations you may read",
        description="Most recent activity first; filter by `mailbox` or `deal`.",
        tags=TAGS,
        parameters=[OpenApiParameter("mailbox", int), OpenApiParameter("deal", int), *PAGE_PARAMS],
        responses={200: ThreadPage, 400: ERROR},
        operation_id="mail_threads_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "mailbox", "deal"})
        user = api_user(request)
        rows = queries.visible_threads(user)
        mailbox = _id_param(request, "mailbox")
        if mailbox is not None:
            rows = rows.filter(mailbox_id=mailbox)
        deal = _id_param(request, "deal")
        if deal is not None:
            rows = rows.filter(deals=deal)
        found, next_cursor, previous_cursor = object_page(request, rows, "last_at")
        deals = _thread_deals(user, [t.pk for t in found])
        return page_response(request, [thread_json(t, deals) for t in found], next_cursor, previous_cursor)


class ThreadDetailView(BaseAPIView):
    @extend_schema(
        summary="Retrieve a mail conversation",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: THREAD, 404: ERROR},
        operation_id="mail_threads_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        user = api_user(request)
        thread = get_or_404(queries.visible_threads(user), pk)
        return json_response(thread_json(thread, _thread_deals(user, [thread.pk])))


def mailbox_json(m: Mailbox) -> dict[str, Any]:
    return {
        "id": m.pk,
        "name": m.name,
        "address": m.address,
        "owner": m.owner_id,
        "shared": m.shared,
        "is_dropbox": m.is_dropbox,
        "active": m.active,
        "imap_host": m.imap_host,
        "imap_port": m.imap_port,
        "sync_from": to_json_value(m.sync_from),
        "last_sync_at": to_json_value(m.last_sync_at),
        "last_success_at": to_json_value(m.last_success_at),
        "next_sync_at": to_json_value(m.next_sync_at),
        "messages_synced": m.messages_synced,
        "last_error": m.last_error,
    }


class MailboxListView(BaseAPIView):
    @extend_schema(
        summary="List the mailboxes you manage, with their sync health",
        description="Your own mailboxes; settings managers also see shared and dropbox mailboxes. No secrets.",
        tags=TAGS,
        parameters=PAGE_PARAMS,
        responses={200: MailboxPage, 400: ERROR},
        operation_id="mail_mailboxes_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size"})
        rows = queries.manageable_mailboxes(api_user(request))
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [mailbox_json(m) for m in found], next_cursor, previous_cursor)
