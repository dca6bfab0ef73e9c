"""Address guard for outgoing fetches: only http(s) URLs whose host resolves to public addresses.

A catalog is untrusted input: an image URL pointing at ``127.0.0.1``, ``10.x`` or the cloud
metadata service (``169.254.169.254``) must not make the service fetch from inside its own
network (SSRF).

Checking a name and then letting the HTTP client resolve it again to connect is not enough: a
rebinding DNS server answers a public address to the check and ``127.0.0.1`` to the connect.
:class:`PinnedBackend` therefore resolves each host once, when a connection is opened, vets every
address of that answer and connects to exactly those addresses (TLS SNI and the ``Host`` header
still carry the name). :func:`guarded_client` builds an ``httpx.AsyncClient`` on it, so every
connection (redirect hops included) passes the guard. :func:`check_url` remains for callers
that bring their own client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from lookalike.errors import FetchError, quote_input

__all__ = [
    "ALLOWED_SCHEMES",
    "GuardedClient",
    "PinnedBackend",
    "address_problem",
    "check_url",
    "guarded_client",
    "parse_url",
    "resolve_host",
    "vetted_addresses",
]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits, like IPv4-mapped addresses do.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str | IPAddress) -> str | None:
    """Why ``address`` must not be fetched from ("loopback", "private", ...), or None if public.

    IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``) are judged by that address.
    A string that is not an IP address raises ``ValueError``.
    """
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return address_problem(inner)
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        # e.g. 100.64.0.0/10 (carrier-grade NAT) is neither private nor global.
        ("non-global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def parse_url(url: str) -> httpx.URL:
    """Parse ``url`` and insist on http(s) with a host; raises ``FetchError(reason="bad_url")``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(f"invalid URL {quote_input(url)}: {exc}", reason="bad_url") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            f"unsupported URL scheme {quote_input(parsed.scheme or '(none)')} in "
            f"{quote_input(url)}: only http and https",
            reason="bad_url",
        )
    if not parsed.host:
        raise FetchError(f"URL {quote_input(url)} has no host", reason="bad_url")
    return parsed


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo, without blocking the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def vetted_addresses(
    host: str, port: int, *, allow_private: bool, url: str = ""
) -> list[str]:
    """Resolve ``host`` once and return its addresses, all of them public unless
    ``allow_private``; ``FetchError`` with reason ``connection`` (no answer) or
    ``refused_address`` (ANY address internal: a client may connect to whichever it likes)."""
    try:
        addresses = await resolve_host(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {quote_input(host)}: {exc}", reason="connection") from exc
    if not addresses:
        raise FetchError(f"{quote_input(host)} has no address", reason="connection")
    if allow_private:
        return addresses
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise FetchError(
                f"refused to fetch {quote_input(url or host)}: {quote_input(host)} resolves to "
                f"{problem} address {address} (set allow_private to fetch from internal hosts)",
                reason="refused_address",
            )
    return addresses


async def check_url(url: str, *, allow_private: bool) -> httpx.URL:
    """Validate ``url`` and, unless ``allow_private``, that every address of its host is public.

    Raises ``FetchError`` with reason ``bad_url``, ``connection`` (the name does not resolve)
    or ``refused_address``. Returns the parsed URL. This resolves the name without pinning it:
    prefer a :func:`guarded_client`, which connects to the very addresses it vetted.
    """
    parsed = parse_url(url)
    if not allow_private:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        await vetted_addresses(parsed.host, port, allow_private=False, url=url)
    return parsed


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens each connection to an address from ONE resolution of the host that passed the
    guard; TLS (started by httpcore on the returned stream) still verifies and sends the name."""

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted_addresses(host, port, allow_private=self.allow_private)
        error: Exception | None = None
        for address in dict.fromkeys(addresses):  # in resolver order, each address once
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched from")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose every connection goes through a :class:`PinnedBackend`."""


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: responses' cookies are not even parsed."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def guarded_client(
    *,
    allow_private: bool,
    http2: bool,
    limits: httpx.Limits,
    ssl_context: ssl.SSLContext | None = None,
    cookies: bool = True,
    **client_options: Any,
) -> GuardedClient:
    """A client that resolves, vets and connects in one step (no proxy, no env settings)."""
    context = ssl_context or httpx.create_ssl_context(trust_env=False)
    transport = httpx.AsyncHTTPTransport(verify=context, http2=http2, limits=limits)
    # httpx has no network_backend option: give its transport the same pool on our backend.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        http1=True,
        http2=http2,
        network_backend=PinnedBackend(allow_private=allow_private),
    )
    client = GuardedClient(transport=transport, trust_env=False, **client_options)
    if not cookies:
        client._cookies = _NoCookies()  # httpx reads its jar from here; no public switch
    return client
