"""The one outbound HTTP client (DESIGN.md §13): every server-side request goes through ``request()``.

What it guarantees, whoever calls it (webhooks now; integrations, email providers, link previews later):

- http and https only, on port 80, 443 or one listed in ``RAPPORT_HTTP_ALLOWED_PORTS``; no credentials in the URL;
- the host is resolved here, every address it resolves to is checked (public only: no loopback, private,
  link-local, shared/CGNAT, multicast, reserved or unspecified space, nor IPv4 hidden in IPv6 forms), and the
  connection is made to the checked address (pinned: no second lookup, so DNS rebinding cannot swap it),
  with the original name in the Host header and in TLS (SNI, and the certificate is checked against the name);
- numeric hosts are read the way the C resolver reads them (``0177.0.0.1``, ``2130706433``, ``0x7f.1``, ``127.1``)
  before the check;
- redirects are followed here (at most 3), each hop checked the same way, never to another scheme nor from
  https down to http;
- connect and total time caps, a response size cap (read in chunks, stopped at the cap);
- ``RAPPORT_HTTP_PROXY``: requests go through that proxy, which then resolves names itself (literal addresses
  are still checked here; the proxy is the one to keep names away from private space);
- ``RAPPORT_HTTP_ALLOW_PRIVATE``: networks an administrator trusts although they are not public (empty by default);
- one log line per request on the ``rapport.http`` logger (method, host, status, ms, bytes; never bodies,
  headers or query strings).

Every refusal and failure raises ``OutboundError`` with a message the person who typed the URL can act on.
Tests elsewhere intercept requests with ``intercept()`` (no network in tests but loopback servers they start).

Built on urllib3: its connection pools take the address to connect to and the name for TLS separately
(``server_hostname``/``assert_hostname``), which is exactly what pinning needs, it streams bodies and has no
dependencies of its own.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

logger = logging.getLogger("rapport.http")

USER_AGENT = "Rapport/0.1 (self-hosted CRM; outbound webhooks)"
DEFAULT_PORTS = frozenset({80, 443})
MAX_REDIRECTS = 3
CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
MAX_BYTES = 1024 * 1024
CHUNK = 16 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another origin.
SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


class OutboundError(Exception):
    """A request refused by the policy above or failed on the way; ``str()`` says what to change."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    elapsed_ms: int

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Request:
    """What ``intercept()`` handlers receive: the request as it would have gone out (after the checks)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    meta: dict[str, Any] = field(default_factory=dict)


# --- settings -----------------------------------------------------------------------------------------------


def allowed_ports() -> frozenset[int]:
    extra = getattr(settings, "RAPPORT_HTTP_ALLOWED_PORTS", []) or []
    return DEFAULT_PORTS | {int(p) for p in extra}


def trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in getattr(settings, "RAPPORT_HTTP_ALLOW_PRIVATE", []) or []]


def proxy_url() -> str:
    return str(getattr(settings, "RAPPORT_HTTP_PROXY", "") or "")


# --- addresses ----------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{1,20}")
_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written any way the C resolver's inet_aton() accepts, else None."""
    parts = host.split(".")
    if host.endswith("."):
        parts = parts[:-1]
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                return None
            values.append(int(part, 8))
        else:
            values.append(int(part))
    # a.b.c.d / a.b.c (c: 16 bits) / a.b (b: 24 bits) / a (32 bits)
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (``[::1]``, ``127.1``, ``2130706433``…), or None for a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    bare = bare.split("%", 1)[0]  # a zone id (fe80::1%eth0) does not change the address
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    return _inet_aton(bare)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why a connection to this address is refused, or None when it is public (or trusted by the admin)."""
    if any(address in network for network in trusted_networks()):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return "an IPv4 address written as IPv6"
        embedded = _embedded_ipv4(address)
        if embedded is not None and refusal_reason(embedded) is not None:
            return "a private address hidden in an IPv6 form"
        if address in _NAT64_LOCAL:
            return "a private address hidden in an IPv6 form"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "this server itself (loopback)"
    if address.is_link_local:
        return "a link-local address (such as the cloud metadata service)"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a carrier-grade NAT address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _check_address(address: IPAddress, host: str) -> None:
    reason = refusal_reason(address)
    if reason is not None:
        shown = host if str(address) == host.strip("[]") else f"{host} ({address})"
        raise OutboundError(
            f"{shown} is {reason}; Rapport only sends to public addresses. "
            "An administrator can trust a private network with RAPPORT_HTTP_ALLOW_PRIVATE.",
            code="private_address",
        )


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


# Swapped by tests (monkeypatch ``rapport.core.http.resolver``) to answer names without DNS.
resolver: Resolver = system_resolver


def resolve(host: str, port: int) -> IPAddress:
    """The one checked address to connect to: every address the name resolves to must pass."""
    literal = literal_address(host)
    if literal is not None:
        _check_address(literal, host)
        return literal
    try:
        answers = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise OutboundError(f"The name {host} could not be resolved ({exc}); check the address.", code="dns")
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise OutboundError(f"The name {host} has no address; check the address.", code="dns")
    for address in addresses:
        _check_address(address, host)
    return addresses[0]


# --- URLs ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lower-cased), brackets removed for IPv6
    port: int
    path: str  # path + query, never empty

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> Target:
    """Check the parts of a URL that need no network: scheme, credentials, host, port."""
    if not isinstance(url, str) or not url or len(url) > 2048 or any(c in url for c in "\r\n\t\x00 "):
        raise OutboundError(
            "The address must be a full http:// or https:// URL of at most 2048 characters.", code="url"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError(f"The address is not a valid URL ({exc}).", code="url")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundError(
            f"Only http:// and https:// addresses are allowed, not {scheme or 'a relative address'}.", code="scheme"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise OutboundError(
            "The address must not contain a user name or password; put credentials in the secret instead.",
            code="credentials",
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise OutboundError("The address has no host name.", code="url")
    if port is None:
        port = 443 if scheme == "https" else 80
    if port not in allowed_ports():
        ports = ", ".join(str(p) for p in sorted(allowed_ports()))
        raise OutboundError(
            f"Port {port} is not allowed (allowed: {ports}); an administrator can add ports with "
            "RAPPORT_HTTP_ALLOWED_PORTS.",
            code="port",
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path)


def check_url(url: str) -> None:
    """Check a URL as typed (forms, API): everything but the network. Resolution is checked when sending."""
    target = parse_url(url)
    literal = literal_address(target.host)
    if literal is not None:
        _check_address(literal, target.host)


# --- test hook ----------------------------------------------------------------------------------------------

Handler = Callable[[Request], Response | Exception]
_interceptors: list[Handler] = []


@contextmanager
def intercept(handler: Handler) -> Iterator[list[Request]]:
    """Answer requests with ``handler`` instead of the network (after the URL checks); yields the requests seen.

    The handler returns a ``Response`` or an exception to raise (an ``OutboundError`` for a failure).
    """
    seen: list[Request] = []

    def recording(request: Request) -> Response | Exception:
        seen.append(request)
        return handler(request)

    _interceptors.append(recording)
    try:
        yield seen
    finally:
        _interceptors.remove(recording)


# --- sending ------------------------------------------------------------------------------------------------


POOL_HOSTS = 32  # checked (scheme, name, port, address) keys kept, the least recently used closed first
POOL_CONNECTIONS = 8  # idle keep-alive connections kept per key (as many as a sender posts at once)
_pools: OrderedDict[tuple[str, str, int, str], urllib3.connectionpool.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _forget_pools_after_fork() -> None:
    # A forked worker (RQ's work horse) must not share its parent's sockets: it starts with no pool.
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_after_fork)


def close_pools() -> None:
    """Close every kept connection (tests, and a process that stops sending)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def _pool(target: Target, address: IPAddress | None) -> tuple[urllib3.connectionpool.HTTPConnectionPool, bool]:
    """The connection pool for this request and whether it is kept for the next ones.

    Direct requests share keep-alive connections per checked address: the key holds the scheme, the name (the
    Host header, TLS's SNI and certificate check), the port and the address this request's own check just
    passed, so a kept connection is only ever reused for the same checked address — a name now resolving
    elsewhere gets a new pool, connected to the new checked address. Through a proxy, a pool per request."""
    proxy = proxy_url()
    if proxy:
        manager = urllib3.ProxyManager(proxy, retries=False, num_pools=1)
        return manager.connection_from_host(target.host, target.port, scheme=target.scheme), False
    assert address is not None
    key = (target.scheme, target.host, target.port, str(address))
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool, True
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address),
                target.port,
                retries=False,
                maxsize=POOL_CONNECTIONS,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
            )
        else:
            pool = urllib3.HTTPConnectionPool(str(address), target.port, retries=False, maxsize=POOL_CONNECTIONS)
        _pools[key] = pool
        evicted = _pools.popitem(last=False)[1] if len(_pools) > POOL_HOSTS else None
    if evicted is not None:
        evicted.close()
    return pool, True


