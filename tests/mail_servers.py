"""Real mail servers on loopback for the mail tests: Debian's Dovecot (IMAP) and an aiosmtpd SMTP server.

Fixtures (registered by tests/conftest.py, so any tests/test_*.py may ask for them):

- ``dovecot`` (session scope): a Dovecot started from a throwaway configuration in a temporary directory,
  listening on a free 127.0.0.1 port, plain-text login allowed (loopback only), maildirs in the same
  directory. ``dovecot.add_user()`` makes a fresh user (so tests do not see each other's mail); the helpers
  ``append``, ``set_uidvalidity``, ``client`` and ``folder_status`` drive it. Skipped, saying
  ``apt-get install dovecot-imapd``, when the binary is missing. It also signs in with OAuth2 access tokens
  (XOAUTH2, OAUTHBEARER) through its oauth2 passdb, which asks ``dovecot.introspection`` (a token
  introspection endpoint on loopback, counting calls) whether a token is active: ``account.oauth2_token()``
  issues one, ``dovecot.introspection.revoke(token)`` expires it.
- ``imap_account``: a fresh Dovecot user for one test (a ``DovecotAccount``).
- ``smtp_server``: an aiosmtpd server on a free port that keeps every message it is sent
  (``smtp_server.messages``: envelope sender, recipients and the raw bytes). Optional AUTH PLAIN/LOGIN
  with ``smtp_server.require_auth("user", "password")``, or AUTH XOAUTH2 with
  ``smtp_server.require_oauth2("user", "token")`` (refusing a token the way Gmail does).

The marker ``mail_server`` tags tests that use these servers (``-m "not mail_server"`` leaves them out).
"""

from __future__ import annotations

import imaplib
import itertools
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
INSTALL_HINT = "Dovecot is not installed: apt-get install dovecot-imapd (the mail tests run against a real IMAP server)"

_CONFIG = """\
# Throwaway configuration written by tests/mail_servers.py; nothing here touches /etc/dovecot.
base_dir = {root}/run
state_dir = {root}/state
instance_name = rapport-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/mail/%n
mail_plugins =
mail_fsync = never
mailbox_list_index = yes
imap_capability = +CONDSTORE
imap_max_line_length = 4M
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = passwd-file
  # "none": lookups without a sign-in (doveadm, the static userdb checking that a user exists).
  mechanisms = plain login none
  # One file per user: a path with variables is opened per lookup, so a user added later logs in at once.
  args = scheme=PLAIN username_format=%u {root}/passwd/%n
}}
passdb {{
  # OAuth2 access tokens (XOAUTH2, OAUTHBEARER) are checked by asking the tests' introspection endpoint.
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/home/%n
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 1
}}
service imap {{
  process_limit = 200
}}
service auth {{
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


# Dovecot 2.3's oauth2 passdb: RFC 7662 introspection by POST (token=...), the answer's "username" must be the
# login name and its "active" must be true.
_OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TokenIntrospection:
    """An OAuth2 token introspection endpoint (RFC 7662) on loopback, standing in for Google's or Microsoft's
    token check: Dovecot's oauth2 passdb POSTs ``token=...`` and gets ``{"active": true, "username": ...}``
    for a token ``issue`` made (and not ``revoke``d), ``{"active": false}`` for any other. ``calls`` lists the
    tokens asked about, in order."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        self.tokens: dict[str, str] = {}  # token -> user name
        self.calls: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                with owner._lock:
                    owner.calls.append(token)
                    username = owner.tokens.get(token)
                body = json.dumps({"active": True, "username": username} if username else {"active": False})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: no line per request
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-introspection", daemon=True)
        self._thread.start()

    def issue(self, username: str) -> str:
        """A new access token that is valid for ``username``."""
        token = f"ya29.{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tokens[token] = username
        return token

    def revoke(self, token: str) -> None:
        """The token expires: introspection answers inactive from now on."""
        with self._lock:
            self.tokens.pop(token, None)

    def calls_for(self, token: str) -> int:
        with self._lock:
            return self.calls.count(token)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_message(
    *,
    subject: str = "Hello",
    sender: str = "ann@client.example",
    to: str | list[str] = "me@rapport.test",
    cc: str | list[str] = (),  # type: ignore[assignment]
    body: str = "Hello there.",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    date: Any = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
) -> bytes:
    """A well-formed RFC 5322 message as bytes (CRLF line ends), for appending to a folder or sending."""
    import datetime as dt

    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="mail.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@dataclass
