"""Fetch image URLs (``image.url``, ``image_url``) and post webhooks behind an SSRF guard.

Every hop, the first request and each redirect alike, goes through the same checks:

1. the scheme is http or https, the URL has a host and a valid port (not 0);
2. the host name is resolved once, and *every* address it resolves to must be public: loopback, private,
   link-local (the instance metadata service at 169.254.169.254 and fd00:ec2::254 included), CGNAT
   (100.64.0.0/10), multicast, reserved, unspecified, documentation and benchmarking ranges are refused,
   and so are the IPv6 forms that carry an IPv4 address (IPv4-mapped, 6to4 and NAT64 are judged by the
   address they carry; IPv4-compatible and Teredo are refused outright);
3. the connection goes to the address that was checked, never to a second lookup of the name.

:meth:`UrlFetcher.check` applies 1 and 2 without a request: webhook URLs are checked so at submit.

How the address is pinned: the request goes through :mod:`http.client` (standard library), opened on the
checked IP literal, so nothing below the check ever sees the host name to resolve
(``socket.create_connection`` on an IP literal performs no DNS lookup), and a DNS answer that changes
between check and connect (DNS rebinding) cannot move the connection. The name travels only where it
belongs: in the ``Host`` header, and for https as ``server_hostname``, which is both the TLS SNI and the name
the :mod:`ssl` module verifies the certificate against (``check_hostname`` of the default context; system CA
store). ``requests``, or a urllib3 ``PoolManager``, would resolve the name themselves, and would honour
``HTTP(S)_PROXY`` from the environment, which could route the request anywhere; a plain
:class:`http.client.HTTPConnection` does neither. urllib3's pools could be pinned the same way, but the
version the Lambda runtime ships is not ours to choose (the layers leave it to the runtime), and its
``read(amt)`` blocks until ``amt`` bytes arrive; :meth:`http.client.HTTPResponse.read1` returns what one
read brings, so the byte cap and deadline are checked as data comes in.

Limits: the whole fetch, redirects and name lookups included, must finish within ``timeout_s`` (or the
caller's earlier ``deadline``): each socket operation waits
at most for what is left, and a watchdog shuts the socket down at the deadline, so that a server trickling
bytes cannot stretch it. At most ``max_redirects`` redirects are followed. Bodies over ``max_bytes``,
announced or actual, are refused, and so are compressed bodies (only ``identity`` is asked for; decoding
would let a small download expand past the cap). Every failure is a :class:`~bgremove_api.exceptions.UrlError`
subclass with a stable code.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import quote, urljoin, urlsplit

from bgremove_api.exceptions import (
    UrlBadSchemeError,
    UrlFetchFailedError,
    UrlInvalidError,
    UrlNotAllowedError,
    UrlTimeoutError,
    UrlTooLargeError,
    UrlTooManyRedirectsError,
)

__all__ = ["Fetched", "Resolver", "UrlFetcher", "refusal_reason", "system_resolver"]

Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses``: every IPv4/IPv6 address the name resolves to, as text."""

DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "bgremove-url-fetch/1"
_CHUNK_BYTES = 64 * 1024
_MAX_URL_CHARS = 8192
"""Longer URLs are refused unparsed (browsers and CDNs stop at about this length too)."""

_LOOPBACK = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))

