"""/settings/automation/: workflow rules — the list, the editor (trigger, conditions, ordered actions; plain form
posts, so it works with the keyboard and without script), a rule's page with its run log, the dry run and the
on/off switch. Settings managers only. Validation in ``automation.serializers``, writes in ``automation.services``."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from rapport.api.errors import flatten
from rapport.core import registry
from rapport.core.inputs import is_id
from rapport.core.listing import QueryError
from rapport.web.common import error_page, object_page, settings_required

from .. import queries, services
from ..actions import ACTIONS, date_fields, owned_links, record_links
from ..models import TRIGGERS, Rule, RuleRun
from ..serializers import DEAL_TRIGGERS, RuleSerializer, rule_fields

TRIGGER_LABELS = dict(TRIGGERS)
STATES = {"all": "All", "succeeded": "Succeeded", "failed": "Failed", "retrying": "Retrying", "stopped": "Stopped"}
MAX_CHANGE_ROWS = 3


def triggers_for(type_key: str) -> list[tuple[str, str]]:
    out = []
    for key, label in TRIGGERS:
        if key in DEAL_TRIGGERS and type_key != "deals":
            continue
        if key == "activity_completed" and type_key != "activities":
            continue
        out.append((key, label))
    return out


# --- reading a rule from the form, and back ----------------------------------------------------------------------


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _value(text: str) -> Any:
    """A value typed in a form: JSON lists, objects, numbers and true/false/null as such, anything else as text."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{") or stripped in ("true", "false", "null"):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def _int(text: str, default: int | None = None) -> Any:
    text = (text or "").strip()
    if is_id(text.removeprefix("-")):
        return int(text)
    return text if text else default


def action_params(kind: str, prefix: str, post: Any) -> dict[str, Any]:
    """One action's params from its inputs (``a-<n>-<name>``)."""

    def get(name: str) -> str:
        return str(post.get(f"{prefix}{name}", ""))

    if kind == "update_fields":
        values = {}
        for line in get("values").splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip():
                values[name.strip()] = _value(value.strip())
        return {"values": values}
    if kind == "assign_owner":
        params: dict[str, Any] = {"mode": get("mode")}
        if get("mode") == "fixed":
            params["user"] = _int(get("user"))
        else:
            params["team"] = _int(get("team"))
        return {k: v for k, v in params.items() if v not in (None, "")}
    if kind == "create_activity":
        params = {
            "kind": get("kind") or "task",
            "subject": get("subject"),
            "body": get("body"),
            "due_from": get("due_from") or "now",
            "due_days": _int(get("due_days"), 0),
            "due_hours": _int(get("due_hours"), 0),
            "assignee": get("assignee") or "owner",
            "priority": get("priority") or "normal",
            "also_link": list(post.getlist(f"{prefix}also_link")) if hasattr(post, "getlist") else [],
        }
        if params["assignee"] == "user":
            params["assignee"] = get("assignee_user")
        return params
    if kind == "notify":
        recipients = list(post.getlist(f"{prefix}recipients")) if hasattr(post, "getlist") else []
        recipients += _list(get("users"))
        return {"recipients": recipients, "title": get("title"), "body": get("body")}
    if kind == "send_email":
        params = {"to": _list(get("to")), "subject": get("subject"), "body": get("body")}
        if get("template").strip():
            params["template"] = _int(get("template"))
        return params
    if kind in ("add_tags", "remove_tags"):
        return {"tags": _list(get("tags"))}
    if kind == "call_webhook":
        return {"subscription": _int(get("subscription"))}
    raw = get("params").strip() or "{}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"__json__": raw}
    return parsed if isinstance(parsed, dict) else {"__json__": raw}


def rule_from_post(post: Any, type_key: str) -> dict[str, Any]:
    trigger = str(post.get("trigger", ""))
    config: dict[str, Any] = {}
    if trigger == "updated":
        fields = [f for f in post.getlist("watch_fields") if f]
        if fields:
            config["fields"] = fields
        if str(post.get("watch_value", "")).strip():
            config["value"] = _value(str(post.get("watch_value")))
        if post.get("or_created"):
            config["or_created"] = True
    elif trigger == "stage_changed" and str(post.get("stage", "")).strip():
        config["stage"] = _int(str(post.get("stage")))
    elif trigger == "date_reached":
        config = {"field": str(post.get("date_field", "")), "offset_days": _int(str(post.get("offset_days", "")), 0)}
    elif trigger == "idle":
        config = {"days": _int(str(post.get("idle_days", "")))}
    changes = []
    for i in range(MAX_CHANGE_ROWS):
        name = str(post.get(f"c-{i}-field", "")).strip()
        if not name:
            continue
        change: dict[str, Any] = {"field": name}
        for side in ("from", "to"):
            if f"c-{i}-{side}-set" in post:
                change[side] = _value(str(post.get(f"c-{i}-{side}", "")))
        changes.append(change)
    actions = []
    count = _int(str(post.get("a-count", "0")), 0)
    for i in range(min(int(count) if isinstance(count, int) else 0, 20)):
        kind = str(post.get(f"a-{i}-type", ""))
        if kind:
            actions.append({"type": kind, "params": action_params(kind, f"a-{i}-", post)})
    return {
        "name": str(post.get("name", "")),
        "type_key": type_key,
        "trigger": trigger,
        "trigger_config": config,
        "conditions": str(post.get("conditions", "")),
        "changes": changes,
        "actions": actions,
        "active": post.get("active") == "on",
    }


