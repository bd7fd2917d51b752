"""``rapport demo``: a small realistic data set written through the real write path, or, with
``--people N --companies M``, a large synthetic one loaded in bulk for benchmarks.

Each app brings its own part in its ``demo.py``: ``load_demo(ctx)`` for the small set, and optionally
``add_arguments(parser)`` and ``load_bulk(command, rng, opts)`` (returns True when it did the work).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rapport.core import registry
from rapport.core.demo import SITE_URL, DemoContext, demo_modules

SEED = 42


class Command(BaseCommand):
    help = "Load demo data: a small realistic set (--if-empty), or --people N --companies M for benchmarks."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when the database has any record.")
        parser.add_argument("--seed", type=int, default=SEED)
        for module in demo_modules():
            if hasattr(module, "add_arguments"):
                module.add_arguments(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        rng = random.Random(opts["seed"])
        modules = demo_modules()
        for module in modules:
            if hasattr(module, "load_bulk") and module.load_bulk(self, rng, opts):
                return
        if any(rtype.model.objects.exists() for rtype in registry.all_types()):
            if opts["if_empty"]:
                self.stdout.write("Demo data not loaded: the database already has records.")
                return
            raise CommandError("The database already has data; use --if-empty to skip quietly.")
        started = time.monotonic()
        ctx = DemoContext(rng=rng)
        for module in modules:
            if hasattr(module, "load_demo"):
                module.load_demo(ctx)
        login = save_logins(ctx.logins)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {time.monotonic() - started:.1f}s; logins saved in {login}")
        )


def save_logins(logins: list[str]) -> Any:
    path = settings.DATA_DIR / "demo-login.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    admin_line, *others = logins
    text = f"{admin_line.split('  (')[0]} at {SITE_URL}\n\nOther demo users (same site):\n" + "\n".join(others) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)
    return path
