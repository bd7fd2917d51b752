"""The team reports: activity per rep, adoption (sign-ins, records created and updated) and data quality."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from rapport.accounts.models import LoginRecord, User
from rapport.activities.models import Activity
from rapport.contacts.models import Company, Person
from rapport.core.models import CustomField, Event
from rapport.deals.queries import planned_activity

from .models import QualitySnapshot
from .standard import (
    Col,
    Filters,
    Report,
    Result,
    Row,
    link,
    moment,
    periods,
    ratio,
    report,
    step_index,
    user_names,
    visible_deals,
)

# --- activity per rep ------------------------------------------------------------------------------------
ACTIVITY_COLS = (
    Col("calls", "Calls", "count", chart=True),
    Col("meetings", "Meetings", "count", chart=True),
    Col("emails", "Emails sent", "count", chart=True),
    Col("tasks", "Tasks done", "count", chart=True),
    Col("notes", "Notes", "count"),
    Col("overdue", "Overdue now", "count"),
)
DONE_KINDS = {"calls": "call", "meetings": "meeting", "tasks": "task", "notes": "note"}


def activity(actor: Any, filters: Filters) -> Result:
    today = moment(timezone.localdate())
    done_in = Q(done=True, done_at__gte=filters.start_moment(), done_at__lt=filters.end_moment())
    qs = Activity.objects.visible_to(actor)
    if filters.owner_id is not None:
        qs = qs.filter(assignee_id=filters.owner_id)
    if filters.team_id is not None:
        qs = qs.filter(team_id=filters.team_id)
    groups = (
        qs.filter(done_in | Q(done=False, due_at__lt=today))
        .values("assignee_id")
        .annotate(
            **{key: Count("id", filter=done_in & Q(kind=kind)) for key, kind in DONE_KINDS.items()},
            overdue=Count("id", filter=Q(done=False, due_at__lt=today)),
        )
        .order_by()
    )
    data = list(groups)
    sent = emails_sent(actor, filters)
    for g in data:
        g["emails"] = sent.pop(g["assignee_id"], 0)
    data += [{"assignee_id": rep, "emails": n, **dict.fromkeys([*DONE_KINDS, "overdue"], 0)} for rep, n in sent.items()]
    names = user_names(g["assignee_id"] for g in data)
    completed = [("completed__after", filters.start.isoformat()), ("completed__before", filters.end.isoformat())]
    team = [("team", str(filters.team_id))] if filters.team_id is not None else []
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    rows = []
    for g in data:
        who = str(g["assignee_id"]) if g["assignee_id"] is not None else "none"
        links = {
            key: link("/activities/", [("assignee", who), ("kind", kind), ("done", "true"), *completed, *team])
            for key, kind in DONE_KINDS.items()
            if g[key]
        }
        if g["emails"]:
            links["emails"] = link("/mail/", [("sent_by", who), ("sent__after", filters.start.isoformat()),
                                              ("sent__before", filters.end.isoformat())])  # fmt: skip
        if g["overdue"]:
            links["overdue"] = link(
                "/activities/", [("assignee", who), ("done", "false"), ("due__before", yesterday), *team]
            )
        rows.append(
            Row(
                who,
                names.get(g["assignee_id"], "Nobody") if g["assignee_id"] else "Nobody",
                {c.key: g[c.key] for c in ACTIVITY_COLS},
                links,
            )
        )
    rows.sort(key=lambda r: (r.key == "none", r.label.lower()))
    summary = [(c, sum(r.values[c.key] for r in rows), "") for c in ACTIVITY_COLS]
    return Result("activity", filters, list(ACTIVITY_COLS), rows, summary, "")


def emails_sent(actor: Any, filters: Filters) -> dict[int | None, int]:
    """Emails sent during the period per sender (``mail.queries.sender``: who composed it in Rapport, or the
    owner of the mailbox it was synced from; None for a shared mailbox's mail sent from elsewhere), of the
    mail ``actor`` may read. The owner filter picks the sender, the team filter the sender's team."""
    from rapport.mail import queries as mail

    messages = mail.sent_between(mail.visible_messages(actor), filters.start_moment(), filters.end_moment())
    if filters.owner_id is not None:
        messages = messages.filter(rep=filters.owner_id)
    if filters.team_id is not None:
        messages = messages.filter(rep__in=User.objects.filter(team_id=filters.team_id).values("pk"))
    return {g["rep"]: g["n"] for g in messages.values("rep").annotate(n=Count("id", distinct=True)).order_by()}


report(
    Report(
        "activity",
        "Activity per rep",
        "Calls, meetings, emails sent, tasks done and notes per person, and what is overdue.",
        activity,
        ACTIVITY_COLS,
        ACTIVITY_COLS,
        uses_pipeline=False,
        definitions=(
            (
                "Calls, meetings, tasks done, notes",
                "Activities of that kind marked done during the period, per "
                "assignee (the person who did them; whoever logged it unless someone else was assigned).",
            ),
            (
                "Emails sent",
                "Emails sent during the period, of the mail you may read: by whoever wrote them in Rapport (from "
                "their own or a shared mailbox), or synced from the sender's own mailbox. Mail a shared mailbox "
                "sent from elsewhere counts for Nobody.",
            ),
            ("Overdue now", "Activities not done whose due time is before today, whatever the period."),
            ("Owner filter", "Here it picks the assignee."),
        ),
    )
)


# --- adoption -------------------------------------------------------------------------------------------
ADOPTION_COLS = (
    Col("logins", "Sign-ins", "count", chart=True),
    Col("active_weeks", "Weeks signed in", "count"),
    Col("per_week", "Sign-ins per week", "number"),
    Col("created", "Records created", "count", chart=True),
    Col("updated", "Records updated", "count", chart=True),
    Col("by_ui", "Changes on pages", "count"),
    Col("by_api", "Changes by API", "count"),
    Col("by_import", "Changes by import", "count"),
)

ADOPTION_HEADLINE = (
    Col("users", "People"),
    Col("active", "Signed in during the period"),
    Col("share_active", "Share signed in", "percent"),
    Col("logins", "Sign-ins"),
)


def people_in_scope(actor: Any, filters: Filters) -> Any:
    """The users whose use of the CRM ``actor`` may see: everyone for a settings manager or a user who sees
    every deal, else their own team."""
    users = User.objects.filter(is_active=True)
    if not (actor.can_manage_settings() or actor.scope_for("deals", "view") == "all"):
        users = users.filter(team_id=actor.team_id) if actor.team_id else users.filter(pk=actor.pk)
    if filters.owner_id is not None:
        users = users.filter(pk=filters.owner_id)
    if filters.team_id is not None:
        users = users.filter(team_id=filters.team_id)
    return users


def adoption(actor: Any, filters: Filters) -> Result:
    users = list(people_in_scope(actor, filters).only("pk", "username", "first_name", "last_name"))
    ids = [u.pk for u in users]
    start, end = filters.start_moment(), filters.end_moment()
    logins: dict[int, int] = {}
    weeks: dict[int, int] = defaultdict(int)
    # sign-ins grouped by user and week of the period (bounded: users × weeks)
    n_weeks = ((filters.end - filters.start).days + 7) // 7
    week = step_index("at", [moment(filters.start + dt.timedelta(days=7 * k)) for k in range(1, n_weeks)])
    for uid, _, n in (
        LoginRecord.objects.filter(user_id__in=ids, at__gte=start, at__lt=end)
        .annotate(week=week)
        .values("user_id", "week")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("user_id", "week", "n")
    ):
        logins[uid] = logins.get(uid, 0) + n
        weeks[uid] += 1
    changes: dict[int, dict[str, Any]] = {
        g["actor_id"]: dict(g)
        for g in Event.objects.filter(
            actor_id__in=ids, occurred_at__gte=start, occurred_at__lt=end, kind__in=("created", "updated")
        )
        .values("actor_id")
        .annotate(
            created=Count("id", filter=Q(kind="created")),
            updated=Count("id", filter=Q(kind="updated")),
            by_ui=Count("id", filter=Q(source="ui")),
            by_api=Count("id", filter=Q(source="api")),
            by_import=Count("id", filter=Q(source="import")),
        )
        .order_by()
    }
    rows = []
    for u in sorted(users, key=lambda u: u.display_name.lower()):
        c = changes.get(u.pk, {})
        n = logins.get(u.pk, 0)
        rows.append(
            Row(
                str(u.pk),
                u.display_name,
                {
                    "logins": n,
                    "active_weeks": weeks[u.pk],
                    "per_week": Decimal(n) / n_weeks,
                    **{k: c.get(k, 0) for k in ("created", "updated", "by_ui", "by_api", "by_import")},
                },
            )
        )
    active = sum(1 for r in rows if r.values["logins"])
    figures = {
        "users": len(rows),
        "active": active,
        "share_active": ratio(active, len(rows)),
        "logins": sum(logins.values()),
    }
    summary = [(c, figures[c.key], "") for c in ADOPTION_HEADLINE]
    return Result("adoption", filters, list(ADOPTION_COLS), rows, summary, "")


report(
    Report(
        "adoption",
        "Adoption",
        "Who signs in and how often, and how many records each person creates and updates.",
        adoption,
        ADOPTION_COLS,
        ADOPTION_HEADLINE,
        team_leads=True,
        uses_pipeline=False,
        definitions=(
            ("People", "Active users of your team (everyone, for administrators and those who see every deal)."),
            ("Sign-ins", "Successful sign-ins on the sign-in page during the period (API tokens are not sign-ins)."),
            ("Weeks signed in", "Weeks of the period (counted from its first day) with at least one sign-in."),
            (
                "Records created, updated",
                "Records of any type the person created or changed in the period, from "
                "the history; by where the change came from: pages, API or import.",
            ),
        ),
    )
)


# --- data quality ---------------------------------------------------------------------------------------
QUALITY_COLS = (
    Col("filled", "Filled", "count"),
    Col("missing", "Missing", "count"),
    Col("share", "Share filled", "percent", chart=True),
)
STALE_DAYS = 30


def _custom_filled(key: str) -> Q:
    return Q(custom__has_key=key) & ~Q(**{f"custom__{key}": None}) & ~Q(**{f"custom__{key}": ""})


def _fields(type_key: str) -> list[tuple[str, str, Q, list[tuple[str, str]] | None]]:
    """(key, label, filled condition, list filter showing the records missing it)."""
    out: list[tuple[str, str, Q, list[tuple[str, str]] | None]]
    if type_key == "people":
        out = [
            ("email", "Email", ~Q(primary_email=""), [("has_email", "no")]),
            ("phone", "Phone", ~Q(primary_phone=""), [("has_phone", "no")]),
            ("owner", "Owner", Q(owner_id__isnull=False), [("owner", "none")]),
            ("company", "Company", Q(company_id__isnull=False), [("company", "none")]),
            ("lifecycle_stage", "Lifecycle stage", ~Q(lifecycle_stage=""), [("has_lifecycle_stage", "no")]),
        ]
    else:
        out = [
            ("domain", "Domain", ~Q(domain=""), [("has_domain", "no")]),
            ("phone", "Phone", ~Q(phone=""), [("has_phone", "no")]),
            ("owner", "Owner", Q(owner_id__isnull=False), [("owner", "none")]),
            ("industry", "Industry", ~Q(industry=""), [("has_industry", "no")]),
        ]
    for cf in CustomField.objects.filter(record_type=type_key).order_by("position", "id"):
        out.append((f"cf_{cf.key}", cf.label, _custom_filled(cf.key), [(f"cf_{cf.key}__isnull", "true")]))
    return out


def data_quality(actor: Any, filters: Filters) -> Result:
    rows: list[Row] = []
    summary = []
    stale_day = timezone.localdate() - dt.timedelta(days=STALE_DAYS)
    stale_q = Q(updated_at__lt=moment(stale_day))
    for type_key, model, label in (("people", Person, "People"), ("companies", Company, "Companies")):
        fields = _fields(type_key)
        qs = model.objects.visible_to(actor).filter(filters.record_q())
        counts = qs.aggregate(
            total=Count("id"),
            stale=Count("id", filter=stale_q),
            **{f"f_{key}": Count("id", filter=cond) for key, _, cond, _ in fields},
        )
        total = counts["total"]
        scope = filters.list_params(pipeline=False)
        for key, name, _, missing_filter in fields:
            filled = counts[f"f_{key}"]
            links = {}
            if missing_filter is not None and total - filled:
                links["missing"] = link(f"/{type_key}/", [*missing_filter, *scope])
            rows.append(
                Row(
                    f"{type_key}.{key}",
                    f"{label} · {name}",
                    {"filled": filled, "missing": total - filled, "share": ratio(filled, total)},
                    links,
                )
            )
        stale_link = link(
            f"/{type_key}/", [("updated__before", (stale_day - dt.timedelta(days=1)).isoformat()), *scope]
        )
        summary.append((Col(f"{type_key}_total", label), total, link(f"/{type_key}/", scope) if total else ""))
        summary.append(
            (
                Col(f"{type_key}_stale", f"{label} not updated in {STALE_DAYS} days"),
                counts["stale"],
                stale_link if counts["stale"] else "",
            )
        )
    open_deals = visible_deals(actor, filters).filter(status="open")
    deals = open_deals.aggregate(
        total=Count("id"),
        without=Count("id", filter=~Q(planned_activity())),  # the list's has_next_activity=no
        stale=Count("id", filter=stale_q),
    )
    open_link = [("status", "open"), *filters.list_params()]
    summary += [
        (Col("deals_open", "Open deals"), deals["total"], link("/deals/", open_link) if deals["total"] else ""),
        (
            Col("deals_without_next", "Open deals without a next activity"),
            deals["without"],
            link("/deals/", [*open_link, ("has_next_activity", "no")]) if deals["without"] else "",
        ),
        (
            Col("deals_stale", f"Open deals not updated in {STALE_DAYS} days"),
            deals["stale"],
            link(
                "/deals/",
                [
                    ("status", "open"),
                    ("updated__before", (stale_day - dt.timedelta(days=1)).isoformat()),
                    *filters.list_params(),
                ],
            )
            if deals["stale"]
            else "",
        ),
    ]
    result = Result("data-quality", filters, list(QUALITY_COLS), rows, summary, "")
    if not any(r.values["filled"] or r.values["missing"] for r in rows):
        result.rows = []
    return result


QUALITY_HEADLINE = (
    Col("people_total", "People"),
    Col("people_stale", f"People not updated in {STALE_DAYS} days"),
    Col("companies_total", "Companies"),
    Col("companies_stale", f"Companies not updated in {STALE_DAYS} days"),
    Col("deals_open", "Open deals"),
    Col("deals_without_next", "Open deals without a next activity"),
    Col("deals_stale", f"Open deals not updated in {STALE_DAYS} days"),
)

report(
    Report(
        "data-quality",
        "Data quality",
        "How complete people and companies are, deals without a next step, and records nobody touched.",
        data_quality,
        QUALITY_COLS,
        QUALITY_HEADLINE,
        team_leads=True,
        uses_pipeline=False,
        definitions=(
            (
                "Share filled",
                "Of the people (or companies) you may see, those with the field filled in: an email, "
                "a phone, an owner, a company, a lifecycle stage, and each custom field. The period does not apply: "
                "this is the state now.",
            ),
            ("Not updated", f"Records last changed more than {STALE_DAYS} days ago."),
            ("Without a next activity", "Open deals with no activity linked to them that is still to do."),
        ),
    )
)


# --- data quality over time ------------------------------------------------------------------------------
QUALITY_TYPES = (("people", Person), ("companies", Company))


def take_snapshot(day: dt.date | None = None) -> int:
    """Store ``day``'s (today's) data quality: per type, key field (custom fields included) and team, how
    many live records there are and how many have the field filled. One aggregate per type; the day's
    earlier rows are replaced, so the job may run twice."""
    day = day or timezone.localdate()
    rows: list[QualitySnapshot] = []
    for type_key, model in QUALITY_TYPES:
        fields = _fields(type_key)
        groups = (
            model.objects.live()
            .values("team_id")
            .annotate(total=Count("id"), **{f"f_{key}": Count("id", filter=cond) for key, _, cond, _ in fields})
            .order_by()
        )
        for g in groups:
            rows += [
                QualitySnapshot(
                    day=day,
                    type_key=type_key,
                    field_key=key,
                    team_id=g["team_id"],
                    filled=g[f"f_{key}"],
                    total=g["total"],
                )
                for key, _, _, _ in fields
            ]
    with transaction.atomic():
        QualitySnapshot.objects.filter(day=day).delete()
        QualitySnapshot.objects.bulk_create(rows, batch_size=500)
    return len(rows)


TREND_COLS = tuple(
    Col(f"{type_key}_{key}", f"{label} · {name}", "percent", chart=True)
    for type_key, label, keys in (
        ("people", "People", (("email", "Email"), ("phone", "Phone"), ("owner", "Owner"), ("company", "Company"))),
        (
            "companies",
            "Companies",
            (("domain", "Domain"), ("phone", "Phone"), ("owner", "Owner"), ("industry", "Industry")),
        ),
    )
    for key, name in keys
)


def data_quality_trend(actor: Any, filters: Filters) -> Result:
    snapshots = QualitySnapshot.objects.filter(day__gte=filters.start, day__lte=filters.end)
    for type_key, _ in QUALITY_TYPES:
        reach = actor.scope_for(type_key, "view")
        if reach == "team" and actor.team_id:
            snapshots = snapshots.exclude(Q(type_key=type_key) & (~Q(team_id=actor.team_id) | Q(team_id=None)))
        elif reach != "all":
            snapshots = snapshots.exclude(type_key=type_key)
    if filters.team_id is not None:
        snapshots = snapshots.filter(team_id=filters.team_id)
    by_day: dict[dt.date, dict[str, tuple[int, int]]] = defaultdict(dict)
    for g in (
        snapshots.values("day", "type_key", "field_key").annotate(filled=Sum("filled"), total=Sum("total")).order_by()
    ):
        by_day[g["day"]][f"{g['type_key']}_{g['field_key']}"] = (g["filled"], g["total"])
    rows = []
    for b in periods(filters):
        days = [d for d in by_day if b.start <= d <= b.end]
        if not days:
            continue
        last = by_day[max(days)]  # the month's (or quarter's) last snapshot
        values = {c.key: ratio(*last[c.key]) if c.key in last else None for c in TREND_COLS}
        rows.append(Row(b.key, b.label, values))
    latest = rows[-1].values if rows else {}
    summary = [(c, latest.get(c.key), "") for c in TREND_HEADLINE]
    return Result("data-quality-trend", filters, list(TREND_COLS), rows, summary, "", chart="line")


TREND_HEADLINE = tuple(c for c in TREND_COLS if c.key in ("people_email", "people_phone", "companies_domain"))

report(
    Report(
        "data-quality-trend",
        "Data quality over time",
        "How the share of people and companies with each key field filled moves, month by month.",
        data_quality_trend,
        TREND_COLS,
        TREND_HEADLINE,
        default_period="last_12_months",
        per_period=True,
        team_leads=True,
        uses_pipeline=False,
        definitions=(
            (
                "Share filled",
                "As on the data quality report, on the last day of each month (or quarter) that has a "
                "snapshot: a job stores every day's figures per team at 02:00 UTC.",
            ),
            (
                "Who is counted",
                "The teams whose people and companies you may see (all of them if you see every "
                "record). The owner filter does not apply here: snapshots are kept per team.",
            ),
            ("Headline", "The latest month's shares."),
        ),
    )
)
