"""The one outbound HTTP client (rapport.core.http): SSRF refusals (odd IP spellings, names resolving to
private space, DNS rebinding, redirects into private space), port/scheme/credential rules, size and time caps,
the proxy, the log line and the test hook. Every server here is a real one the test starts on loopback."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from rapport.core import http
from rapport.core.http import OutboundError


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping (/slow) does not hold the test up

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on purpose (size and time caps)


class Receiver:
    """A small HTTP server on 127.0.0.1 whose answers depend on the path; it records what it received."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections = 0  # TCP connections accepted (a kept-alive connection carries several requests)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                owner.connections += 1
                super().setup()

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                path = self.path
                if path.startswith("/redirect?to="):
                    self.send_response(int(self.headers.get("x-status") or 302))
                    self.send_header("Location", unquote(path.split("=", 1)[1]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/big":
                    payload = b"x" * 200_000
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if path == "/big-chunked":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(50):
                        self.wfile.write(b"1000\r\n" + b"y" * 0x1000 + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if path == "/slow":
                    time.sleep(3)
                if path == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Length", "40")
                    self.end_headers()
                    for _ in range(40):
                        self.wfile.write(b"z")
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                reply = b"hello"
                self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer

        self.server = QuietServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [server.port]
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["127.0.0.1/32"]
    yield server
    server.close()
    http.close_pools()


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def refuse(host: str, port: int) -> list[str]:
        asked.append(host)
        raise AssertionError(f"no DNS lookup expected for {host}")

    monkeypatch.setattr(http, "resolver", refuse)
    return asked


# --- odd spellings of addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("[::1]", "::1"),
    ],
)
def test_numeric_hosts_are_read_as_the_c_resolver_reads_them(written: str, address: str) -> None:
    assert http.literal_address(written) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "name", ["example.com", "1.2.3.4.5", "08.1.1.1", "256.1.1.1", "1.2.65536", "127.0.0.1a", "1..2"]
)
def test_names_and_malformed_numbers_are_not_addresses(name: str) -> None:
    assert http.literal_address(name) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://0177.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:8.8.8.8]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0251.0376.0251.0376/",
        "http://0/",
        "http://[::]/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[ff02::1]/",
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "https://[64:ff9b:1::1]/",  # local-use NAT64
    ],
)
def test_private_and_special_addresses_are_refused_without_a_lookup(url: str, no_dns: list[str]) -> None:
    with pytest.raises(OutboundError) as refused:
        http.request("GET", url)
    assert refused.value.code == "private_address"
    assert "only sends to public addresses" in str(refused.value)
    assert "RAPPORT_HTTP_ALLOW_PRIVATE" in str(refused.value)
    assert no_dns == []


def test_the_refusal_names_the_address_it_read() -> None:
    with pytest.raises(OutboundError, match=r"0x7f\.1 \(127\.0\.0\.1\) is this server itself"):
        http.request("GET", "http://0x7f.1/")
    with pytest.raises(OutboundError, match=r"169\.254\.169\.254 is a link-local address"):
        http.check_url("http://169.254.169.254/latest/meta-data/")


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::1"])
def test_public_addresses_pass(address: str) -> None:
    assert http.refusal_reason(ipaddress.ip_address(address)) is None


def test_the_allowlist_trusts_only_the_networks_it_names(settings: Any) -> None:
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["10.20.0.0/16"]
    assert http.refusal_reason(ipaddress.ip_address("10.20.3.4")) is None
    assert http.refusal_reason(ipaddress.ip_address("10.21.3.4")) == "a private network address"
    assert http.refusal_reason(ipaddress.ip_address("127.0.0.1")) == "this server itself (loopback)"


# --- scheme, port, credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code", "says"),
    [
        ("ftp://example.com/file", "scheme", "Only http:// and https:// addresses are allowed, not ftp"),
        ("file:///etc/passwd", "scheme", "not file"),
        ("gopher://example.com:70/", "scheme", "not gopher"),
        ("/relative/path", "scheme", "not a relative address"),
        ("http://example.com:22/", "port", "Port 22 is not allowed (allowed: 80, 443)"),
        ("https://example.com:8443/", "port", "RAPPORT_HTTP_ALLOWED_PORTS"),
        ("http://user:secret@example.com/", "credentials", "must not contain a user name or password"),
        ("http://user@example.com/", "credentials", "must not contain a user name or password"),
        ("http://example.com:99999/", "url", "not a valid URL"),
        ("http:///nohost", "url", "no host name"),
        ("http://exa mple.com/", "url", "full http:// or https:// URL"),
        ("http://example.com/" + "a" * 2100, "url", "at most 2048 characters"),
    ],
)
def test_scheme_port_and_credentials(url: str, code: str, says: str, no_dns: list[str]) -> None:
    with pytest.raises(OutboundError) as refused:
        http.request("GET", url)
    assert refused.value.code == code
    assert says in str(refused.value)


