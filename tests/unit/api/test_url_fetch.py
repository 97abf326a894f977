"""The SSRF guard of URL inputs (bgremove_api.fetch), against real HTTP(S) servers on 127.0.0.1.

Loopback is refused by default, so every test that wants to reach the local server says so with
``allow_loopback=True``, as the local runner's setting does; everything else stays refused.
"""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bgremove_api.exceptions import (
    UrlBadSchemeError,
    UrlError,
    UrlFetchFailedError,
    UrlInvalidError,
    UrlNotAllowedError,
    UrlTimeoutError,
    UrlTooLargeError,
    UrlTooManyRedirectsError,
)
from bgremove_api.fetch import UrlFetcher, refusal_reason

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10,248 bytes; the fetcher never decodes it
CAP = 64 * 1024
STALL_S = 5.0
SLACK_S = 2.5
"""How far a timed-out fetch may overrun its limit on a busy machine (below STALL_S and 10 s)."""


@dataclass
class Seen:
    """What the server received: one (path, Host header) per request, and the TLS names asked for."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(seen: Seen) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            seen.requests.append((self.path, self.headers.get("Host", "")))
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            route = parts.path
            if route == "/image":
                self._send(200, IMAGE, "image/png")
            elif route == "/host":
                self._send(200, self.headers.get("Host", "").encode(), "text/plain")
            elif route.startswith("/hops/"):  # /hops/N redirects N more times, then to /image
                left = int(route.rsplit("/", 1)[1])
                self._redirect(f"/hops/{left - 1}" if left > 0 else "/image")
            elif route == "/to":
                self._redirect(query["url"], status=int(query.get("status", "302")))
            elif route == "/size":  # n bytes; announced, or streamed chunked without a length
                body = b"x" * int(query["n"])
                if query.get("chunked"):
                    self._send_chunked(body)
                else:
                    self._send(200, body, "application/octet-stream")
            elif route == "/lie":  # announces a huge length, sends a little and closes
                self.send_response(200)
                self.send_header("Content-Length", str(10**12))
                self.end_headers()
                self.wfile.write(b"x" * 100)
                self.close_connection = True
            elif route == "/stall":  # headers only after STALL_S (or when the test ends)
                seen.release.wait(STALL_S)
                self._send(200, IMAGE, "image/png")
            elif route == "/trickle-headers":  # a header line that never ends, a byte every 0.1 s
                self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(100):
                    if seen.release.wait(0.1):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
                self.close_connection = True
            elif route == "/trickle":  # headers at once, then a byte every 0.1 s
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                for _ in range(100):
                    if seen.release.wait(0.1):
                        break
                    self.wfile.write(b"x")
                    self.wfile.flush()
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_chunked(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 8192):
                piece = body[start : start + 8192]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")

        def _redirect(self, location: str, status: int = 302) -> None:
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@dataclass
class Server:
    base: str
    port: int
    seen: Seen


def _serve(seen: Seen, tls: ssl.SSLContext | None = None) -> tuple[http.server.ThreadingHTTPServer, int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(seen))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def server() -> Iterator[Server]:
    """A plain HTTP server on 127.0.0.1 (a free port)."""
    seen = Seen()
    httpd, port = _serve(seen)
    try:
        yield Server(base=f"http://127.0.0.1:{port}", port=port, seen=seen)
    finally:
        seen.release.set()  # let stalled handlers finish
        httpd.shutdown()
        httpd.server_close()


def fetcher(**kwargs: object) -> UrlFetcher:
    settings: dict[str, object] = {"max_bytes": CAP, "timeout_s": 5.0, "allow_loopback": True}
    settings.update(kwargs)
    return UrlFetcher(**settings)  # type: ignore[arg-type]


def resolver_of(*answers: list[str]) -> tuple[Callable[[str, int], list[str]], list[str]]:
    """A resolver giving ``answers`` on successive calls (the last repeats), and the names asked."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return resolve, asked


