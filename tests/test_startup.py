"""Start-up: the login address printed by ``rapport serve`` and saved in data/demo-login.txt is the one
served (``make run PORT=8100``), and a refused page (403) is one line in the log, not a traceback."""

from __future__ import annotations

import io
import logging
import stat
import sys
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from rapport.accounts.models import User
from rapport.core.demo import login_url
from rapport.core.management.commands.demo import save_logins

LOGINS = ["admin / s3cret  (admin)", "maria / other  (manager, Sales East)"]


@pytest.fixture
def served_env(monkeypatch: Any) -> Any:
    for name in ("RAPPORT_SITE_URL", "RAPPORT_HOST", "RAPPORT_PORT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def serve_banner(*args: str) -> str:
    out = io.StringIO()
    call_command("serve", "--dry-run", *args, stdout=out)
    return out.getvalue()


def test_login_file_names_the_port_make_run_serves(served_env: Any) -> None:
    served_env.setenv("RAPPORT_PORT", "8100")  # what `make run PORT=8100` exports
    served_env.setenv("RAPPORT_HOST", "127.0.0.1")
    path = save_logins(LOGINS)
    text = path.read_text()
    assert text.startswith("admin / s3cret at http://127.0.0.1:8100\n")
    assert "maria / other  (manager, Sales East)" in text and ":8000" not in text
    banner = serve_banner()
    assert "Rapport is starting on http://127.0.0.1:8100" in banner
    assert "Log in with admin / s3cret at http://127.0.0.1:8100" in banner and ":8000" not in banner


def test_serving_on_another_port_later_updates_the_banner_and_the_file(served_env: Any) -> None:
    path = save_logins(LOGINS)  # loaded with the defaults
    assert "at http://127.0.0.1:8000\n" in path.read_text()
    banner = serve_banner("--port", "8100")
    assert "Log in with admin / s3cret at http://127.0.0.1:8100" in banner
    assert path.read_text().startswith("admin / s3cret at http://127.0.0.1:8100\n")
    assert "maria / other" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_login_url_rules(served_env: Any) -> None:
    assert login_url() == "http://127.0.0.1:8000"
    assert login_url("0.0.0.0", 8100) == "http://127.0.0.1:8100"  # every interface: open it here
    assert login_url("::1", "9000") == "http://[::1]:9000"
    served_env.setenv("RAPPORT_SITE_URL", "https://crm.example.com/")
    assert login_url("0.0.0.0", 8100) == "https://crm.example.com"  # behind a proxy: the public address


def test_banner_without_demo_logins_says_how_to_make_one(served_env: Any) -> None:
    (settings.DATA_DIR / "demo-login.txt").unlink(missing_ok=True)
    assert "rapport createuser --admin" in serve_banner("--port", "8100")


def console_handler() -> logging.Handler:
    return next(h for h in logging.getLogger().handlers if any(f for f in h.filters))


def test_a_403_is_one_line_in_the_log(users: dict[str, User], caplog: Any) -> None:
    client = Client()
    client.force_login(users["member"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get("/settings/users/").status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    # Django attached the PermissionDenied; the console handler's filter took it off before printing.
    assert record.status_code == 403 and record.exc_info is None
    assert console_handler().format(record) == "Forbidden (Permission denied): /settings/users/"


def failing_record(status: int) -> logging.LogRecord:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Failed: /x", None, sys.exc_info())
    record.status_code = status
    return record


@pytest.mark.parametrize(("status", "traceback"), [(403, False), (404, False), (400, False), (500, True), (502, True)])
def test_only_client_errors_lose_the_traceback(status: int, traceback: bool) -> None:
    record = failing_record(status)
    handler = console_handler()
    assert handler.filter(record)
    shown = handler.format(record)
    assert ("Traceback" in shown and "RuntimeError: boom" in shown) is traceback
    assert shown.startswith("Failed: /x")