class DovecotAccount:
    """One user of the test Dovecot, with helpers that act on its mail over real IMAP."""

    server: Dovecot
    username: str
    password: str

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        return self.username

    def client(self) -> imaplib.IMAP4:
        """A logged-in imaplib client (the caller logs out)."""
        return self.server.imap_login(self.username, self.password)

    def oauth2_token(self) -> str:
        """A new OAuth2 access token this user may sign in with (XOAUTH2 or OAUTHBEARER)."""
        return self.server.introspection.issue(self.username)

    def append(self, raw: bytes, folder: str = "INBOX", *, flags: str = "", date: Any = None) -> int:
        """IMAP APPEND ``raw`` to ``folder`` (created if missing), with ``date`` as its internal date when given;
        returns the new message's UID (UIDPLUS)."""
        return self.append_many([raw], folder, flags=flags, date=date)[0]

    def append_many(self, raws: list[bytes], folder: str = "INBOX", *, flags: str = "", date: Any = None) -> list[int]:
        imap = self.client()
        try:
            self._ensure_folder(imap, folder)
            uids = []
            for raw in raws:
                when = imaplib.Time2Internaldate(date) if date is not None else None
                typ, data = imap.append(_quote(folder), f"({flags})" if flags else None, when, raw)
                assert typ == "OK", data
                uids.append(_appenduid(data))
            return uids
        finally:
            imap.logout()

    def create_folder(self, folder: str) -> None:
        imap = self.client()
        try:
            self._ensure_folder(imap, folder)
        finally:
            imap.logout()

    def move(self, uid: int, source: str, target: str) -> None:
        """UID MOVE one message (it gets a new UID in ``target``)."""
        imap = self.client()
        try:
            self._ensure_folder(imap, target)
            imap.select(_quote(source))
            typ, data = imap.uid("MOVE", str(uid), _quote(target))
            assert typ == "OK", data
        finally:
            imap.logout()

    def expunge(self, uid: int, folder: str = "INBOX") -> None:
        """Delete one message for good (as another mail client would)."""
        imap = self.client()
        try:
            imap.select(_quote(folder))
            imap.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
            imap.expunge()
        finally:
            imap.logout()

    def set_flags(self, uid: int, flags: str, folder: str = "INBOX") -> None:
        imap = self.client()
        try:
            imap.select(_quote(folder))
            imap.uid("STORE", str(uid), "+FLAGS.SILENT", f"({flags})")
        finally:
            imap.logout()

    def flags(self, uid: int, folder: str = "INBOX") -> str:
        imap = self.client()
        try:
            imap.select(_quote(folder), readonly=True)
            typ, data = imap.uid("FETCH", str(uid), "(FLAGS)")
            return b" ".join(d for d in data if isinstance(d, bytes)).decode()
        finally:
            imap.logout()

    def status(self, folder: str = "INBOX") -> dict[str, int]:
        """UIDVALIDITY, UIDNEXT, MESSAGES (and HIGHESTMODSEQ) of a folder."""
        imap = self.client()
        try:
            typ, data = imap.status(_quote(folder), "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)")
            assert typ == "OK", data
            text = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            inner = text[text.rindex("(") + 1 : text.rindex(")")].split()
            return {inner[i]: int(inner[i + 1]) for i in range(0, len(inner), 2)}
        finally:
            imap.logout()

    def set_uidvalidity(self, folder: str = "INBOX", value: int | None = None) -> int:
        """Change a folder's UIDVALIDITY the way a server rebuild does (doveadm mailbox update): every UID a
        client holds for it is now meaningless. Returns the new value."""
        current = self.status(folder)["UIDVALIDITY"]
        new = value if value is not None else current + 1000
        self.server.doveadm("mailbox", "update", "--uid-validity", str(new), "-u", self.username, folder)
        assert self.status(folder)["UIDVALIDITY"] == new
        return new

    @staticmethod
    def _ensure_folder(imap: imaplib.IMAP4, folder: str) -> None:
        if folder.upper() == "INBOX":
            return
        typ, data = imap.list('""', _quote(folder))
        if not [d for d in data if d]:
            imap.create(_quote(folder))


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _appenduid(data: list[Any]) -> int:
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode()
    # [APPENDUID <uidvalidity> <uid>] Append completed.
    start = text.index("APPENDUID")
    return int(text[start:].split()[2].rstrip("]"))


