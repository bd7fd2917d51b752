"""``rapport worker``: run background jobs, from the database queue or from Redis (RAPPORT_BROKER_URL)."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from rapport.jobs import conf


def configure_logging(verbosity: int, stream: Any) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    for name in ("rapport.jobs", "rq.worker"):
        log = logging.getLogger(name)
        log.setLevel(level)
        log.propagate = False
        if not log.handlers:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)


class Command(BaseCommand):
    help = "Run background jobs until stopped (SIGTERM or Ctrl-C finishes the current job, then exits)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--queue", action="append", dest="queues", help="Queue to work (default: all).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls when idle (DB).")
        parser.add_argument("--batch", action="store_true", help="Run what is ready now, then exit (DB).")
        parser.add_argument(
            "--no-fork",
            action="store_true",
            help="RQ: run each job in this process, not in a forked work horse (faster; needs a supervisor).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        configure_logging(opts["verbosity"], sys.stderr)
        if conf.uses_rq():
            self.run_rq(opts)
        else:
            self.run_db(opts)

    def run_db(self, opts: dict[str, Any]) -> None:
        from rapport.jobs.worker import Worker

        worker = Worker(queue_names=opts["queues"], interval=opts["interval"])
        if opts["batch"]:
            worker.start_heartbeat()
            try:
                worker.run_pending()
            finally:
                worker.stop_heartbeat()
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            if not worker.running:
                raise SystemExit(1)  # second signal: give up on the current job
            logging.getLogger("rapport.jobs").warning("worker %s: stopping after the current job", worker.worker_id)
            worker.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run()

    def run_rq(self, opts: dict[str, Any]) -> None:
        import django_rq
        from django_tasks import task_backends
        from django_tasks_rq.backend import Job

        queues = opts["queues"] or sorted(task_backends["default"].queues)
        # (by path: RQ's SimpleWorker is no subclass of the Worker that django_rq's annotation names)
        worker_class = "rapport.jobs.rq.InProcessWorker" if opts["no_fork"] else None
        worker = django_rq.get_worker(*queues, job_class=Job, worker_class=worker_class)
        # RQ handles SIGTERM/SIGINT itself: a warm shutdown after the current job.
        worker.work(with_scheduler=True, logging_level="INFO" if opts["verbosity"] else "WARNING")
