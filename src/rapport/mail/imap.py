"""Talking IMAP to a connected mailbox (IMAPClient): connecting with a password or an OAuth2 token (XOAUTH2),
finding its folders (SPECIAL-USE), appending sent mail, and turning failures into plain words with the fix."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from rapport.core import http

from . import crypto
from .models import Mailbox, MailFolder

TIMEOUT = 60.0


class MailboxError(Exception):
    """A failure shown to people: ``message`` says what went wrong and how to fix it."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}" if self.fix else self.message


def _is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


ALLOW_PRIVATE_FIX = "an administrator can allow a mail server on a private network with RAPPORT_MAIL_ALLOW_PRIVATE"


def refusal(host: str, *, resolve: bool = True) -> str | None:
    """Why a mail server at ``host`` may not be connected to (DESIGN.md §13: it names or resolves to this
    machine, a private, link-local or otherwise non-public address), or None. Networks listed in
    ``RAPPORT_MAIL_ALLOW_PRIVATE`` (and in ``RAPPORT_HTTP_ALLOW_PRIVATE``, trusted for every outbound connection)
    are allowed: an in-house mail server, the tests' servers on loopback. A name that does not resolve is not
    refused here: connecting fails and says so. ``resolve=False`` (a form being saved) judges only addresses
    written literally and ``localhost``; the connection judges the name again."""
    literal = http.literal_address(host)
    if literal is None and host.lower().rstrip(".") == "localhost":
        literal = ipaddress.ip_address("127.0.0.1")
    if literal is None and not resolve:
        return None
    try:
        addresses = (
            [literal]
            if literal is not None
            else [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in socket.getaddrinfo(host, None)]
        )
    except (OSError, ValueError, UnicodeError):
        return None
    trusted = [ipaddress.ip_network(n, strict=False) for n in getattr(settings, "RAPPORT_MAIL_ALLOW_PRIVATE", [])]
    for address in addresses:
        if any(address in network for network in trusted):
            continue
        reason = http.refusal_reason(address)
        if reason is not None:
            shown = host if str(address) == host.strip("[]") else f"{host} ({address})"
            return f"{shown} is {reason}"
    return None


def check_server(host: str) -> None:
    """Raise MailboxError (in plain words, with the fix) when ``refusal(host)`` refuses the server."""
    reason = refusal(host)
    if reason is not None:
        raise MailboxError(reason, fix=ALLOW_PRIVATE_FIX)


def connect(mailbox: Mailbox, *, timeout: float = TIMEOUT) -> IMAPClient:
    """A logged-in IMAPClient for ``mailbox`` (UIDs throughout). Raises MailboxError in plain words."""
    host, port = mailbox.imap_host, mailbox.imap_port
    check_server(host)
    if mailbox.imap_security == "none" and not _is_loopback(host):
        raise MailboxError(
            f"{host} would be reached without encryption", fix="choose SSL/TLS or STARTTLS in the mailbox settings"
        )
    try:
        secret = crypto.decrypt(mailbox.secret_encrypted)
    except crypto.SecretUnreadable:
        raise MailboxError(
            "the stored password cannot be read (the mail key changed)", fix="enter the password again"
        ) from None
    if not secret:
        raise MailboxError("no password or token is stored", fix="enter it in the mailbox settings")
    context = ssl.create_default_context()
    try:
        client = IMAPClient(host, port=port, ssl=mailbox.imap_security == "ssl", ssl_context=context, timeout=timeout)
        if mailbox.imap_security == "starttls":
            client.starttls(context)
    except TimeoutError as exc:
        raise MailboxError(
            f"{host}:{port} did not answer in time ({exc})", fix="check the server name and port"
        ) from exc
    except ssl.SSLError as exc:
        raise MailboxError(
            f"a secure connection to {host}:{port} failed ({exc.reason or exc})",
            fix="check the security setting (SSL/TLS on 993, STARTTLS on 143)",
        ) from exc
    except OSError as exc:
        raise MailboxError(
            f"cannot reach {host}:{port} ({exc.strerror or exc})", fix="check the server name and port"
        ) from exc
    except IMAPClientError as exc:
        raise MailboxError(f"{host}:{port} refused the connection ({exc})", fix="check the security setting") from exc
    try:
        if mailbox.auth_method == "xoauth2":
            client.oauth2_login(mailbox.username, secret)
        else:
            client.login(mailbox.username, secret)
    except LoginError as exc:
        _close(client)
        if mailbox.auth_method == "xoauth2":
            raise MailboxError(
                "the OAuth2 access token was rejected", fix="renew the token in the mailbox settings"
            ) from exc
        raise MailboxError("password rejected", fix="update it in the mailbox settings") from exc
    except (IMAPClientError, OSError) as exc:
        _close(client)
        raise MailboxError(f"signing in failed ({exc})", fix="check the user name and sign-in method") from exc
    return client


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass


def close(client: IMAPClient) -> None:
    _close(client)


@dataclass(frozen=True)
class ServerFolder:
    name: str
    role: str  # inbox, sent, other
    selectable: bool


def list_folders(client: IMAPClient) -> list[ServerFolder]:
    """The server's folders with their role: INBOX, and Sent by its SPECIAL-USE flag (RFC 6154) or usual name."""
    found = []
    for flags, _delimiter, name in client.list_folders():
        name = name if isinstance(name, str) else name.decode()
        lowered = {f.decode().lower() if isinstance(f, bytes) else str(f).lower() for f in flags}
        if name.upper() == "INBOX":
            role = "inbox"
        elif "\\sent" in lowered:
            role = "sent"
        else:
            role = "other"
        found.append(ServerFolder(name=name, role=role, selectable="\\noselect" not in lowered))
    if not any(f.role == "sent" for f in found):  # servers without SPECIAL-USE: the usual names
        for index, folder in enumerate(found):
            if folder.name.lower() in {"sent", "sent items", "sent messages", "inbox.sent", "[gmail]/sent mail"}:
                found[index] = ServerFolder(folder.name, "sent", folder.selectable)
                break
    return [f for f in found if f.selectable]


def discover_folders(mailbox: Mailbox, client: IMAPClient) -> list[MailFolder]:
    """Create the mailbox's folder rows from the server (inbox and sent selected by default; others offered)."""
    existing = {f.name: f for f in MailFolder.objects.filter(mailbox=mailbox)}
    for folder in list_folders(client):
        row = existing.get(folder.name)
        if row is None:
            existing[folder.name] = MailFolder.objects.create(
                mailbox=mailbox, name=folder.name, role=folder.role, selected=folder.role in ("inbox", "sent")
            )
        elif row.role != folder.role:
            MailFolder.objects.filter(pk=row.pk).update(role=folder.role)
            row.role = folder.role
    return sorted(existing.values(), key=lambda f: (f.role != "inbox", f.role != "sent", f.name))


def append_sent(mailbox: Mailbox, raw: bytes) -> int | None:
    """Append a message sent from the CRM to the mailbox's Sent folder (flagged \\Seen); returns its UID when
    the server says (UIDPLUS). The sync then finds it there as the same message (same Message-ID)."""
    client = connect(mailbox)
    try:
        sent = MailFolder.objects.filter(mailbox=mailbox, role="sent").values_list("name", flat=True).first()
        if sent is None:
            sent = next((f.name for f in list_folders(client) if f.role == "sent"), None)
        if sent is None:
            raise MailboxError("the mailbox has no Sent folder", fix="create one or choose it in the mailbox settings")
        answer: Any = client.append(sent, raw, flags=[b"\\Seen"])
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        if "APPENDUID" in text:
            return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))
        return None
    finally:
        _close(client)
