"""/settings/jobs/: queued, running and failed background jobs for administrators, with a retry button."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_tasks import TaskResultStatus

from rapport.web.common import settings_required

from . import conf
from .base import max_attempts_of

STATES = {
    "queued": ("Queued", TaskResultStatus.READY),
    "running": ("Running", TaskResultStatus.RUNNING),
    "failed": ("Failed", TaskResultStatus.FAILED),
}
LIMIT = 50


def _db_rows(state: str) -> list[dict[str, Any]]:
    from django_tasks_db.models import DBTaskResult, get_date_max

    qs = DBTaskResult.objects.filter(status=STATES[state][1]).order_by("-enqueued_at", "-id")
    qs = qs.defer("args_kwargs", "return_value")
    date_max = get_date_max()
    rows = []
    for row in qs[:LIMIT]:
        try:
            max_attempts: int | str = max_attempts_of(row.task)
        except Exception:
            max_attempts = "?"
        traceback = row.traceback or ""
        rows.append(
            {
                "id": str(row.id),
                "task_name": row.task_name,
                "task_path": row.task_path,
                "queue": row.queue_name,
                "enqueued_at": row.enqueued_at,
                "started_at": row.started_at,
                "finished_at": row.finished_at,
                "run_after": None if row.run_after == date_max else row.run_after,
                "attempts": len(row.worker_ids),
                "max_attempts": max_attempts,
                "error": traceback.strip().splitlines()[-1] if traceback.strip() else "",
                "traceback": traceback,
            }
        )
    return rows


def _rq_rows(state: str) -> list[dict[str, Any]]:
    from .rq import list_jobs

    return [
        {
            "id": r.id,
            "task_name": r.task_name,
            "task_path": r.task_name,
            "queue": "",
            "enqueued_at": r.enqueued_at,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
            "run_after": None,
            "attempts": r.attempts,
            "max_attempts": r.max_attempts,
            "error": r.error,
            "traceback": r.traceback,
        }
        for r in list_jobs(state, LIMIT)
    ]


@settings_required
def job_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "failed")
    if state not in STATES:
        state = "failed"
    rq = conf.uses_rq()
    error = ""
    try:
        rows = _rq_rows(state) if rq else _db_rows(state)
    except Exception as exc:  # the broker is down: say so instead of a 500
        if not rq:
            raise
        rows, error = [], f"Redis is not reachable: {exc}"
    context = {
        "rows": rows,
        "state": state,
        "states": [(key, label) for key, (label, _) in STATES.items()],
        "backend": "Redis (RQ)" if rq else "Database queue",
        "limit": LIMIT,
        "broker_error": error,
    }
    return render(request, "jobs/list.html", context)


@require_POST
@settings_required
def job_retry(request: HttpRequest, job_id: str) -> HttpResponse:
    if conf.uses_rq():
        from .rq import retry_failed

        done = retry_failed(job_id)
    else:
        from django.core.exceptions import ValidationError

        from .worker import reset_for_retry

        try:
            done = reset_for_retry(job_id)
        except ValidationError:
            raise Http404("No such job") from None
    if not done:
        raise Http404("No failed job with this id")
    messages.success(request, "The job is queued again.")
    return redirect(reverse("settings-jobs") + "?state=failed")