def test_an_extra_port_can_be_allowed(settings: Any) -> None:
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [8443]
    http.check_url("https://example.com:8443/hook")


# --- resolution, pinning, rebinding -----------------------------------------------------------------------------


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    monkeypatch.setattr(http, "resolver", lambda host, port: ["10.1.2.3"])
    with pytest.raises(OutboundError, match=r"hooks\.example\.com \(10\.1\.2\.3\) is a private network address"):
        http.request("GET", "http://hooks.example.com/")
    assert receiver.requests == []


def test_every_address_of_a_name_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "resolver", lambda host, port: ["93.184.215.14", "169.254.169.254"])
    with pytest.raises(OutboundError, match="link-local"):
        http.request("GET", "http://mixed.example.com/")


def test_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(http, "resolver", fail)
    with pytest.raises(OutboundError, match="could not be resolved") as refused:
        http.request("GET", "http://nowhere.invalid/")
    assert refused.value.code == "dns"


def test_dns_rebinding_the_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    # The first answer is an address the policy accepts (the admin trusts 127.0.0.1 here), later answers a
    # private one: a client that looked the name up again to connect would go to 10.9.9.9.
    answers = [["127.0.0.1"], ["10.9.9.9"], ["10.9.9.9"]]
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[len(asked) - 1]

    monkeypatch.setattr(http, "resolver", rebinding)
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        # urllib3 passes the pinned address through getaddrinfo (a numeric conversion, no DNS); a name here
        # would be a second lookup.
        assert http.literal_address(str(host)) is not None, f"a second lookup of {host}"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    response = http.request("GET", f"http://rebind.example.com:{receiver.port}/ok")
    assert (response.status, response.body) == (200, b"hello")
    assert asked == ["rebind.example.com"]  # resolved once, by us
    [seen] = receiver.requests
    assert seen["headers"]["Host"] == f"rebind.example.com:{receiver.port}"  # the name, not the address
    assert seen["headers"]["User-Agent"].startswith("Rapport/")


def test_https_keeps_the_name_for_sni_and_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "resolver", lambda host, port: ["93.184.215.14"])
    pool, kept = http._pool(http.parse_url("https://hooks.example.com/x"), ipaddress.ip_address("93.184.215.14"))
    assert kept
    assert pool.host == "93.184.215.14"
    assert pool.conn_kw["server_hostname"] == "hooks.example.com"
    assert pool.assert_hostname == "hooks.example.com"
    assert pool.cert_reqs == "CERT_REQUIRED"
    # The same name at another checked address, or another name at this address: never the same pool.
    other, _ = http._pool(http.parse_url("https://hooks.example.com/x"), ipaddress.ip_address("93.184.215.15"))
    named, _ = http._pool(http.parse_url("https://other.example.com/x"), ipaddress.ip_address("93.184.215.14"))
    assert other is not pool and named is not pool and named.conn_kw["server_hostname"] == "other.example.com"
    http.close_pools()


# --- a real request, redirects ----------------------------------------------------------------------------------


def test_a_post_reaches_the_receiver_and_is_logged_without_secrets(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="rapport.http"):
        response = http.request(
            "POST",
            receiver.url("/hook?token=s3cret"),
            headers={"Content-Type": "application/json", "Authorization": "Bearer s3cret"},
            body=b'{"secret": "s3cret"}',
        )
    assert (response.status, response.text) == (200, "hello")
    [seen] = receiver.requests
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/hook?token=s3cret", b'{"secret": "s3cret"}')
    [line] = [r.getMessage() for r in caplog.records if r.name == "rapport.http"]
    assert line.startswith(f"http POST 127.0.0.1:{receiver.port} status=200 ms=")
    assert line.endswith(" bytes=5")
    assert "s3cret" not in caplog.text