@dataclass
class Dovecot:
    """A running Dovecot instance; ``add_user`` makes accounts."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    introspection: TokenIntrospection
    users: dict[str, str] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    host = "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    def add_user(self, name: str | None = None, password: str | None = None) -> DovecotAccount:
        """A new user (``name@rapport.test``) with an empty mailbox (INBOX, Sent, Drafts, Trash, Archive)."""
        with self._lock:
            number = next(self._counter)
            username = name or f"user{number}-{os.getpid()}@rapport.test"
            password = password or f"secret-{number}"
            self.users[username] = password
            path = self.root / "passwd" / username.partition("@")[0]
            tmp = path.with_suffix(".tmp")
            tmp.write_text(f"{username}:{{PLAIN}}{password}::::::\n")
            tmp.chmod(0o644)
            tmp.replace(path)
        return DovecotAccount(self, username, password)

    def imap_login(self, username: str, password: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=30)
        imap.login(username, password)
        return imap

    def imap_oauth2_login(self, username: str, token: str, mechanism: str = "XOAUTH2") -> imaplib.IMAP4:
        """An imaplib client signed in with an OAuth2 access token (raises imaplib.IMAP4.error when refused)."""
        if mechanism == "XOAUTH2":
            response = f"user={username}\x01auth=Bearer {token}\x01\x01"
        else:  # OAUTHBEARER, RFC 7628
            response = f"n,a={username},\x01host={self.host}\x01port={self.port}\x01auth=Bearer {token}\x01\x01"
        imap = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            imap.authenticate(mechanism, lambda _: response.encode())
        except imaplib.IMAP4.error:
            imap.shutdown()
            raise
        return imap

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.introspection.stop()


def start_dovecot(root: Path | None = None) -> Dovecot:
    """Start a Dovecot from a throwaway configuration, with a token introspection endpoint for its OAuth2 logins;
    raises RuntimeError with its log when it does not come up."""
    if not (os.path.exists(DOVECOT) and os.access(DOVECOT, os.X_OK)):
        raise FileNotFoundError(INSTALL_HINT)
    root = Path(root or tempfile.mkdtemp(prefix="rapport-dovecot-"))
    root.chmod(0o755)  # the mail user and Dovecot's unprivileged processes must reach the maildirs
    for sub in ("run", "state", "mail", "home", "passwd"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    if os.geteuid() == 0:
        # Dovecot refuses to serve mail as root: the mail belongs to an unprivileged user.
        login_user, internal_user = "dovenull", "dovecot"
        mail_user = pwd.getpwnam("nobody")
        internal_group = "dovecot"
        for sub in ("mail", "home"):
            os.chown(root / sub, mail_user.pw_uid, mail_user.pw_gid)
    else:
        me = pwd.getpwuid(os.geteuid())
        login_user = internal_user = me.pw_name
        internal_group = pwd.getpwuid(os.geteuid()).pw_name
        mail_user = me
    (root / "dovecot.conf").write_text(
        _CONFIG.format(
            root=root,
            port=port,
            login_user=login_user,
            internal_user=internal_user,
            internal_group=internal_group,
            mail_uid=mail_user.pw_uid,
            mail_gid=mail_user.pw_gid,
        )
    )
    introspection = TokenIntrospection()
    (root / "oauth2.conf.ext").write_text(_OAUTH2_CONFIG.format(url=introspection.url))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "dovecot.stderr", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    server = Dovecot(root=root, port=port, process=process, introspection=introspection)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(200).startswith(b"* OK"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    stderr = (root / "dovecot.stderr").read_text(errors="replace")
    raise RuntimeError(f"Dovecot did not start on port {port}:\n{stderr}\n{server.log()}")


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on loopback for the whole session (skipped with the install hint when missing)."""
    try:
        server = start_dovecot()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def imap_account(dovecot: Dovecot) -> DovecotAccount:
    """A fresh Dovecot user (empty INBOX, Sent, Drafts, Trash, Archive) for one test."""
    return dovecot.add_user()


