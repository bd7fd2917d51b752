"""A real database outage, end to end: a throwaway PostgreSQL cluster (Debian's binaries, initdb into a
temporary folder) under `rapport up` — gunicorn, a job worker and the scheduler — is stopped at once
for 5 s and started again. During the outage the API answers JSON 503 with Retry-After; afterwards
every process serves and works again without a restart, and no acknowledged write is lost.

Skipped where PostgreSQL's server binaries are not installed (a user's fresh machine)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
pytestmark = [
    pytest.mark.fault,
    pytest.mark.skipif(not BIN, reason="needs PostgreSQL's server binaries (Debian's postgresql package)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL cluster of our own, so the test may stop and start it."""

    def __init__(self, base: Path):
        self.bin = BIN[-1].parent
        self.base = base
        self.data = base / "data"
        self.port = _free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(base, "postgres")
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_postgres, str(self.bin / tool), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.base / "log"), "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp folder: that is private to this user, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="rapport-pgfault-"))
    base.chmod(0o755)
    c = Cluster(base)
    c.start()
    try:
        yield c
    finally:
        try:
            c.stop()
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(base, ignore_errors=True)


def _call(port: int, method: str, path: str, token: str, body: Any = None, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        head = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=head)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def test_a_five_second_database_outage_is_answered_and_survived_by_every_process(cluster, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_") and k != "DJANGO_SETTINGS_MODULE"}
    env |= {
        "RAPPORT_DATA_DIR": str(tmp_path / "data"),
        "RAPPORT_DATABASE_URL": cluster.url,
        "DJANGO_SETTINGS_MODULE": "rapport.settings.base",
        "RAPPORT_JOBS_HEARTBEAT": "1",
    }
    py = [sys.executable, "-m", "rapport"]
    subprocess.run([*py, "migrate", "--noinput", "-v0"], env=env, check=True, timeout=300)
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup();"
            "from rapport.accounts.models import ApiToken, Role, User;"
            "u = User.objects.create_user('ops', password='ops-ops-ops-ops', role=Role.objects.get(key='admin'));"
            "print(ApiToken.issue(u, name='ops', scope='read-write')[1])",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen([*py, "up", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: _call(port, "GET", "/api/v1/people/", token)[0] == 200, 60, "the site answers")
        acknowledged = []
        for n in range(5):
            status, _, body = _call(port, "POST", "/api/v1/people/", token, {"first_name": f"Before {n}"})
            assert status == 201
            acknowledged.append(json.loads(body)["id"])

        cluster.stop()
        outage_started = time.monotonic()
        seen = []
        while time.monotonic() - outage_started < 5:
            status, headers, body = _call(port, "POST", "/api/v1/people/", token, {"first_name": "During"})
            seen.append(status)
            assert status == 503, body
            assert headers["Content-Type"].startswith("application/json")
            assert int(headers["Retry-After"]) > 0
            assert json.loads(body)["error"] == "unavailable"
            status, headers, body = _call(port, "GET", "/api/v1/people/", token)
            assert status == 503 and json.loads(body)["error"] == "unavailable"
            time.sleep(0.5)
        assert len(seen) >= 3
        cluster.start()

        # The same processes serve again: no restart of the site.
        _wait_for(lambda: _call(port, "GET", "/api/v1/people/", token)[0] == 200, 30, "the API answers again")
        for n in range(5):
            status, _, body = _call(port, "POST", "/api/v1/people/", token, {"first_name": f"After {n}"})
            assert status == 201
            acknowledged.append(json.loads(body)["id"])
        assert up.poll() is None, "rapport up stopped"
        # The worker and the scheduler came back too: fresh heartbeats and scheduled slots after the outage.
        import psycopg

        def beat_after_outage() -> bool:
            with psycopg.connect(cluster.url) as conn:
                row = conn.execute("SELECT max(beat_at) FROM jobs_workerheartbeat").fetchone()
                return row[0] is not None and row[0].timestamp() > time.time() - 3

        back = time.time()
        _wait_for(beat_after_outage, 60, "a worker heartbeat after the outage")

        def scheduled_after_outage() -> bool:
            with psycopg.connect(cluster.url) as conn:
                row = conn.execute("SELECT max(enqueued_at) FROM jobs_periodicrun").fetchone()
                return row[0] is not None and row[0].timestamp() > back

        _wait_for(scheduled_after_outage, 75, "the scheduler enqueueing after the outage")
        with psycopg.connect(cluster.url) as conn:
            ids = {r[0] for r in conn.execute("SELECT id FROM contacts_person").fetchall()}
            during = conn.execute("SELECT count(*) FROM contacts_person WHERE first_name = 'During'").fetchone()[0]
        assert set(acknowledged) <= ids
        assert during == 0  # every request answered 503 wrote nothing
    finally:
        up.terminate()
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()
