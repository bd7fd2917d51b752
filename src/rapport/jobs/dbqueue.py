"""The database queue (django-tasks-db) with its job row written by one INSERT built once.

Every write enqueues the event dispatch job (rapport.jobs.events), so the ORM's ``create`` of the row,
compiled on every call, was ~14 % of the CPU of an API update on PostgreSQL. The row is the one
django-tasks-db's backend creates (same columns and values, its id from the backend's id function or
the model's default), and the job is read, claimed and run by django-tasks-db and our worker as before.
"""

from __future__ import annotations

from typing import Any

from django_tasks_db.backend import DatabaseBackend as _DatabaseBackend
from django_tasks_db.compat import normalize_json

from rapport.core import rowsql


class DatabaseBackend(_DatabaseBackend):
    def _task_to_db_task(self, task: Any, args: Any, kwargs: Any) -> Any:
        from django_tasks_db.models import DBTaskResult, get_date_max

        result: DBTaskResult[Any, Any] = DBTaskResult(
            id=self._get_id(),
            args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            # What django-tasks-db's pre_save handler (signal_handlers.set_run_after) does, since the INSERT
            # sends no signals: no time to wait for is stored as the latest date.
            run_after=task.run_after if task.run_after is not None else get_date_max(),
            backend_name=self.alias,
        )
        rowsql.insert(result)
        return result