# --- SMTP ----------------------------------------------------------------------------------------------
@dataclass
class CapturedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> Any:
        from email import message_from_bytes, policy

        return message_from_bytes(self.data, policy=policy.default)


class SMTPServer:
    """An aiosmtpd server on loopback that keeps what it is sent (``messages``) and can require AUTH."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[CapturedMessage] = []
        self.credentials: tuple[str, str] | None = None
        self.oauth2: tuple[str, str] | None = None  # (user, Bearer token) AUTH XOAUTH2 accepts
        self.oauth2_attempts: list[tuple[str, str]] = []  # every (user, token) AUTH XOAUTH2 was given
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply, e.g. "550 5.1.1 no such user"
        self.port = free_port()
        self._event = threading.Condition()
        self.controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=False,
        )

    def require_auth(self, username: str, password: str) -> None:
        self.credentials = (username, password)

    def require_oauth2(self, username: str, token: str) -> None:
        """Accept only AUTH XOAUTH2 for ``username`` with this Bearer token (no password works)."""
        self.oauth2 = (username, token)

    @property
    def auth_required(self) -> bool:
        return self.credentials is not None or self.oauth2 is not None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        # handled=False: aiosmtpd then answers a refusal with 535 (its default, handled=True, answers nothing and
        # leaves the client waiting for its timeout).
        if not self.auth_required:
            return AuthResult(success=True)
        if self.credentials is None:
            return AuthResult(success=False, handled=False)
        if isinstance(auth_data, LoginPassword):
            given = (auth_data.login.decode(), auth_data.password.decode())
            return AuthResult(success=given == self.credentials, handled=False)
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
        """AUTH XOAUTH2 (Google's and Microsoft's SASL mechanism): base64 of
        ``user=<user>^Aauth=Bearer <token>^A^A``. A refused token gets what Gmail answers: a 334 challenge
        carrying the reason as base64 JSON, the client's empty line, then 535."""
        import base64
        import binascii

        from aiosmtpd.smtp import MISSING, AuthResult

        if len(args) == 1:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        fields = dict(part.split("=", 1) for part in blob.decode(errors="replace").split("\x01") if "=" in part)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        token = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else ""
        self.oauth2_attempts.append((user, token))
        if self.oauth2 is not None and (user, token) == self.oauth2:
            return AuthResult(success=True, auth_data=user)
        reason = {"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"}
        await server.challenge_auth(json.dumps(reason))
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if self.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._event:
            self.messages.append(CapturedMessage(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self._event.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[CapturedMessage]:
        """Wait until ``count`` messages have arrived (SMTP delivery from another thread or process)."""
        with self._event:
            self._event.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        return list(self.messages)

    def clear(self) -> None:
        with self._event:
            self.messages.clear()
        self.refuse.clear()
        self.credentials = self.oauth2 = None
        self.oauth2_attempts.clear()

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server on a free loopback port capturing every message (``smtp_server.messages``)."""
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def mark_mail_server_tests(items: list[Any]) -> None:
    """Tag every test that uses these servers with ``mail_server`` (called from tests/conftest.py)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "dovecot" in names or "imap_account" in names or "smtp_server" in names:
            item.add_marker(pytest.mark.mail_server)