def _send_once(
    method: str,
    target: Target,
    headers: dict[str, str],
    body: bytes | None,
    *,
    connect_timeout: float,
    deadline: float,
    max_bytes: int,
) -> tuple[int, dict[str, str], bytes]:
    address = None
    if proxy_url():
        literal = literal_address(target.host)
        if literal is not None:
            _check_address(literal, target.host)
    else:
        address = resolve(target.host, target.port)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OutboundError("The request took too long and was stopped.", code="timeout")
    timeout = urllib3.Timeout(connect=min(connect_timeout, remaining), read=remaining)
    pool, kept = _pool(target, address)
    complete = False
    url = target.path if not proxy_url() else f"{target.scheme}://{target.host_header}{target.path}"
    try:
        response = pool.urlopen(
            method,
            url,
            body=body,
            headers={**headers, "Host": target.host_header},
            redirect=False,
            retries=False,
            timeout=timeout,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
        )
        try:
            chunks: list[bytes] = []
            size = 0
            declared = response.headers.get("content-length", "")
            if _DIGITS.fullmatch(declared) and int(declared) > max_bytes:
                raise OutboundError(f"The answer is larger than {max_bytes} bytes and was not read.", code="too_large")
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OutboundError("The request took too long and was stopped.", code="timeout")
                sock = getattr(response.connection, "sock", None)
                if sock is not None:
                    sock.settimeout(left)
                chunk = response.read1(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise OutboundError(
                        f"The answer is larger than {max_bytes} bytes and was stopped there.", code="too_large"
                    )
                chunks.append(chunk)
            complete = True
            return response.status, {k.lower(): v for k, v in response.headers.items()}, b"".join(chunks)
        finally:
            if not complete:
                response.close()  # an answer not read to its end: its connection is not reused
            response.release_conn()
    except OutboundError:
        raise
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError, for history
        raise OutboundError(f"The receiver could not be reached ({_short(exc)}).", code="connection")
    except (urllib3.exceptions.TimeoutError, TimeoutError):
        raise OutboundError("The receiver did not answer in time.", code="timeout")
    except urllib3.exceptions.SSLError as exc:
        raise OutboundError(f"The secure connection failed ({_short(exc)}); check the certificate.", code="tls")
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise OutboundError(f"The receiver could not be reached ({_short(exc)}).", code="connection")
    finally:
        if not kept:
            pool.close()


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    return text[:200]


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
    max_bytes: int = MAX_BYTES,
    follow_redirects: bool = True,
) -> Response:
    """Send one request under the policy in this module's docstring; raises ``OutboundError``."""
    method = method.upper()
    started = time.monotonic()
    deadline = started + total_timeout
    target = parse_url(url)
    sent_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    hops = 0
    while True:
        try:
            status, response_headers, content = _dispatch(
                method,
                target,
                sent_headers,
                body,
                connect_timeout=connect_timeout,
                deadline=deadline,
                max_bytes=max_bytes,
            )
        except OutboundError as exc:
            if hops and exc.code in ("private_address", "dns"):
                raise OutboundError(f"The receiver redirected to an address that is not allowed: {exc}", code=exc.code)
            raise
        location = response_headers.get("location")
        if not follow_redirects or status not in REDIRECT_CODES or not location:
            break
        hops += 1
        if hops > MAX_REDIRECTS:
            raise OutboundError(f"The receiver redirected more than {MAX_REDIRECTS} times.", code="redirect")
        current = f"{target.scheme}://{target.host_header}{target.path}"
        next_url = urljoin(current, location)
        try:
            next_target = parse_url(next_url)
        except OutboundError as exc:
            raise OutboundError(f"The receiver redirected to an address that is not allowed: {exc}", code=exc.code)
        if target.scheme == "https" and next_target.scheme == "http":
            raise OutboundError(
                "The receiver redirected from https:// to plain http://; use the https address.", code="scheme"
            )
        if (next_target.host, next_target.port, next_target.scheme) != (target.host, target.port, target.scheme):
            sent_headers = {k: v for k, v in sent_headers.items() if k.lower() not in SENSITIVE_HEADERS}
        if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
            method, body = "GET", None
            sent_headers = {
                k: v for k, v in sent_headers.items() if k.lower() not in ("content-type", "content-length")
            }
        target = next_target
    return Response(
        status=status,
        headers=response_headers,
        body=content,
        url=f"{target.scheme}://{target.host_header}{target.path}",
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )


