from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "rapport.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        # Registers the built-in periodic jobs (event sweep, lost-job recovery, pruning).
        from rapport.core.health import readiness_check

        from . import conf, health, tasks  # noqa: F401

        # /readyz: the queue answers (Redis needs no database) and a worker's heartbeat is fresh.
        readiness_check("queue", health.queue, needs_database=not conf.uses_rq())
        readiness_check("workers", health.workers, needs_database=not conf.uses_rq())