# --- the address rules --------------------------------------------------------------------------------------
REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # EC2/ECS/Lambda instance metadata
    "169.254.170.2",  # ECS task credentials
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fd00:ec2::254",  # EC2 instance metadata over IPv6
    "fc00::1",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::ffff:100.64.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::10.0.0.1",
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001::1",  # Teredo
    "2001:db8::1",
    "100::1",
    "not-an-address",
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert refusal_reason(address) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_setting_admits_loopback(address: str) -> None:
    assert refusal_reason(address) == "loopback" or "loopback" in str(refusal_reason(address))
    assert refusal_reason(address, allow_loopback=True) is None


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "169.254.169.254", "fd00:ec2::254", "::ffff:10.0.0.1", "0.0.0.0"]
)
def test_loopback_setting_admits_nothing_else(address: str) -> None:
    assert refusal_reason(address, allow_loopback=True) is not None


# --- loopback, schemes --------------------------------------------------------------------------------------
def test_loopback_refused_by_default(server: Server) -> None:
    with pytest.raises(UrlNotAllowedError, match="loopback") as caught:
        UrlFetcher(max_bytes=CAP).fetch(f"{server.base}/image")
    assert caught.value.code == "URL_NOT_ALLOWED"
    assert caught.value.http_status == 400
    assert server.seen.requests == []  # refused before connecting


def test_localhost_name_refused_by_default(server: Server) -> None:
    with pytest.raises(UrlNotAllowedError):
        UrlFetcher(max_bytes=CAP).fetch(f"http://localhost:{server.port}/image")
    assert server.seen.requests == []


def test_loopback_allowed_with_the_setting(server: Server) -> None:
    fetched = fetcher().fetch(f"{server.base}/image?x=1")
    assert fetched.body == IMAGE
    assert fetched.content_type == "image/png"
    assert fetched.final_url == f"{server.base}/image?x=1"
    assert server.seen.requests == [("/image?x=1", f"127.0.0.1:{server.port}")]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "data:image/png;base64,AA==",
        "//x/y",
        "a.png",
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(UrlBadSchemeError) as caught:
        fetcher().fetch(url)
    assert caught.value.code == "URL_BAD_SCHEME"


@pytest.mark.parametrize(
    "url",
    [
        "http:///a.png",
        "http://example.com:99999/",
        "http://[::1/",
        "http://" + "a" * 70 + ".com/",
        "http://x/" + "a" * 9000,
    ],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(UrlInvalidError) as caught:
        fetcher().fetch(url)
    assert caught.value.code == "URL_INVALID"


# --- redirects ----------------------------------------------------------------------------------------------
def test_three_redirects_followed(server: Server) -> None:
    fetched = fetcher().fetch(f"{server.base}/hops/2")  # /hops/2 -> /hops/1 -> /hops/0 -> /image
    assert fetched.body == IMAGE
    assert fetched.final_url == f"{server.base}/image"
    assert [path for path, _ in server.seen.requests] == ["/hops/2", "/hops/1", "/hops/0", "/image"]


def test_fourth_redirect_refused(server: Server) -> None:
    with pytest.raises(UrlTooManyRedirectsError) as caught:
        fetcher().fetch(f"{server.base}/hops/3")
    assert caught.value.code == "URL_TOO_MANY_REDIRECTS"
    assert len(server.seen.requests) == 4  # the fourth redirect's target is never requested


def test_redirect_limit_is_a_setting(server: Server) -> None:
    with pytest.raises(UrlTooManyRedirectsError):
        fetcher(max_redirects=0).fetch(f"{server.base}/hops/0")
    assert fetcher(max_redirects=0).fetch(f"{server.base}/image").body == IMAGE


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:80/",
    ],
)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_to_a_refused_address_refused(server: Server, target: str, status: int) -> None:
    with pytest.raises(UrlNotAllowedError):
        fetcher().fetch(f"{server.base}/to?status={status}&url={target}")
    assert len(server.seen.requests) == 1


@pytest.mark.parametrize("location", ["http://[::1", "//[", "http://[zz]/"])
def test_a_redirect_to_a_malformed_url_is_invalid(server: Server, location: str) -> None:
    with pytest.raises(UrlInvalidError, match="redirected"):
        fetcher().fetch(f"{server.base}/to?url={quote(location)}")


def test_redirect_to_a_name_resolving_to_a_refused_address_refused(server: Server) -> None:
    resolve, asked = resolver_of(["127.0.0.1"], ["192.168.0.10"])
    url = f"http://images.test:{server.port}/to?url=http://internal.test/admin"
    with pytest.raises(UrlNotAllowedError, match=r"internal\.test resolves to 192\.168\.0\.10"):
        fetcher(resolver=resolve).fetch(url)
    assert asked == ["images.test", "internal.test"]