def test_redirects_are_followed_and_each_hop_checked(receiver: Receiver) -> None:
    response = http.request("GET", receiver.url("/redirect?to=/ok"))
    assert (response.status, response.url) == (200, receiver.url("/ok"))
    assert [r["path"] for r in receiver.requests] == ["/redirect?to=/ok", "/ok"]


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://127.0.0.2:{port}/", "private_address"),  # loopback beyond the one trusted address
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://0x7f.2:{port}/", "private_address"),
        ("http://[::1]:{port}/", "private_address"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:{port}/", "scheme"),
        ("http://127.0.0.1:22/", "port"),
    ],
)
def test_a_redirect_into_private_space_or_another_scheme_is_refused(
    receiver: Receiver, location: str, code: str
) -> None:
    with pytest.raises(OutboundError, match="redirected to an address that is not allowed") as refused:
        http.request("GET", receiver.url("/redirect?to=" + location.format(port=receiver.port)))
    assert refused.value.code == code
    assert len(receiver.requests) == 1


def test_a_redirect_to_a_name_resolving_privately_is_refused(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setattr(http, "resolver", lambda host, port: ["192.168.7.7"])
    with pytest.raises(OutboundError, match=r"internal\.example\.com \(192\.168\.7\.7\) is a private"):
        http.request("GET", receiver.url("/redirect?to=http://internal.example.com/"))
    assert len(receiver.requests) == 1


def test_at_most_three_redirects(receiver: Receiver) -> None:
    loop = receiver.url("/redirect?to=/redirect?to=/redirect?to=/redirect?to=/ok")
    with pytest.raises(OutboundError, match="redirected more than 3 times"):
        http.request("GET", loop)
    three = receiver.url("/redirect?to=/redirect?to=/redirect?to=/ok")
    assert http.request("GET", three).status == 200


def test_a_redirect_from_https_down_to_http_is_refused() -> None:
    def handler(request: http.Request) -> http.Response:
        return http.Response(302, {"Location": "http://hooks.example.com/plain"}, b"", request.url, 1)

    with http.intercept(handler) as seen, pytest.raises(OutboundError, match="from https:// to plain http://"):
        http.request("POST", "https://hooks.example.com/", body=b"{}")
    assert len(seen) == 1


def test_a_303_turns_a_post_into_a_get_and_drops_credentials_across_origins() -> None:
    answers = iter(
        [
            http.Response(303, {"Location": "https://other.example.com/done"}, b"", "", 1),
            http.Response(200, {}, b"ok", "", 1),
        ]
    )
    with http.intercept(lambda request: next(answers)) as seen:
        http.request("POST", "https://hooks.example.com/", body=b"{}", headers={"Authorization": "Bearer t"})
    assert [(r.method, r.url, r.body) for r in seen] == [
        ("POST", "https://hooks.example.com/", b"{}"),
        ("GET", "https://other.example.com/done", None),
    ]
    assert "Authorization" in seen[0].headers and "Authorization" not in seen[1].headers


# --- keep-alive connections ----------------------------------------------------------------------------------


def test_requests_to_the_same_checked_address_reuse_a_kept_connection(receiver: Receiver) -> None:
    for i in range(5):
        response = http.request("POST", receiver.url(f"/n{i}"), body=b"{}", headers={"Content-Type": "x/y"})
        assert (response.status, response.body) == (200, b"hello")
    assert [r["path"] for r in receiver.requests] == ["/n0", "/n1", "/n2", "/n3", "/n4"]
    assert receiver.connections == 1


def test_a_kept_connection_is_never_reused_for_another_resolved_address(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # Two receivers on one port, one on 127.0.0.1 and one on 127.0.0.2; the name resolves to one, then the other,
    # then the first again, then a refused address: each request goes to the address its own check passed.
    first = Receiver("127.0.0.1")
    second = Receiver("127.0.0.2", first.port)
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [first.port]
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["127.0.0.0/8"]
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.1"], ["169.254.169.254"], ["127.0.0.2"]])
    monkeypatch.setattr(http, "resolver", lambda host, port: next(answers))
    url = f"http://moving.example.com:{first.port}"
    try:
        assert http.request("GET", f"{url}/a").status == 200
        assert http.request("GET", f"{url}/b").status == 200
        assert http.request("GET", f"{url}/c").status == 200
        with pytest.raises(OutboundError, match="link-local"):
            http.request("GET", f"{url}/d")
        assert http.request("GET", f"{url}/e").status == 200
        assert [r["path"] for r in first.requests] == ["/a", "/c"]
        assert [r["path"] for r in second.requests] == ["/b", "/e"]
        assert (first.connections, second.connections) == (1, 1)  # each address's connection kept and reused
        assert {r["headers"]["Host"] for r in first.requests + second.requests} == {f"moving.example.com:{first.port}"}
    finally:
        first.close()
        second.close()
        http.close_pools()


def test_an_answer_not_read_to_its_end_does_not_leave_its_connection_for_reuse(receiver: Receiver) -> None:
    assert http.request("GET", receiver.url("/one")).status == 200
    with pytest.raises(OutboundError, match="larger than 10000 bytes and was stopped"):
        http.request("GET", receiver.url("/big-chunked"), max_bytes=10_000)
    assert http.request("GET", receiver.url("/two")).body == b"hello"
    assert receiver.connections == 2  # /one and /big-chunked on the first; /two on a new one


def test_kept_connections_are_bounded(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "POOL_HOSTS", 2)
    for host in ("a.example.com", "b.example.com", "c.example.com", "a.example.com"):
        monkeypatch.setattr(http, "resolver", lambda h, p: ["127.0.0.1"])
        assert http.request("GET", receiver.url("/", host=host)).status == 200
    # a's pool was closed when c's came in (two kept at most): a's second request needed a new connection.
    assert receiver.connections == 4
    assert len(http._pools) == 2


# --- caps --------------------------------------------------------------------------------------------------------


def test_a_large_answer_is_refused_by_its_declared_length(receiver: Receiver) -> None:
    with pytest.raises(OutboundError, match="larger than 1000 bytes") as refused:
        http.request("GET", receiver.url("/big"), max_bytes=1000)
    assert refused.value.code == "too_large"


def test_a_large_chunked_answer_is_stopped_at_the_cap(receiver: Receiver) -> None:
    with pytest.raises(OutboundError, match="larger than 10000 bytes and was stopped"):
        http.request("GET", receiver.url("/big-chunked"), max_bytes=10_000)
    assert len(http.request("GET", receiver.url("/big-chunked")).body) == 50 * 0x1000


def test_a_receiver_that_does_not_answer_in_time(receiver: Receiver) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundError) as refused:
        http.request("GET", receiver.url("/slow"), total_timeout=0.5)
    assert refused.value.code == "timeout"
    assert time.monotonic() - started < 2


def test_a_receiver_dripping_its_answer_is_stopped_at_the_total_cap(receiver: Receiver) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundError, match="took too long|did not answer in time"):
        http.request("GET", receiver.url("/drip"), total_timeout=1.0)
    assert time.monotonic() - started < 2.5