def rule_as_data(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "type_key": rule.type_key,
        "trigger": rule.trigger,
        "trigger_config": dict(rule.trigger_config or {}),
        "conditions": rule.conditions,
        "changes": list(rule.changes or []),
        "actions": list(rule.actions or []),
        "active": rule.active,
    }


def _editing(post: Any, data: dict[str, Any]) -> str:
    """Apply an editing button (add, remove, move an action) to ``data``; returns the op or "" for Save."""
    op = str(post.get("op", ""))
    actions = data["actions"]
    if op == "add":
        kind = str(post.get("new_action", ""))
        if kind in ACTIONS:
            actions.append({"type": kind, "params": {}})
    elif op.startswith(("remove-", "up-", "down-")):
        verb, _, index = op.partition("-")
        i = int(index) if is_id(index) else -1
        if 0 <= i < len(actions):
            if verb == "remove":
                actions.pop(i)
            elif verb == "up" and i > 0:
                actions[i - 1], actions[i] = actions[i], actions[i - 1]
            elif verb == "down" and i < len(actions) - 1:
                actions[i + 1], actions[i] = actions[i], actions[i + 1]
    return op


# --- what the template shows -----------------------------------------------------------------------------------


def _action_view(i: int, spec: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    params = spec.get("params") or {}
    kind = spec.get("type", "")
    action = ACTIONS.get(kind)
    shown = dict(params)
    if kind == "update_fields":
        shown["values_text"] = "\n".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in (params.get("values") or {}).items()
        )
    if kind in ("add_tags", "remove_tags"):
        shown["tags_text"] = ", ".join(params.get("tags") or [])
    if kind == "send_email":
        shown["to_text"] = ", ".join(params.get("to") or [])
    if kind == "notify":
        recipients = params.get("recipients") or []
        shown["to_owner"] = "owner" in recipients
        shown["users_text"] = ", ".join(str(r) for r in recipients if r != "owner")
    if kind == "create_activity":
        assignee = str(params.get("assignee", "owner"))
        shown["assignee_user"] = "" if assignee == "owner" or assignee.endswith(".owner") else assignee
        shown["assignee"] = assignee
        shown["also_link"] = list(params.get("also_link") or [])
    if action is None or kind not in BUILT_IN:
        shown["params_text"] = json.dumps({k: v for k, v in params.items() if k != "__json__"}) or "{}"
    prefix = f"actions[{i}]"
    own = {k[len(prefix) :].lstrip("."): v for k, v in errors.items() if k.startswith(prefix)}
    return {
        "index": i,
        "type": kind,
        "label": action.label if action else kind,
        "params": shown,
        "errors": [f"{k.removeprefix('params.') or 'action'}: {' '.join(v)}" for k, v in own.items()],
    }


BUILT_IN = {"update_fields", "assign_owner", "create_activity", "notify", "send_email", "add_tags", "remove_tags",
            "call_webhook"}  # fmt: skip


def _choices(type_key: str) -> dict[str, Any]:
    from rapport.accounts.models import Team
    from rapport.webhooks.models import Subscription

    stages: list[tuple[int, str]] = []
    if type_key == "deals":
        from rapport.deals.models import Stage

        stages = [(s.pk, f"{s.pipeline.name}: {s.name}") for s in Stage.objects.select_related("pipeline").order_by(
            "pipeline__name", "position")]  # fmt: skip
    return {
        "fields": rule_fields(type_key),
        "date_fields": date_fields(type_key),
        "owned_links": [
            (f"{name}.owner", f"The owner of its {label.lower()}") for name, label in owned_links(type_key)
        ],
        "record_links": record_links(type_key),
        "priorities": [("low", "Low"), ("normal", "Normal"), ("high", "High")],
        "stages": stages,
        "teams": list(Team.objects.order_by("name").values_list("pk", "name")),
        "users": [
            (u.pk, u.display_name)
            for u in get_user_model().objects.filter(is_active=True).order_by("first_name", "username")
        ],
        "webhooks": list(Subscription.objects.order_by("name").values_list("pk", "name")),
        "activity_kinds": [("task", "Task"), ("call", "Call"), ("meeting", "Meeting")],
        "action_types": [(a.key, a.label) for a in ACTIONS.values() if not a.types or type_key in a.types],
    }