_REFUSED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("169.254.0.0/16", "link-local (includes the instance metadata service 169.254.169.254)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_REFUSED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), why)
    for net, why in (
        ("::/128", "unspecified"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments (includes Teredo)"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique local (includes the instance metadata service fd00:ec2::254)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)

_NAT64 = IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Fetched:
    """A fetched body.

    Parameters
    ----------
    body
        The bytes, content-decoded, at most the fetcher's ``max_bytes``.
    content_type
        The response's ``Content-Type`` header, if any (untrusted: the engine sniffs the bytes anyway).
    final_url
        The URL the body came from, after redirects.
    """

    body: bytes
    content_type: str | None
    final_url: str


@dataclass(frozen=True)
class _Target:
    """One hop's URL, taken apart."""

    url: str
    scheme: str
    host: str  # IDNA-encoded name or IP literal without brackets
    port: int
    request_target: str  # path and query, as sent on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (IPv4 and IPv6), duplicates removed, order kept."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal_reason(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` must not be connected to, or ``None`` when it is a public unicast address.

    Parameters
    ----------
    address
        An IPv4 or IPv6 address as text (an IPv6 zone suffix such as ``%eth0`` is ignored).
    allow_loopback
        Accept 127.0.0.0/8 and ::1 (and their IPv4-mapped forms); for tests and the local runner only.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if any(ip in net for net in _LOOPBACK):
        return None if allow_loopback else "loopback"
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = refusal_reason(str(embedded), allow_loopback=allow_loopback)
            return None if reason is None else f"IPv6 form of a refused IPv4 address: {reason}"
        for net6, why in _REFUSED_V6:
            if ip in net6:
                return why
    else:
        for net4, why in _REFUSED_V4:
            if ip in net4:
                return why
        if ip == IPv4Address("255.255.255.255"):
            return "broadcast"
    # Backstop: whatever else the IANA special-purpose registries (as Python knows them) call non-global.
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:0:0/96), 6to4 (2002::/16) or NAT64 (64:ff9b::/96) address
    reaches, else ``None``."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class UrlFetcher:
    """Fetch a URL's body with SSRF checks on every hop (see the module docstring).

    Parameters
    ----------
    max_bytes
        Largest body accepted (``URL_FETCH_MAX_BYTES``).
    timeout_s
        Time limit of the whole fetch, redirects included.
    max_redirects
        Redirects followed before :class:`~bgremove_api.exceptions.UrlTooManyRedirectsError`.
    allow_loopback
        Accept loopback addresses (``URL_FETCH_ALLOW_LOOPBACK``); off by default, for tests and the local
        runner only.
    resolver
        ``(host, port) -> addresses``; default :func:`system_resolver`. Tests pass fakes.
    ssl_context
        TLS settings for https; default: system CA store, certificate and host name verified. Tests pass a
        context that trusts their own CA.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float = 10.0,
        max_redirects: int = 3,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.allow_loopback = allow_loopback
        self._resolve = resolver or system_resolver
        self._ssl_context = ssl_context

    def fetch(self, url: str, *, deadline: float | None = None) -> Fetched:
        """GET ``url``, following at most ``max_redirects`` redirects, each checked like the first URL.

        ``deadline`` (a :func:`time.monotonic` time) ends the fetch earlier than ``timeout_s`` would: the
        request's own deadline, shared by every fetch of one request.

        Raises
        ------
        UrlBadSchemeError, UrlInvalidError
            The URL (or a redirect's ``Location``) is not a usable http(s) URL.
        UrlNotAllowedError
            The host resolves to a refused address.
        UrlTooManyRedirectsError, UrlTooLargeError, UrlTimeoutError
            Over a limit.
        UrlFetchFailedError
            The name does not resolve, the connection or TLS fails, or the answer is not 2xx.
        """
        own_deadline = time.monotonic() + self.timeout_s
        deadline = own_deadline if deadline is None else min(deadline, own_deadline)
        current = url
        for _hop in range(self.max_redirects + 1):
            target = _parse(current)
            address = self._checked_address(target, deadline)
            status, location, content_type, body = self._get(target, address, deadline)
            if status in REDIRECT_STATUSES:
                if not location:
                    raise UrlFetchFailedError(f"{target.host} answered HTTP {status} without a Location")
                try:
                    current = urljoin(current, location)
                except ValueError as error:  # "http://[::1" and the like: the next hop's URL is malformed
                    raise UrlInvalidError(
                        f"{target.host} redirected to a URL that is not valid: {_shown(error)}"
                    ) from None
                continue
            if not 200 <= status < 300:
                raise UrlFetchFailedError(f"{target.host} answered HTTP {status}")
            assert body is not None  # read for every 2xx answer
            return Fetched(body=body, content_type=content_type, final_url=current)
        raise UrlTooManyRedirectsError(
            f"more than {self.max_redirects} redirects, last to {_host_of(current)}"
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body`` to ``url`` (webhook deliveries) with the same checks as :meth:`fetch`; the status.

        Redirects are not followed (the status is returned: a webhook target must answer itself), and the
        answer's body is not read.

        Raises
        ------
        UrlBadSchemeError, UrlInvalidError, UrlNotAllowedError, UrlTimeoutError, UrlFetchFailedError
            As for :meth:`fetch`.
        """
        deadline = time.monotonic() + self.timeout_s
        target = _parse(url)
        address = self._checked_address(target)
        remaining = _remaining(deadline, target)
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            connection = _PinnedHTTPSConnection(address, target.port, target.host, context, remaining)
        else:
            connection = http.client.HTTPConnection(address, target.port, timeout=remaining)
        watchdog = _Watchdog(connection, remaining)
        try:
            connection.request(
                "POST",
                target.request_target,
                body=body,
                headers={"Host": target.host_header, "User-Agent": USER_AGENT, **headers},
            )
            return connection.getresponse().status
        except (OSError, http.client.HTTPException) as error:
            if watchdog.fired or isinstance(error, TimeoutError):
                raise UrlTimeoutError(f"{target.host} did not answer within {self.timeout_s:g} s") from None
            raise UrlFetchFailedError(f"posting to {target.host} failed: {_describe(error)}") from None
        finally:
            watchdog.cancel()
            connection.close()

    def check(self, url: str, *, deadline: float | None = None) -> str:
        """Check ``url`` as a request to it would be checked, without sending one; the address it would use.

        Rules 1 and 2 of the module docstring, with this fetcher's ``allow_loopback``: http(s) with a host
        and a port that is not 0, and the name resolved (by ``deadline`` or ``timeout_s``, whichever comes
        first) to addresses that are all allowed. Webhook URLs are checked so at submit; their delivery
        checks again (:meth:`post`), as DNS answers can change in between.

        Raises
        ------
        UrlBadSchemeError, UrlInvalidError
            Not a usable http(s) URL.
        UrlNotAllowedError
            The host is, or resolves to, a refused address.
        UrlFetchFailedError, UrlTimeoutError
            The name does not resolve, or not in time.
        """
        own_deadline = time.monotonic() + self.timeout_s
        return self._checked_address(
            _parse(url), own_deadline if deadline is None else min(deadline, own_deadline)
        )

    # --- one hop ------------------------------------------------------------------------------------------
    def _checked_address(self, target: _Target, deadline: float | None = None) -> str:
        """Resolve once, by ``deadline`` (default: ``timeout_s`` from now); every address must pass
        :func:`refusal_reason`; the first is the one connected to."""
        try:
            ipaddress.ip_address(target.host)
            addresses = [target.host]  # an IP literal: nothing to resolve
        except ValueError:
            limit = deadline if deadline is not None else time.monotonic() + self.timeout_s
            addresses = self._resolve_by(target, limit)
        if not addresses:
            raise UrlFetchFailedError(f"cannot resolve {target.host}: no address")
        for address in addresses:
            reason = refusal_reason(address, allow_loopback=self.allow_loopback)
            if reason is not None:
                raise UrlNotAllowedError(f"{target.host} resolves to {address}, which is {reason}")
        return addresses[0].split("%", 1)[0]

    def _resolve_by(self, target: _Target, deadline: float) -> list[str]:
        # getaddrinfo takes no timeout: it runs in a daemon thread that is abandoned at the deadline.
        answer: list[list[str]] = []
        failure: list[BaseException] = []

        def lookup() -> None:
            try:
                answer.append(self._resolve(target.host, target.port))
            except (OSError, UnicodeError) as error:
                failure.append(error)

        worker = threading.Thread(target=lookup, name="url-fetch-resolve", daemon=True)
        worker.start()
        worker.join(_remaining(deadline, target))
        if worker.is_alive():
            raise UrlTimeoutError(f"cannot resolve {target.host} within the time left")
        if failure:
            raise UrlFetchFailedError(f"cannot resolve {target.host}: {failure[0]}")
        return answer[0] if answer else []

    def _get(
        self, target: _Target, address: str, deadline: float
    ) -> tuple[int, str | None, str | None, bytes | None]:
        """One GET to ``address`` (the checked IP) for ``target``: status, Location, Content-Type, body.

        The body is read only for 2xx answers; redirects and errors are closed unread.
        """
        remaining = _remaining(deadline, target)
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            connection = _PinnedHTTPSConnection(address, target.port, target.host, context, remaining)
        else:
            connection = http.client.HTTPConnection(address, target.port, timeout=remaining)
        headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept": "image/*, */*;q=0.5",
            "Accept-Encoding": "identity",
        }
        watchdog = _Watchdog(connection, remaining)
        try:
            connection.request("GET", target.request_target, headers=headers)
            response = connection.getresponse()
            location = response.getheader("Location")
            content_type = response.getheader("Content-Type")
            if not 200 <= response.status < 300:
                return response.status, location, content_type, None
            body = self._read_body(response, target, deadline, watchdog)
            return response.status, location, content_type, body
        except (OSError, http.client.HTTPException) as error:
            if watchdog.fired or isinstance(error, TimeoutError):
                raise UrlTimeoutError(f"{target.host} did not answer within {self.timeout_s:g} s") from None
            raise UrlFetchFailedError(f"fetching from {target.host} failed: {_describe(error)}") from None
        finally:
            watchdog.cancel()
            connection.close()

    def _read_body(
        self, response: http.client.HTTPResponse, target: _Target, deadline: float, watchdog: _Watchdog
    ) -> bytes:
        encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":  # asked for identity; decoding would also open the door to zip bombs
            raise UrlFetchFailedError(f"{target.host} sent a {encoding!r}-encoded body")
        if response.length is not None and response.length > self.max_bytes:
            raise UrlTooLargeError(
                f"{target.host} announces {response.length} bytes, over the limit of {self.max_bytes}"
            )
        chunks: list[bytes] = []
        received = 0
        while chunk := response.read1(_CHUNK_BYTES):
            received += len(chunk)
            if received > self.max_bytes:
                raise UrlTooLargeError(f"{target.host} sent more than the limit of {self.max_bytes} bytes")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                break
        if watchdog.fired or time.monotonic() > deadline:  # the shutdown ends a read early, like an EOF
            raise UrlTimeoutError(f"{target.host} did not send the body within {self.timeout_s:g} s")
        if response.length:  # read1 returns b"" at end of stream, even before the announced length
            raise UrlFetchFailedError(f"{target.host} closed the connection after {received} bytes")
        return b"".join(chunks)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked IP address, with SNI and certificate verification on the original host name.

    :class:`http.client.HTTPSConnection` would use its ``host`` (here the IP) for both; only ``connect``
    differs, and it does what the base class does with the name swapped in.
    """

    def __init__(
        self, address: str, port: int, server_hostname: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_hostname = server_hostname
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_hostname)


class _Watchdog:
    """Shuts a connection's socket down when the fetch's time is up.

    Socket timeouts bound each wait, not their sum: a server sending a byte every second would keep a read
    going for as long as it likes. Shutting the socket down from a timer ends whatever call is blocked on
    it, at the deadline, in every phase (connect, TLS handshake, headers, body).
    """

    def __init__(self, connection: http.client.HTTPConnection, after_s: float) -> None:
        self.fired = False
        self._connection = connection
        self._timer = threading.Timer(after_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would tear down the TLS
                # state under the reading thread; this only makes its pending recv return.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _shown(error: ValueError) -> str:
    # UnicodeError's own text quotes the offending characters, which cannot all be encoded in an answer.
    return str(error).encode("ascii", "backslashreplace").decode("ascii")[:200]


def _parse(url: str) -> _Target:
    """Take one hop's URL apart; refuse anything but a well-formed http(s) URL with a host."""
    if len(url) > _MAX_URL_CHARS:
        raise UrlInvalidError(f"URL longer than {_MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            shown = f"{scheme}:" if scheme else "no scheme"
            raise UrlBadSchemeError(f"only http and https URLs are fetched, not {shown}")
        hostname = parts.hostname
        port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]
        if port == 0:  # not "the default port": no server listens on port 0
            raise UrlInvalidError("URL has port 0")
        if not hostname:
            raise UrlInvalidError("URL has no host")
        host = hostname.encode("idna").decode("ascii")
        path = parts.path or "/"
        # Spaces, control characters and non-ASCII cannot go on a request line: percent-encode them (UTF-8;
        # a lone surrogate has no UTF-8 and is refused like any other malformed URL).
        request_target = quote(f"{path}?{parts.query}" if parts.query else path, safe=string.punctuation)
    except ValueError as error:  # bad port, bad IPv6 literal, IDNA label too long, lone surrogate
        raise UrlInvalidError(f"URL is not valid: {_shown(error)}") from None
    return _Target(url=url, scheme=scheme, host=host, port=port, request_target=request_target)


def _remaining(deadline: float, target: _Target) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise UrlTimeoutError(f"no time left to fetch from {target.host}")
    return remaining


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url[:100]
    except ValueError:
        return url[:100]


def _describe(error: BaseException) -> str:
    """A short cause (connection refused, reset, certificate failure), never a traceback."""
    return (str(error) or type(error).__name__)[:300]
