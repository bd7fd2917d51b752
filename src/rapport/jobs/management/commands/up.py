"""``rapport up``: the web server plus a job worker and the scheduler, as one command (what ``make run`` runs).

The three run as child processes under a small supervisor: a child that exits (a crash, an out-of-memory kill)
is started again after a pause that grows while it keeps failing quickly (1 s, 2 s, 4 s … at most 60 s), and
each exit and start is logged. The site stays up meanwhile. Ctrl-C or SIGTERM stops all of them.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

# A child that ran at least this long before exiting is restarted after the shortest pause again.
STEADY_AFTER = 30.0
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0


@dataclass
class Child:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0  # exits in a row, each soon after its start
    start_at: float = 0.0  # when to (re)start it, while not running
    restarts: int = field(default=0)

    def describe_exit(self, code: int) -> str:
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"


class Command(BaseCommand):
    help = "Serve Rapport with a background-job worker and the scheduler, restarting any that stops; Ctrl-C stops all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=None)
        parser.add_argument("--port", default=None)
        parser.add_argument("--job-workers", type=int, default=1, help="Worker processes to start (default 1).")

    def log(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        self.stderr.write(f"{stamp} rapport up: {message}")
        self.stderr.flush()

    def handle(self, *args: Any, **opts: Any) -> None:
        rapport = [sys.executable, "-m", "rapport"]
        serve = [*rapport, "serve"]
        if opts["host"]:
            serve += ["--host", opts["host"]]
        if opts["port"]:
            serve += ["--port", str(opts["port"])]
        workers = max(0, opts["job_workers"])
        children = [Child(f"worker {i + 1}" if workers > 1 else "worker", [*rapport, "worker"]) for i in range(workers)]
        children += [Child("scheduler", [*rapport, "scheduler"]), Child("web", serve)]
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                now = time.monotonic()
                for child in children:
                    self.supervise(child, now)
                time.sleep(0.2)
        finally:
            self.stop_all(children)

    def supervise(self, child: Child, now: float) -> None:
        process = child.process
        if process is not None:
            code = process.poll()
            if code is None:
                return
            ran = now - child.started_at
            child.quick_failures = child.quick_failures + 1 if ran < STEADY_AFTER else 1
            pause = min(MAX_PAUSE, FIRST_PAUSE * 2 ** (child.quick_failures - 1))
            child.process, child.start_at = None, now + pause
            self.log(
                f"{child.name} (pid {process.pid}) {child.describe_exit(code)} after {ran:.0f} s; "
                f"restarting in {pause:.0f} s"
            )
        if child.process is None and now >= child.start_at:
            child.process = subprocess.Popen(child.command)
            child.started_at = now
            if child.restarts:
                self.log(f"{child.name} restarted (pid {child.process.pid}, restart {child.restarts})")
            else:
                self.log(f"{child.name} started (pid {child.process.pid})")
            child.restarts += 1

    def stop_all(self, children: list[Child]) -> None:
        running = [c.process for c in children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.log("stopped")