def _editor(
    request: HttpRequest, rule: Rule | None, data: dict[str, Any], errors: dict[str, list[str]]
) -> HttpResponse:
    rtype = registry.get(data["type_key"])
    config = data.get("trigger_config") or {}
    changes = list(data.get("changes") or [])
    change_rows = []
    for i in range(MAX_CHANGE_ROWS):
        change = changes[i] if i < len(changes) else {}
        change_rows.append(
            {
                "index": i,
                "field": change.get("field", ""),
                "from_set": "from" in change,
                "from": _shown_value(change.get("from")),
                "to_set": "to" in change,
                "to": _shown_value(change.get("to")),
            }
        )
    general = {k: v for k, v in errors.items() if not k.startswith("actions[")}
    context = {
        "rule": rule,
        "data": data,
        "rtype": rtype,
        "triggers": triggers_for(rtype.key),
        "config": config,
        "watch_value": _shown_value(config.get("value")) if "value" in config else "",
        "change_rows": change_rows,
        "actions": [_action_view(i, spec, errors) for i, spec in enumerate(data.get("actions") or [])],
        "errors": errors,
        "general_errors": [f"{k or 'rule'}: {' '.join(v)}" for k, v in general.items()],
        "list_url": f"/{rtype.key}/",
        **_choices(rtype.key),
    }
    return render(request, "automation/rule_form.html", context, status=400 if errors else 200)


def _shown_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


# --- pages -------------------------------------------------------------------------------------------------------


@settings_required
def rule_list(request: HttpRequest) -> HttpResponse:
    last = RuleRun.objects.filter(rule=OuterRef("pk")).order_by("-id")
    rows = queries.rules().annotate(
        last_status=Subquery(last.values("status")[:1]), last_at=Subquery(last.values("created_at")[:1])
    )
    statuses = dict(RuleRun.STATUSES)
    items = [
        {
            "rule": r,
            "type": registry.find(r.type_key),
            "trigger": TRIGGER_LABELS.get(r.trigger, r.trigger),
            "actions": ", ".join(ACTIONS[a["type"]].label if a["type"] in ACTIONS else a["type"] for a in r.actions),
            "last_status": r.last_status,
            "last_label": statuses.get(r.last_status, ""),
            "last_at": r.last_at,
        }
        for r in rows
    ]
    return render(request, "automation/rules.html", {"items": items, "types": list(registry.all_types())})


@settings_required
def rule_form(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk) if pk else None
    if rule is None:
        type_key = str(request.POST.get("type_key") or request.GET.get("type") or "")
        if registry.find(type_key) is None:
            types = [(t.key, t.label_plural) for t in registry.all_types()]
            return render(request, "automation/rule_type.html", {"types": types})
    else:
        type_key = rule.type_key
    if request.method != "POST":
        data = rule_as_data(rule) if rule else {
            "name": "", "type_key": type_key, "trigger": "created", "trigger_config": {}, "conditions": "",
            "changes": [], "actions": [], "active": False,
        }  # fmt: skip
        return _editor(request, rule, data, {})
    data = rule_from_post(request.POST, type_key)
    if _editing(request.POST, data):
        return _editor(request, rule, data, {})
    body = {k: v for k, v in data.items() if not (rule is not None and k == "type_key")}
    serializer = RuleSerializer(rule, data=body, partial=rule is not None, context={"actor": request.user})
    if not serializer.is_valid():
        return _editor(request, rule, data, flatten(serializer.errors))
    if rule is None:
        rule = services.create_rule(dict(serializer.validated_data), actor=request.user)
        messages.success(request, f"Rule {rule.name} created. Try it on a record with a dry run.")
    else:
        services.update_rule(rule, dict(serializer.validated_data), actor=request.user)
        messages.success(request, f"Rule {rule.name} saved.")
    return redirect("settings-automation-rule", pk=rule.pk)