def test_redirect_to_another_scheme_refused(server: Server) -> None:
    with pytest.raises(UrlBadSchemeError):
        fetcher().fetch(f"{server.base}/to?url=file:///etc/passwd")


def test_redirect_without_location_fails_cleanly(server: Server) -> None:
    with pytest.raises(UrlFetchFailedError, match="without a Location"):
        fetcher().fetch(f"{server.base}/to?url=")


# --- byte cap -----------------------------------------------------------------------------------------------
def test_body_at_the_cap_accepted(server: Server) -> None:
    assert len(fetcher().fetch(f"{server.base}/size?n={CAP}").body) == CAP
    assert len(fetcher().fetch(f"{server.base}/size?n={CAP}&chunked=1").body) == CAP


def test_announced_length_over_the_cap_refused(server: Server) -> None:
    with pytest.raises(UrlTooLargeError, match="announces") as caught:
        fetcher().fetch(f"{server.base}/size?n={CAP + 1}")
    assert caught.value.code == "URL_TOO_LARGE"


def test_streamed_body_over_the_cap_refused(server: Server) -> None:
    with pytest.raises(UrlTooLargeError, match="more than"):
        fetcher().fetch(f"{server.base}/size?n={4 * CAP}&chunked=1")


def test_short_body_after_a_lying_length_fails_cleanly(server: Server) -> None:
    with pytest.raises(UrlError):
        fetcher(max_bytes=10**13).fetch(f"{server.base}/lie")


