"""Address guard for outgoing fetches: only http(s) URLs whose host resolves to public addresses.

A catalog is untrusted input: an image URL pointing at ``127.0.0.1``, ``10.x`` or the cloud
metadata service (``169.254.169.254``) must not make the service fetch from inside its own
network (SSRF). The fetcher calls :func:`check_url` before every request, redirect hops included.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

from lookalike.errors import FetchError

__all__ = ["ALLOWED_SCHEMES", "address_problem", "check_url", "parse_url", "resolve_host"]

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
        raise FetchError(f"invalid URL {url!r}: {exc}", reason="bad_url") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise FetchError(
            f"unsupported URL scheme {parsed.scheme or '(none)'!r} in {url!r}: only http and https",
            reason="bad_url",
        )
    if not parsed.host:
        raise FetchError(f"URL {url!r} has no host", reason="bad_url")
    return parsed


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo, without blocking the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_url(url: str, *, allow_private: bool) -> httpx.URL:
    """Validate ``url`` and, unless ``allow_private``, that every address of its host is public.

    Raises ``FetchError`` with reason ``bad_url``, ``connection`` (the name does not resolve)
    or ``refused_address``. Returns the parsed URL.
    """
    parsed = parse_url(url)
    if allow_private:
        return parsed
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await resolve_host(parsed.host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {parsed.host!r}: {exc}", reason="connection") from exc
    # Refuse when ANY address is internal: the client may connect to whichever it likes.
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise FetchError(
                f"refused to fetch {url!r}: {parsed.host} resolves to {problem} address "
                f"{address} (set allow_private to fetch from internal hosts)",
                reason="refused_address",
            )
    return parsed
