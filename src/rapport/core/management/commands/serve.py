"""``rapport serve``: gunicorn (WSGI, persistent DB connections) on the given address."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Rapport with gunicorn and print how to log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("RAPPORT_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("RAPPORT_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("RAPPORT_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("RAPPORT_WEB_THREADS", "4")))

    def handle(self, *args: Any, **opts: Any) -> None:
        url = f"http://{opts['host']}:{opts['port']}"
        self.stdout.write(self.style.SUCCESS(f"Rapport is starting on {url}"))
        login = settings.DATA_DIR / "demo-login.txt"
        if login.exists():
            self.stdout.write(f"Log in with {login.read_text().strip()}  (saved in {login})")
        else:
            self.stdout.write("Create a login with: rapport createuser --admin <username>")
        self.stdout.flush()
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