# --- time limit ---------------------------------------------------------------------------------------------
def test_stalling_server_times_out(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(UrlTimeoutError) as caught:
        fetcher(timeout_s=0.5).fetch(f"{server.base}/stall")
    assert caught.value.code == "URL_TIMEOUT"
    assert time.monotonic() - started < 0.5 + SLACK_S


def test_trickling_server_times_out(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(UrlTimeoutError):
        fetcher(timeout_s=0.5).fetch(f"{server.base}/trickle")
    assert time.monotonic() - started < 0.5 + SLACK_S


def test_trickling_headers_time_out(server: Server) -> None:
    # Every recv returns within the socket timeout, and http.client waits for the line to end: only the
    # watchdog bounds this.
    started = time.monotonic()
    with pytest.raises(UrlTimeoutError):
        fetcher(timeout_s=0.5).fetch(f"{server.base}/trickle-headers")
    assert time.monotonic() - started < 0.5 + SLACK_S


def test_deadline_covers_all_redirects(server: Server) -> None:
    # Each hop is fast, but the stall at the end must count against the same deadline.
    started = time.monotonic()
    with pytest.raises(UrlTimeoutError):
        fetcher(timeout_s=0.5).fetch(f"{server.base}/to?url=/stall")
    assert time.monotonic() - started < 0.5 + SLACK_S


def test_a_given_deadline_ends_the_fetch_before_its_own_timeout(server: Server) -> None:
    # The request's deadline (from Lambda's remaining time) is shared by every fetch of the request.
    started = time.monotonic()
    with pytest.raises(UrlTimeoutError):
        fetcher(timeout_s=10).fetch(f"{server.base}/stall", deadline=started + 0.5)
    assert time.monotonic() - started < 0.5 + SLACK_S


def test_a_slow_name_lookup_counts_against_the_deadline() -> None:
    def resolve(host: str, port: int) -> list[str]:
        time.sleep(STALL_S)
        return ["127.0.0.1"]

    started = time.monotonic()
    with pytest.raises(UrlTimeoutError, match="resolve"):
        fetcher(timeout_s=0.5, resolver=resolve).fetch("http://slow-dns.test/")
    assert time.monotonic() - started < 0.5 + SLACK_S


@pytest.mark.parametrize("url", ["http://images.example:0/cat.png", "https://127.0.0.1:0/"])
def test_port_zero_refused(url: str) -> None:
    resolve, asked = resolver_of(["127.0.0.1"])  # were it read as the default port: a local connection
    with pytest.raises(UrlInvalidError, match="port"):
        fetcher(resolver=resolve).fetch(url)
    assert asked == []


# --- resolution and pinning ---------------------------------------------------------------------------------
def test_name_resolving_to_a_private_address_refused(server: Server) -> None:
    resolve, asked = resolver_of(["10.20.30.40"])
    with pytest.raises(UrlNotAllowedError, match=r"10\.20\.30\.40"):
        fetcher(resolver=resolve).fetch("http://images.example/cat.png")
    assert asked == ["images.example"]


def test_any_refused_answer_refuses_the_name(server: Server) -> None:
    # One good address among the answers is not enough: the client could be steered to the other.
    resolve, _ = resolver_of(["127.0.0.1", "169.254.169.254"])
    with pytest.raises(UrlNotAllowedError, match=r"169\.254\.169\.254"):
        fetcher(resolver=resolve).fetch(f"http://images.test:{server.port}/image")
    assert server.seen.requests == []


def test_connects_to_the_checked_address_not_a_second_answer(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the first answer passes the check, every later one would point at the metadata service.

    The fetch succeeds on 127.0.0.1 (so the connection went to the checked address), the resolver was asked
    once, and nothing below the fetcher resolved the name again.
    """
    resolve, asked = resolver_of(["127.0.0.1"], ["169.254.169.254"])
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, str) and host.endswith(".test"):
            raise AssertionError(f"{host} was resolved a second time")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    fetched = fetcher(resolver=resolve).fetch(f"http://rebind.test:{server.port}/host")
    assert fetched.body == f"rebind.test:{server.port}".encode()  # Host header keeps the name
    assert asked == ["rebind.test"]


def test_rebinding_the_other_way_stays_refused(server: Server) -> None:
    resolve, asked = resolver_of(["169.254.169.254"], ["127.0.0.1"])
    with pytest.raises(UrlNotAllowedError):
        fetcher(resolver=resolve).fetch(f"http://rebind.test:{server.port}/image")
    assert asked == ["rebind.test"]
    assert server.seen.requests == []


def test_each_redirect_hop_is_resolved_and_checked_once(server: Server) -> None:
    resolve, asked = resolver_of(["127.0.0.1"])
    url = f"http://a.test:{server.port}/to?url=http://b.test:{server.port}/image"
    assert fetcher(resolver=resolve).fetch(url).body == IMAGE
    assert asked == ["a.test", "b.test"]
    assert [host for _, host in server.seen.requests] == [f"a.test:{server.port}", f"b.test:{server.port}"]


def test_unresolvable_name_fails_cleanly() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UrlFetchFailedError, match="cannot resolve"):
        fetcher(resolver=resolve).fetch("http://nowhere.test/")
    resolve_none, _ = resolver_of([])
    with pytest.raises(UrlFetchFailedError, match="no address"):
        fetcher(resolver=resolve_none).fetch("http://nowhere.test/")


# --- other failures -----------------------------------------------------------------------------------------
def test_error_status_fails_cleanly(server: Server) -> None:
    with pytest.raises(UrlFetchFailedError, match="HTTP 404") as caught:
        fetcher().fetch(f"{server.base}/missing.png")
    assert caught.value.code == "URL_FETCH_FAILED"


def test_connection_refused_fails_cleanly() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UrlFetchFailedError):
        fetcher().fetch(f"http://127.0.0.1:{port}/image")


# --- https: the name, not the address, is what TLS checks ---------------------------------------------------
@dataclass
class Tls:
    client: ssl.SSLContext
    server_for: Callable[[str], ssl.SSLContext]


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throw-away CA, and server certificates for any name it signs."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bgremove test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    client = ssl.create_default_context(cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode())

    def server_for(name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        pem: Path = folder / f"{name}.pem"
        pem.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        return context

    return Tls(client=client, server_for=server_for)


@pytest.fixture
def https_server(tls: Tls) -> Iterator[Callable[[str], Server]]:
    """Start HTTPS servers on 127.0.0.1 presenting a certificate for a given name; records the SNI asked."""
    started: list[tuple[http.server.ThreadingHTTPServer, Seen]] = []

    def start(certificate_name: str) -> Server:
        seen = Seen()
        context = tls.server_for(certificate_name)
        context.sni_callback = lambda _sock, name, _ctx: seen.sni.append(name)  # type: ignore[assignment,func-returns-value]
        httpd, port = _serve(seen, context)
        started.append((httpd, seen))
        return Server(base=f"https://127.0.0.1:{port}", port=port, seen=seen)

    yield start
    for httpd, seen in started:
        seen.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_https_verifies_the_certificate_against_the_name(
    tls: Tls, https_server: Callable[[str], Server]
) -> None:
    server = https_server("images.test")
    resolve, _ = resolver_of(["127.0.0.1"])
    fetched = fetcher(resolver=resolve, ssl_context=tls.client).fetch(
        f"https://images.test:{server.port}/host"
    )
    assert fetched.body == f"images.test:{server.port}".encode()
    assert server.seen.sni == ["images.test"]  # SNI carries the name, not the pinned address


def test_https_refuses_a_certificate_for_another_name(
    tls: Tls, https_server: Callable[[str], Server]
) -> None:
    server = https_server("other.test")
    resolve, _ = resolver_of(["127.0.0.1"])
    with pytest.raises(UrlFetchFailedError):
        fetcher(resolver=resolve, ssl_context=tls.client).fetch(f"https://images.test:{server.port}/image")
    assert server.seen.requests == []


def test_https_by_address_needs_a_certificate_for_the_address(
    tls: Tls, https_server: Callable[[str], Server]
) -> None:
    server = https_server("images.test")
    with pytest.raises(UrlFetchFailedError):
        fetcher(ssl_context=tls.client).fetch(f"https://127.0.0.1:{server.port}/image")


def test_https_with_the_system_trust_store_refuses_an_unknown_ca(
    https_server: Callable[[str], Server],
) -> None:
    server = https_server("images.test")
    resolve, _ = resolver_of(["127.0.0.1"])
    with pytest.raises(UrlFetchFailedError):
        fetcher(resolver=resolve).fetch(f"https://images.test:{server.port}/image")


# --- checking a URL without a request (webhook URLs at submit) ----------------------------------------------
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", UrlBadSchemeError),
        ("gopher://example.com:70/_x", UrlBadSchemeError),
        ("ftp://example.com/hook", UrlBadSchemeError),
        ("example.com/hook", UrlBadSchemeError),
        ("http:///hook", UrlInvalidError),
        ("http://example.com:0/hook", UrlInvalidError),
        ("http://127.0.0.1/hook", UrlNotAllowedError),
        ("http://[::1]/hook", UrlNotAllowedError),
        ("http://169.254.169.254/latest/meta-data/", UrlNotAllowedError),
        ("http://10.0.0.1/hook", UrlNotAllowedError),
        ("http://example.com/\ud800", UrlInvalidError),  # a lone surrogate has no UTF-8 to encode
        ("http://example.com/x?\udfff", UrlInvalidError),
    ],
)
def test_check_refuses_what_a_request_would_refuse(url: str, error: type[UrlError]) -> None:
    resolve, asked = resolver_of(["8.8.8.8"])
    with pytest.raises(error):
        fetcher(resolver=resolve, allow_loopback=False).check(url)
    assert asked == []  # refused before any lookup: a scheme, host or IP literal rule


def test_check_resolves_the_name_and_checks_every_address() -> None:
    resolve, asked = resolver_of(["8.8.8.8", "2606:4700:4700::1111"])
    assert fetcher(resolver=resolve).check("https://hooks.example.com/h?x=1") == "8.8.8.8"
    assert asked == ["hooks.example.com"]
    for answer in (["127.0.0.1"], ["8.8.8.8", "10.0.0.1"], ["fd00:ec2::254"]):
        resolve, _ = resolver_of(answer)
        with pytest.raises(UrlNotAllowedError, match="resolves to"):
            fetcher(resolver=resolve, allow_loopback=False).check("https://localhost.example/h")


def test_check_follows_the_loopback_setting() -> None:
    resolve, _ = resolver_of(["127.0.0.1"])
    assert fetcher(resolver=resolve, allow_loopback=True).check("http://localhost:8080/h") == "127.0.0.1"
    assert fetcher(allow_loopback=True).check("http://127.0.0.1:9/h") == "127.0.0.1"
    with pytest.raises(UrlNotAllowedError):
        fetcher(resolver=resolve, allow_loopback=False).check("http://localhost:8080/h")


def test_check_of_an_unresolvable_name_fails_cleanly() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UrlFetchFailedError, match="cannot resolve"):
        fetcher(resolver=resolve).check("https://nowhere.invalid/h")


def test_check_sends_nothing(server: Server) -> None:
    assert fetcher().check(f"{server.base}/image") == "127.0.0.1"
    assert server.seen.requests == []
