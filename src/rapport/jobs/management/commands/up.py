"""``rapport up``: the web server plus a job worker and the scheduler, as one command (what ``make run`` runs).

The three run as child processes; Ctrl-C or SIGTERM stops all of them, and so does any one of them exiting.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Rapport with a background-job worker and the scheduler; Ctrl-C stops everything."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=None)
        parser.add_argument("--port", default=None)
        parser.add_argument("--job-workers", type=int, default=1, help="Worker processes to start (default 1).")

    def handle(self, *args: Any, **opts: Any) -> None:
        rapport = [sys.executable, "-m", "rapport"]
        serve = [*rapport, "serve"]
        if opts["host"]:
            serve += ["--host", opts["host"]]
        if opts["port"]:
            serve += ["--port", str(opts["port"])]
        commands = [[*rapport, "worker"] for _ in range(max(0, opts["job_workers"]))]
        commands += [[*rapport, "scheduler"], serve]
        children = [subprocess.Popen(cmd) for cmd in commands]
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)]
        if failed and not stopping:
            raise SystemExit(1)
