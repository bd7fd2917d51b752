"""``rapport scheduler``: enqueue periodic jobs; any number may run, each slot is enqueued once."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from .worker import configure_logging


class Command(BaseCommand):
    help = "Enqueue periodic jobs on time (safe to run several copies) and recover jobs of dead workers."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between ticks.")
        parser.add_argument("--once", action="store_true", help="One tick, then exit.")

    def handle(self, *args: Any, **opts: Any) -> None:
        from rapport.jobs.scheduler import Scheduler, tick

        configure_logging(opts["verbosity"], sys.stderr)
        if opts["once"]:
            names = tick()
            self.stdout.write("enqueued: " + (", ".join(names) or "nothing"))
            return
        scheduler = Scheduler(interval=opts["interval"])

        def stop(signum: int, frame: FrameType | None) -> None:
            scheduler.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        scheduler.run()