def test_a_closed_port_is_a_connection_error(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [port]
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["127.0.0.1/32"]
    with pytest.raises(OutboundError, match="could not be reached") as refused:
        http.request("GET", f"http://127.0.0.1:{port}/")
    assert refused.value.code == "connection"


# --- proxy, test hook ---------------------------------------------------------------------------------------------


def test_through_a_proxy_the_proxy_resolves_the_name(settings: Any, receiver: Receiver, no_dns: list[str]) -> None:
    settings.RAPPORT_HTTP_PROXY = receiver.url("")
    response = http.request("GET", "http://hooks.example.com/path?q=1")
    assert response.status == 200
    [seen] = receiver.requests
    assert seen["path"] == "http://hooks.example.com/path?q=1"  # absolute form: the proxy connects
    assert no_dns == []
    with pytest.raises(OutboundError, match="link-local"):  # literal addresses are still checked here
        http.request("GET", "http://169.254.169.254/")


def test_intercept_answers_without_the_network_after_the_checks(no_dns: list[str]) -> None:
    with http.intercept(lambda request: http.Response(204, {}, b"", request.url, 0)) as seen:
        assert http.request("POST", "https://hooks.example.com/x", body=b"1").status == 204
        with pytest.raises(OutboundError):
            http.request("POST", "http://10.0.0.1/x")
    assert [r.url for r in seen] == ["https://hooks.example.com/x"]
