"""The SSRF guard for outgoing webhooks: a URL is refused unless every address its host resolves to is public.

Rules (checked at subscription time *and* before every delivery):

- ``http`` / ``https`` only; no user-info in the URL;
- the host is resolved **once**; every address must be globally routable: no loopback, private (RFC 1918, ULA),
  link-local (169.254/16, where the cloud metadata service lives: 169.254.169.254, and fe80::/10), CGNAT, multicast,
  reserved or unspecified addresses, no IPv4-mapped IPv6 form of those, and none of the explicit metadata addresses;
- the request then connects **to the address that was checked** (``pinned_request``) while the ``Host`` header and TLS
  SNI / certificate verification still use the host name, so a DNS answer that changes between check and connect
  (DNS rebinding) cannot redirect us;
- redirects are never followed (a 3xx is a failed attempt), so a receiver cannot bounce us to an internal address;
- ``ONCALL_WEBHOOK_ALLOWLIST`` (comma-separated host names and CIDRs) exempts local receivers, e.g.
  ``localhost,127.0.0.1/32`` for a receiver on the developer's machine. An allow-listed *name* accepts whatever it
  resolves to; an allow-listed *CIDR* accepts addresses inside it.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

#: metadata endpoints that are spelled out even though the generic rules already catch them (defence in depth)
METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)
#: the most of a response body we read (for the delivery log); receivers should answer quickly and briefly
MAX_RESPONSE_BYTES = 64 * 1024


class Refused(Exception):
    """The URL (or what it resolves to) is not a place we send webhooks to."""

    #: a refusal by policy (scheme, credentials, a non-public address) holds on every retry; only a name that does
    #: not resolve now may resolve later
    permanent: bool = True


class Unresolved(Refused):
    permanent = False


@dataclass(frozen=True)
class Allowlist:
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> Allowlist:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (raw or "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address_allowed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination, or None when it is."""
    addr = _unmapped(address)
    if addr in METADATA:
        return "a cloud metadata address"
    for attr, what in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_private", "private"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
    ):
        if getattr(addr, attr):
            return f"a {what} address"
    if not addr.is_global:
        return "not a public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``, every one checked, tried in order) and what to say (``host``,
    ``path``)."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def check(url: str, allowlist: Allowlist, resolve: Resolver = system_resolver) -> Target:
    """Resolve and check ``url``; raise ``Refused`` with a reason fit to show the admin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not allowed; authenticate with the signature")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("the URL has no host")
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = list(resolve(host, port))
        except (OSError, UnicodeError) as exc:
            raise Unresolved(f"{host} does not resolve ({exc})") from None
        if not addresses:
            raise Unresolved(f"{host} does not resolve")
    by_name = literal is None and allowlist.host_allowed(host)
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if by_name or allowlist.address_allowed(address) or allowlist.host_allowed(str(address)):
            continue
        reason = blocked_reason(address)
        if reason is not None:
            # one bad answer refuses the whole name: we must not depend on which answer a resolver returns first
            raise Refused(f"{host} resolves to {address}, {reason}")
    return Target(
        scheme=scheme, host=host, port=port, path=path, addresses=tuple(a.split("%", 1)[0] for a in addresses)
    )


# -- requests pinned to the checked address ------------------------------------------------------------------------


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    """The first of the checked addresses that accepts (a name may resolve to ::1 and 127.0.0.1, say)."""
    last: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            last = exc
    raise last or OSError("no address to connect to")


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: tuple[str, ...], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, addresses: tuple[str, ...], timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._addresses = addresses
        self._ctx = context

    def connect(self) -> None:
        raw = _connect(self._addresses, self.port, self.timeout)
        # SNI and certificate verification are for the host name, not the address we pinned
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    duration_ms: int


def pinned_request(
    target: Target,
    method: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Response:
    """One request to the checked address; redirects are returned as they are, never followed. The whole exchange
    (connect, send, read) ends within ``timeout``: each socket operation has it as its timeout, and a watchdog shuts
    the socket when the total is reached, so a receiver trickling bytes cannot hold us longer. At most
    ``MAX_RESPONSE_BYTES`` are read."""
    started = time.monotonic()
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPS(
            target.host, target.port, target.addresses, timeout, context or ssl.create_default_context()
        )
    else:
        conn = _PinnedHTTP(target.host, target.port, target.addresses, timeout)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.putrequest(method, target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read(MAX_RESPONSE_BYTES)
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g}s")
        return Response(
            status=resp.status,
            headers={k.lower(): v for k, v in resp.getheaders()},
            body=data,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {timeout:g}s") from exc
        raise
    finally:
        watchdog.cancel()
        conn.close()
