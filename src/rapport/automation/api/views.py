"""``/api/v1/automation/``: workflow rules (CRUD, dry run), each rule's run log, and the actions rules can use.
Anyone signed in reads the rules; only settings managers change them, dry-run them or read their run log
(it names records). Validation in ``automation.serializers``, writes in ``automation.services``."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from rapport.api.errors import error_response
from rapport.api.schema import CURSOR, ERROR, page_serializer
from rapport.api.views import SettingsAPIView, api_user, get_or_404, json_response, object_page, page_response
from rapport.core import listing, registry
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.core.models import to_json_value

from .. import queries, services
from ..actions import ACTIONS
from ..models import TRIGGER_KEYS, Rule, RuleRun
from ..serializers import RuleSerializer


def rule_json(rule: Rule) -> dict[str, Any]:
    creator = rule.created_by
    return {
        "id": rule.pk,
        "name": rule.name,
        "type_key": rule.type_key,
        "trigger": rule.trigger,
        "trigger_config": rule.trigger_config or {},
        "conditions": rule.conditions,
        "changes": list(rule.changes or []),
        "actions": list(rule.actions or []),
        "active": rule.active,
        "position": rule.position,
        "shipped": rule.shipped,
        "created_by": {"id": creator.pk, "name": creator.display_name} if creator else None,
        "created_at": to_json_value(rule.created_at),
        "updated_at": to_json_value(rule.updated_at),
        "runs": f"/api/v1/automation/rules/{rule.pk}/runs/",
        "url": f"/api/v1/automation/rules/{rule.pk}/",
    }


def run_json(run: RuleRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "rule": run.rule_id,
        "event_id": run.event_id,
        "record_type": run.type_key,
        "record_id": run.record_id,
        "record_title": run.record_title,
        "trigger": run.trigger,
        "status": run.status,
        "depth": run.depth,
        "attempts": run.attempts,
        "outcomes": [
            {
                "action": o.get("action", ""),
                "label": o.get("label", ""),
                "status": o.get("status", "pending"),
                "message": o.get("message", ""),
            }
            for o in run.outcomes or []
        ],
        "error": run.error,
        "next_attempt_at": to_json_value(run.next_attempt_at),
        "created_at": to_json_value(run.created_at),
        "finished_at": to_json_value(run.finished_at),
    }


USER = inline_serializer("AutomationUser", {"id": serializers.IntegerField(), "name": serializers.CharField()})
ACTION_SPEC = inline_serializer(
    "AutomationActionSpec",
    {
        "type": serializers.CharField(help_text="An action's key (GET /api/v1/automation/actions/)."),
        "params": serializers.DictField(help_text="The action's settings."),
    },
)
CHANGE = inline_serializer(
    "AutomationChange",
    {
        "field": serializers.CharField(),
        "from": serializers.JSONField(required=False),
        "to": serializers.JSONField(required=False),
    },
)
RULE = inline_serializer(
    "AutomationRule",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "type_key": serializers.CharField(),
        "trigger": serializers.ChoiceField(choices=TRIGGER_KEYS),
        "trigger_config": serializers.DictField(),
        "conditions": serializers.CharField(allow_blank=True),
        "changes": serializers.ListField(child=CHANGE),
        "actions": serializers.ListField(child=ACTION_SPEC),
        "active": serializers.BooleanField(),
        "position": serializers.IntegerField(),
        "shipped": serializers.CharField(
            allow_null=True, help_text="The key of a rule Rapport ships (edited and switched off, not deleted)."
        ),
        "created_by": inline_serializer(
            "AutomationRuleCreator",
            {"id": serializers.IntegerField(), "name": serializers.CharField()},
            allow_null=True,
        ),
        "created_at": serializers.DateTimeField(),
        "updated_at": serializers.DateTimeField(),
        "runs": serializers.CharField(),
        "url": serializers.CharField(),
    },
)
OUTCOME = inline_serializer(
    "AutomationOutcome",
    {
        "action": serializers.CharField(),
        "label": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["pending", "done", "failed", "skipped"]),
        "message": serializers.CharField(allow_blank=True),
    },
)
RUN_STATUSES = [key for key, _ in RuleRun.STATUSES]
RUN = inline_serializer(
    "AutomationRun",
    {
        "id": serializers.IntegerField(),
        "rule": serializers.IntegerField(),
        "event_id": serializers.IntegerField(allow_null=True),
        "record_type": serializers.CharField(),
        "record_id": serializers.IntegerField(),
        "record_title": serializers.CharField(allow_blank=True),
        "trigger": serializers.CharField(),
        "status": serializers.ChoiceField(choices=RUN_STATUSES),
        "depth": serializers.IntegerField(),
        "attempts": serializers.IntegerField(),
        "outcomes": serializers.ListField(child=OUTCOME),
        "error": serializers.CharField(allow_blank=True),
        "next_attempt_at": serializers.DateTimeField(allow_null=True),
        "created_at": serializers.DateTimeField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)
DRY_RUN_REQUEST = inline_serializer(
    "AutomationDryRunRequest", {"record_id": serializers.IntegerField(help_text="The record to test the rule on.")}
)
DRY_RUN = inline_serializer(
    "AutomationDryRun",
    {
        "conditions": inline_serializer(
            "AutomationDryRunConditions",
            {"met": serializers.BooleanField(), "error": serializers.CharField(allow_blank=True)},
        ),
        "actions": serializers.ListField(
            child=inline_serializer(
                "AutomationDryRunOutcome",
                {
                    "action": serializers.CharField(),
                    "label": serializers.CharField(),
                    "status": serializers.ChoiceField(choices=["done", "failed"]),
                    "message": serializers.CharField(allow_blank=True),
                },
            )
        ),
        "changes": serializers.ListField(
            child=inline_serializer(
                "AutomationDryRunChange",
                {
                    "record_type": serializers.CharField(),
                    "record_id": serializers.IntegerField(),
                    "record_title": serializers.CharField(allow_blank=True),
                    "kind": serializers.CharField(),
                    "changes": serializers.DictField(help_text="{field: [before, after]}"),
                },
            ),
            help_text="The writes the actions would make (none is made).",
        ),
    },
)
ACTION = inline_serializer(
    "AutomationAction",
    {
        "key": serializers.CharField(),
        "label": serializers.CharField(),
        "types": serializers.ListField(child=serializers.CharField(), help_text="Empty: every record type."),
    },
)
ACTION_LIST = inline_serializer("AutomationActionList", {"actions": serializers.ListField(child=ACTION)})
RulePage = page_serializer("AutomationRulePage", RULE)
RunPage = page_serializer("AutomationRunPage", RUN)
ID_PARAM = [OpenApiParameter("id", int, OpenApiParameter.PATH)]
PAGE_PARAMS = [
    CURSOR,
    OpenApiParameter("page_size", listing.PAGE_SIZE_SCHEMA, description=f"1–{listing.MAX_PAGE_SIZE}."),
]
TAGS = ["Automation"]


class AutomationAPIView(SettingsAPIView):
    settings_subject = "workflow rules"


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = set(request.query_params) - allowed
    if unknown:
        raise QueryError(sorted(unknown)[0], f"unknown parameter; use {', '.join(sorted(allowed))}.")


def _managers_only(request: Request) -> None:
    if not api_user(request).can_manage_settings():
        raise PermissionDenied("Only administrators can see what rules did.")


class RuleListView(AutomationAPIView):
    @extend_schema(
        summary="List workflow rules",
        tags=TAGS,
        parameters=[
            OpenApiParameter("type_key", str, description="Only rules of this record type."),
            OpenApiParameter("active", bool, description="Only rules switched on (true) or off (false)."),
            *PAGE_PARAMS,
        ],
        responses={200: RulePage, 400: ERROR},
        operation_id="automation_rules_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, {"cursor", "page_size", "type_key", "active"})
        rows = queries.rules()
        type_key = request.query_params.get("type_key")
        if type_key is not None:
            if registry.find(type_key) is None:
                raise QueryError("type_key", f"unknown record type; use one of {', '.join(registry.keys())}.")
            rows = rows.filter(type_key=type_key)
        active = request.query_params.get("active")
        if active is not None:
            if active not in ("true", "false"):
                raise QueryError("active", "use true or false.")
            rows = rows.filter(active=active == "true")
        found, next_cursor, previous_cursor = object_page(request, rows, "id", descending=False)
        return page_response(request, [rule_json(r) for r in found], next_cursor, previous_cursor)

    @extend_schema(
        summary="Create a workflow rule",
        description="Off unless `active` is true: try it with a dry run first.",
        tags=TAGS,
        request=RuleSerializer,
        responses={201: RULE, 400: ERROR, 403: ERROR},
        operation_id="automation_rules_create",
    )
    def post(self, request: Request) -> HttpResponse:
        serializer = RuleSerializer(data=request.data, context={"actor": api_user(request)})
        serializer.is_valid(raise_exception=True)
        rule = services.create_rule(dict(serializer.validated_data), actor=api_user(request))
        body = rule_json(rule)
        return json_response(body, status=201, headers={"Location": body["url"]})


class RuleDetailView(AutomationAPIView):
    @extend_schema(
        summary="Retrieve a workflow rule",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={200: RULE, 404: ERROR},
        operation_id="automation_rules_retrieve",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        return json_response(rule_json(get_or_404(queries.rules(), pk)))

    @extend_schema(
        summary="Change a workflow rule",
        description="`active` switches it on or off. Its record type cannot change.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=RuleSerializer(partial=True),
        responses={200: RULE, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="automation_rules_partial_update",
    )
    def patch(self, request: Request, pk: int) -> HttpResponse:
        rule = get_or_404(queries.rules(), pk)
        serializer = RuleSerializer(rule, data=request.data, partial=True, context={"actor": api_user(request)})
        serializer.is_valid(raise_exception=True)
        services.update_rule(rule, dict(serializer.validated_data), actor=api_user(request))
        return json_response(rule_json(rule))

    @extend_schema(
        summary="Delete a workflow rule",
        description="Its run log goes with it. A rule Rapport ships (`shipped` set) is not deleted (409): switch it "
        "off instead.",
        tags=TAGS,
        parameters=ID_PARAM,
        responses={204: None, 403: ERROR, 404: ERROR, 409: ERROR},
        operation_id="automation_rules_delete",
    )
    def delete(self, request: Request, pk: int) -> HttpResponse:
        try:
            services.delete_rule(get_or_404(Rule.objects, pk), actor=api_user(request))
        except services.ShippedRule as exc:
            return error_response(409, "shipped", str(exc))
        return HttpResponse(status=204)


class RuleDryRunView(AutomationAPIView):
    @extend_schema(
        summary="Test a workflow rule on a record, writing nothing",
        description="Whether the record meets the rule's conditions now, and what each action would do — with "
        "the changes it would write — run in a transaction that is rolled back: nothing is written, sent or queued.",
        tags=TAGS,
        parameters=ID_PARAM,
        request=DRY_RUN_REQUEST,
        responses={200: DRY_RUN, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="automation_rules_dry_run",
    )
    def post(self, request: Request, pk: int) -> HttpResponse:
        rule = get_or_404(queries.rules(), pk)
        raw = request.data.get("record_id") if isinstance(request.data, dict) else None
        unknown = sorted(set(request.data) - {"record_id"}) if isinstance(request.data, dict) else []
        if unknown:
            raise serializers.ValidationError({unknown[0]: ["Unknown field."]})
        if not is_id(str(raw)) or isinstance(raw, bool):
            raise serializers.ValidationError({"record_id": ["Give the id of a record to test the rule on."]})
        model = registry.get(rule.type_key).model
        record = model.objects.visible_to(api_user(request)).filter(pk=int(str(raw))).first()
        if record is None:
            label = registry.get(rule.type_key).label.lower()
            raise serializers.ValidationError({"record_id": [f"There is no {label} #{raw}."]})
        return json_response(services.dry_run(rule, record))


class RuleRunListView(AutomationAPIView):
    @extend_schema(
        summary="A workflow rule's run log",
        description="Newest first: each run with its outcome per action. Administrators only.",
        tags=TAGS,
        parameters=[
            *ID_PARAM,
            OpenApiParameter("status", str, enum=RUN_STATUSES, description="Only runs in this state."),
            *PAGE_PARAMS,
        ],
        responses={200: RunPage, 400: ERROR, 403: ERROR, 404: ERROR},
        operation_id="automation_runs_list",
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        _managers_only(request)
        _check_params(request, {"cursor", "page_size", "status"})
        rule = get_or_404(Rule.objects, pk)
        rows = queries.runs_of(rule)
        status = request.query_params.get("status")
        if status is not None:
            if status not in RUN_STATUSES:
                raise QueryError("status", f"use one of {', '.join(RUN_STATUSES)}.")
            rows = rows.filter(status=status)
        found, next_cursor, previous_cursor = object_page(request, rows, "id")
        return page_response(request, [run_json(r) for r in found], next_cursor, previous_cursor)


class ActionListView(AutomationAPIView):
    @extend_schema(
        summary="The actions workflow rules can use",
        tags=TAGS,
        responses={200: ACTION_LIST},
        operation_id="automation_actions_list",
    )
    def get(self, request: Request) -> HttpResponse:
        _check_params(request, set())
        actions = [{"key": a.key, "label": a.label, "types": list(a.types)} for a in ACTIONS.values()]
        return json_response({"actions": actions})
