"""``rapport demo``: a small realistic data set written through the real write path, or, with
``--people N --companies M``, a large synthetic one loaded in bulk for benchmarks.

Each app brings its own part in its ``demo.py``: ``load_demo(ctx)`` for the small set, and optionally
``add_arguments(parser)`` and ``load_bulk(command, rng, opts)`` (returns True when it did the work).
"""

from __future__ import annotations

import os
import random
import re
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from rapport.core import customfields, registry
from rapport.core.demo import DemoContext, demo_modules, login_url

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
        ctx = DemoContext(rng=rng, now=timezone.now())
        # One transaction: a half-loaded demo never stays behind, and one commit instead of thousands;
        # custom-field definitions read once, as in a request.
        with transaction.atomic(), customfields.memoized():
            for module in modules:
                if hasattr(module, "load_demo"):
                    module.load_demo(ctx)
        login = save_logins(ctx.logins)
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {time.monotonic() - started:.1f}s; logins saved in {login}")
        )


LOGIN_FILE = "demo-login.txt"
URL_IN_FIRST_LINE = re.compile(r" at \S+$", re.M)


def save_logins(logins: list[str], url: str | None = None) -> Path:
    """The demo's logins, readable by the owner only; the first line names the address to open."""
    admin_line, *others = logins
    text = f"{admin_line.split('  (')[0]} at {url or login_url()}\n\nOther demo users (same site):\n"
    return _write_private(settings.DATA_DIR / LOGIN_FILE, text + "\n".join(others) + "\n")


def point_logins_at(url: str) -> str | None:
    """The saved logins with their address set to ``url`` (``rapport serve`` calls it with the address it
    listens on, so a demo loaded for port 8000 and served on 8100 says 8100); None without a login file."""
    path = settings.DATA_DIR / LOGIN_FILE
    if not path.exists():
        return None
    text = path.read_text()
    updated = URL_IN_FIRST_LINE.sub(f" at {url}", text, count=1)
    if updated != text:
        _write_private(path, updated)
    return updated


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    path.chmod(0o600)
    return path
