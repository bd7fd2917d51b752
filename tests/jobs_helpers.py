"""Starting real ``rapport worker`` / ``rapport scheduler`` processes against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.db import connection


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s.get("USER") or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


def start(command: str, tmp_path: Path, *extra: str, broker_url: str = "", **env: str) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
        "RAPPORT_DATABASE_URL": database_url(),
        "RAPPORT_DATA_DIR": str(tmp_path),
        "RAPPORT_BROKER_URL": broker_url,
        "RAPPORT_JOBS_HEARTBEAT": "0.3",
        "RAPPORT_JOBS_STALE_AFTER": "1.5",
        "RAPPORT_MAIL_ALLOW_PRIVATE": "127.0.0.0/8,::1",  # the tests' mail servers listen on loopback
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    log_path = tmp_path / f"{command}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        # A session of its own, so SIGKILL can take the whole process group like a machine dying.
        proc = subprocess.Popen(
            [sys.executable, "-m", "rapport", command, *extra],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def output(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_for(predicate: Callable[[], object], timeout: float = 20, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid`` and theirs (Linux /proc): RQ's work horse puts itself in a process
    group of its own, so killing the worker's group alone would leave it running."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    """Like a machine dying: the worker, its process group and every process it started."""
    descendants = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    _kill_all(descendants)
    proc.wait(timeout=10)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    descendants = _descendants(proc.pid) if proc.poll() is None else []
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        _kill_all([pid for pid in descendants if Path(f"/proc/{pid}").exists()])  # nothing outlives the test