def _dispatch(
    method: str,
    target: Target,
    headers: dict[str, str],
    body: bytes | None,
    *,
    connect_timeout: float,
    deadline: float,
    max_bytes: int,
) -> tuple[int, dict[str, str], bytes]:
    hop_started = time.monotonic()
    status: int | str = "error"
    size = 0
    try:
        if _interceptors:
            literal = literal_address(target.host)
            if literal is not None:
                _check_address(literal, target.host)
            url = f"{target.scheme}://{target.host_header}{target.path}"
            answer = _interceptors[-1](Request(method=method, url=url, headers=dict(headers), body=body))
            if isinstance(answer, Exception):
                raise answer
            status, size = answer.status, len(answer.body)
            if size > max_bytes:
                raise OutboundError(
                    f"The answer is larger than {max_bytes} bytes and was stopped there.", code="too_large"
                )
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.body
        code, response_headers, content = _send_once(
            method, target, headers, body, connect_timeout=connect_timeout, deadline=deadline, max_bytes=max_bytes
        )
        status, size = code, len(content)
        return code, response_headers, content
    except OutboundError as exc:
        status = exc.code
        raise
    finally:
        logger.info(
            "http %s %s status=%s ms=%d bytes=%d",
            method,
            target.host_header,
            status,
            int((time.monotonic() - hop_started) * 1000),
            size,
        )
