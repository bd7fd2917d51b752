"""``rapport serve``: gunicorn (WSGI, persistent DB connections) on the given address."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from rapport.core.demo import login_url

from .demo import LOGIN_FILE, point_logins_at


class Command(BaseCommand):
    help = "Serve Rapport with gunicorn and print how to log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("RAPPORT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RAPPORT_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("RAPPORT_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("RAPPORT_WEB_THREADS", "4")))
        parser.add_argument("--dry-run", action="store_true", help="Print the start-up banner and stop.")

    def handle(self, *args: Any, **opts: Any) -> None:
        url = login_url(opts["host"], opts["port"])
        self.stdout.write(self.style.SUCCESS(f"Rapport is starting on {url}"))
        logins = point_logins_at(url)
        if logins is not None:
            self.stdout.write(f"Log in with {logins.strip()}  (saved in {settings.DATA_DIR / LOGIN_FILE})")
        else:
            self.stdout.write("Create a login with: rapport createuser --admin <username>")
        self.stdout.flush()
        if opts["dry_run"]:
            return
        argv = [
            "gunicorn",
            "rapport.wsgi:application",
            "--bind",
            f"{opts['host']}:{opts['port']}",
            "--workers",
            str(opts["workers"]),
            "--threads",
            str(opts["threads"]),
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("DJANGO_SETTINGS_MODULE", "rapport.settings.base")
        os.execvp(sys.executable, [sys.executable, "-m", *argv])
