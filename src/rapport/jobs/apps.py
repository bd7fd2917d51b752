from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "rapport.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Registers the built-in periodic jobs (event sweep, lost-job recovery, pruning).
        from rapport.core.health import readiness_check
        from rapport.core.services import on_events_written

        from . import conf, health, tasks  # noqa: F401
        from .events import schedule_dispatch

        # Events are dispatched on the commit of the write that made them (the sweep catches what is missed).
        on_events_written(schedule_dispatch)

        # /readyz: the queue answers (Redis needs no database) and a worker's heartbeat is fresh.
        readiness_check("queue", health.queue, needs_database=not conf.uses_rq())
        readiness_check("workers", health.workers, needs_database=not conf.uses_rq())