def describe_trigger(rule: Rule) -> str:
    config = rule.trigger_config or {}
    label = TRIGGER_LABELS.get(rule.trigger, rule.trigger)
    fields = dict(rule_fields(rule.type_key))
    if rule.trigger == "updated" and config.get("fields"):
        names = " or ".join(fields.get(f, f) for f in config["fields"])
        text = f"Updated: {names} changes"
        if "value" in config:
            text += f" to {_shown_value(config['value'])}"
        if config.get("or_created"):
            text += ", or created so"
        return text
    if rule.trigger == "stage_changed" and config.get("stage"):
        from rapport.deals.models import Stage

        stage = Stage.objects.filter(pk=config["stage"]).select_related("pipeline").first()
        return f"Deal moved to {stage.pipeline.name}: {stage.name}" if stage else label
    if rule.trigger == "date_reached":
        dates = dict(date_fields(rule.type_key))
        offset = int(config.get("offset_days", 0))
        when = "on" if offset == 0 else (f"{offset} days after" if offset > 0 else f"{-offset} days before")
        return f"{when.capitalize()} {dates.get(config.get('field', ''), config.get('field', ''))}"
    if rule.trigger == "idle":
        return f"No change for {config.get('days')} days"
    return label


def _detail_context(request: HttpRequest, rule: Rule) -> dict[str, Any]:
    state = request.GET.get("state", "all")
    if state not in STATES:
        state = "all"
    rows = queries.runs_of(rule)
    if state != "all":
        rows = rows.filter(status=state)
    pg = object_page(request, rows, "id")
    fields = dict(rule_fields(rule.type_key))
    return {
        "rule": rule,
        "rtype": registry.get(rule.type_key),
        "trigger": describe_trigger(rule),
        "changes": [
            {
                "field": fields.get(c["field"], c["field"]),
                "from": _shown_value(c.get("from")) if "from" in c else None,
                "to": _shown_value(c.get("to")) if "to" in c else None,
            }
            for c in rule.changes or []
        ],  # fmt: skip
        "actions": [
            {"label": ACTIONS[a["type"]].label if a["type"] in ACTIONS else a["type"], "params": _params_text(a)}
            for a in rule.actions or []
        ],
        "rows": pg.objects,
        "pager": pg,
        "state": state,
        "states": list(STATES.items()),
        "dry_run": None,
    }


@settings_required
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule.objects.select_related("created_by"), pk=pk)
    try:
        context = _detail_context(request, rule)
    except QueryError as exc:
        return error_page(request, f"{exc.param}: {exc.message}", back=reverse("settings-automation-rule", args=[pk]))
    return render(request, "automation/rule.html", context)


def _params_text(spec: dict[str, Any]) -> str:
    params = spec.get("params") or {}
    return "; ".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for k, v in params.items()
    )


@require_POST
@settings_required
def rule_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The rule's page with what the rule would do to the chosen record; nothing is written."""
    rule = get_object_or_404(Rule.objects.select_related("created_by"), pk=pk)
    rtype = registry.get(rule.type_key)
    raw = str(request.POST.get("record_id", "")).strip()
    record = rtype.model.objects.visible_to(request.user).filter(pk=int(raw)).first() if is_id(raw) else None
    if record is None:
        messages.error(request, f"Choose a {rtype.label.lower()} to test the rule on.")
        return redirect("settings-automation-rule", pk=pk)
    result = services.dry_run(rule, record)
    context = _detail_context(request, rule)
    context["dry_run"] = {
        "record": record,
        "record_url": f"/{rtype.key}/{record.pk}/",
        "conditions": result["conditions"],
        "actions": result["actions"],
        "changes": _changes_shown(request, result["changes"]),
    }
    return render(request, "automation/rule.html", context)


def _changes_shown(request: HttpRequest, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dry run's changes as history shows changes: field labels and values in words."""
    from rapport.core import customfields
    from rapport.web import display

    names = display.Names(request.user)
    renderers: dict[str, Any] = {}
    for change in changes:
        key = change["record_type"]
        if key not in renderers:
            renderers[key] = display.HistoryRenderer(registry.get(key), customfields.definitions(key), names)
        renderers[key].collect(change["changes"])
    names.resolve()
    return [
        {
            "title": change["record_title"] or f"#{change['record_id']}",
            "type": registry.get(change["record_type"]).label,
            "kind": change["kind"],
            "rows": renderers[change["record_type"]].rows(change["changes"], None),
        }
        for change in changes
    ]


@require_POST
@settings_required
def rule_switch(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    services.set_active(rule, not rule.active, actor=request.user)
    messages.success(request, f"Rule {rule.name} is {'on' if rule.active else 'off'}.")
    return redirect("settings-automation-rule", pk=pk)


@require_POST
@settings_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(Rule, pk=pk)
    try:
        services.delete_rule(rule, actor=request.user)
    except services.ShippedRule as exc:
        messages.error(request, str(exc))
        return redirect("settings-automation-rule", pk=pk)
    messages.success(request, f"Rule {rule.name} deleted with its log.")
    return redirect("settings-automation")
