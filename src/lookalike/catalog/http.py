"""The HTTP layer: settings, one download with retries, redirects checked per hop, size caps.

Everything here is about getting bytes from a URL safely; what to do with them (an image cache,
a feed file) is up to the callers: :class:`~lookalike.catalog.fetch.ImageFetcher` and the feed
readers. :func:`download` is the building block that returns a failure as data, for callers
that fetch many URLs; :mod:`lookalike.catalog.oneshot` has the one-shot downloads that raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import ssl
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO, TypeVar

import httpx

from lookalike import __version__
from lookalike.catalog.netguard import GuardedClient, check_url, guarded_client, parse_url
from lookalike.errors import ConfigError, FetchError
from lookalike.textutil import error_text

__all__ = [
    "DEFAULT_BACKOFF",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_PER_HOST",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_USER_AGENT",
    "FetchSettings",
    "Outcome",
    "Slot",
    "download",
    "make_client",
    "parse_retry_after",
    "retry_delay",
    "run_sync",
    "within",
]

DEFAULT_TIMEOUT = 15.0
DEFAULT_DEADLINE = 30.0  # seconds per image URL, every attempt included
DEFAULT_HOST_FAILURES = 20
DEFAULT_MAX_BYTES = 20 * 2**20
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_RETRY_AFTER = 30.0
# 32 in flight: with 50 ms per request that is 640/s across 8+ hosts, above what one Python
# thread can process (~3 ms CPU per image, bench/fetch.py); each host still sees at most 4.
DEFAULT_CONCURRENCY = 32
DEFAULT_PER_HOST = 4
DEFAULT_USER_AGENT = f"lookalike/{__version__} (+https://github.com/lookalike/lookalike)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# httpx's timeout is per socket operation, so a server that drips one byte every few seconds
# never trips it; a whole attempt therefore also has a deadline: 4 x timeout of grace plus the
# time to receive the size limit at a (very low) 64 KiB/s.
_DEADLINE_GRACE = 4
_MIN_BYTES_PER_S = 64 * 1024

IMAGE_ACCEPT = "image/*,*/*;q=0.8"

T = TypeVar("T")
Slot = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


@dataclass(frozen=True, kw_only=True)
class FetchSettings:
    """How URLs are fetched; validated on construction (``ConfigError`` on a bad value)."""

    timeout: float = DEFAULT_TIMEOUT  # seconds per connect / read, per attempt
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    retries: int = DEFAULT_RETRIES  # extra attempts after the first one
    backoff: float = DEFAULT_BACKOFF  # first retry delay; doubles each time, with jitter
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    concurrency: int = DEFAULT_CONCURRENCY
    per_host: int = DEFAULT_PER_HOST
    allow_private: bool = False  # fetch from loopback/private/link-local hosts (tests, intranets)
    # image fetches: total seconds per URL across every attempt and backoff sleep, and how
    # many failures in a row make a host's remaining URLs skipped for the run
    deadline: float = DEFAULT_DEADLINE
    host_failures: int = DEFAULT_HOST_FAILURES
    http2: bool = True
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        for name in (
            "max_bytes",
            "max_redirects",
            "retries",
            "concurrency",
            "per_host",
            "host_failures",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"FetchSettings.{name} must be an integer, got {value!r}")
        for name in ("timeout", "backoff", "max_retry_after", "deadline"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise ConfigError(f"FetchSettings.{name} must be a number, got {value!r}")
        for name in (
            "timeout",
            "max_bytes",
            "concurrency",
            "per_host",
            "deadline",
            "host_failures",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"FetchSettings.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_redirects", "retries", "backoff", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"FetchSettings.{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.user_agent.strip():
            raise ConfigError("FetchSettings.user_agent must not be empty")


# --------------------------------------------------------------------------- HTTP core


class _Retryable(Exception):
    """An attempt failed in a way worth retrying (429, 5xx, connection error, timeout)."""

    def __init__(self, error: FetchError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class Outcome:
    """What :func:`download` got: the final status, headers and body, or the error."""

    attempts: int = 0
    status: int | None = None
    headers: httpx.Headers | None = None
    body: bytes = b""
    error: FetchError | None = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_delay(settings: FetchSettings, attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(retry_after, settings.max_retry_after)
    # Full exponential backoff with +-50% jitter so many clients do not retry in lockstep.
    base = settings.backoff * 2 ** (attempt - 1)
    return min(base * (0.5 + random.random()), settings.max_retry_after)


@contextlib.contextmanager
def _translate_httpx(url: str) -> Iterator[None]:
    """Map httpx exceptions to retryable / final ``FetchError``s."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise _Retryable(
            FetchError(f"timed out fetching {url}: {error_text(exc)}", reason="timeout")
        ) from exc
    except httpx.TransportError as exc:
        error = FetchError(
            f"connection error fetching {url}: {error_text(exc)}", reason="connection"
        )
        raise _Retryable(error) from exc
    except httpx.RequestError as exc:  # e.g. DecodingError: a broken gzip body, not worth a retry
        raise FetchError(
            f"bad response from {url}: {error_text(exc)}", reason="connection"
        ) from exc


async def _read_body(
    response: httpx.Response, url: str, max_bytes: int, sink: BinaryIO | None
) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(
            f"{url} is {int(length)} bytes, over the {max_bytes}-byte limit", reason="too_large"
        )
    buffer = bytearray()
    received = 0
    async for chunk in response.aiter_bytes():
        received += len(chunk)
        if received > max_bytes:  # counts decoded bytes, so a gzip bomb stops here too
            raise FetchError(f"{url} exceeds the {max_bytes}-byte limit", reason="too_large")
        if sink is None:
            buffer += chunk
        else:
            sink.write(chunk)
    return bytes(buffer)


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    *,
    max_bytes: int,
    headers: dict[str, str],
    sink: BinaryIO | None,
) -> tuple[int, httpx.Headers, bytes]:
    """One attempt: follow redirects ourselves so that every hop passes the address guard."""
    current = url
    for _hop in range(settings.max_redirects + 1):
        if isinstance(client, GuardedClient):  # its backend vets the address it connects to
            target = parse_url(current)
        else:
            target = await check_url(current, allow_private=settings.allow_private)
        with _translate_httpx(current):
            request = client.build_request("GET", target, headers=headers)
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                if status in _REDIRECT_STATUSES and "location" in response.headers:
                    try:
                        current = str(target.join(response.headers["location"]))
                    except httpx.InvalidURL as exc:
                        raise FetchError(
                            f"bad redirect from {current}: {exc}", reason="bad_url"
                        ) from exc
                    continue
                if status == 429 or status >= 500:
                    error = FetchError(
                        f"HTTP {status} from {current}", reason=f"http_{status}", status=status
                    )
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    raise _Retryable(error, retry_after)
                if status == 304:
                    return status, response.headers, b""
                if not 200 <= status < 300:
                    raise FetchError(
                        f"HTTP {status} from {current}", reason=f"http_{status}", status=status
                    )
                body = await _read_body(response, current, max_bytes, sink)
                return status, response.headers, body
            finally:
                await response.aclose()
    raise FetchError(
        f"more than {settings.max_redirects} redirects starting at {url}",
        reason="too_many_redirects",
    )


async def download(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    slot: Slot = contextlib.nullcontext,
    sink: BinaryIO | None = None,
) -> Outcome:
    """Attempt ``url`` up to ``1 + retries`` times; failures come back in ``Outcome.error``."""
    outcome = Outcome()
    deadline = settings.timeout * _DEADLINE_GRACE + max_bytes / _MIN_BYTES_PER_S
    while True:
        outcome.attempts += 1
        retry_after: float | None = None
        if sink is not None:
            sink.seek(0)
            sink.truncate()
        try:
            # The slot (concurrency limits) is held per attempt, not across backoff sleeps.
            async with slot():
                status, response_headers, body = await within(
                    _attempt(
                        client, url, settings, max_bytes=max_bytes, headers=headers or {}, sink=sink
                    ),
                    deadline,
                )
            outcome.status, outcome.headers, outcome.body = status, response_headers, body
            return outcome
        except _Retryable as exc:
            error, retry_after = exc.error, exc.retry_after
        except asyncio.TimeoutError:
            error = FetchError(f"{url} took longer than {deadline:g} s", reason="timeout")
        except FetchError as exc:
            outcome.error, outcome.status = exc, exc.status
            return outcome
        if outcome.attempts > settings.retries:
            outcome.error, outcome.status = error, error.status
            return outcome
        await asyncio.sleep(retry_delay(settings, outcome.attempts, retry_after))


async def within(coro: Coroutine[Any, Any, T], seconds: float) -> T:
    """``await coro`` with a time limit (``asyncio.TimeoutError`` past it); in place, where
    Python has ``asyncio.timeout``, rather than in a new task as ``wait_for`` runs it."""
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # Python 3.10
        return await asyncio.wait_for(coro, seconds)
    async with timeout(seconds):
        return await coro


def make_client(
    settings: FetchSettings,
    *,
    accept: str = IMAGE_ACCEPT,
    ssl_context: ssl.SSLContext | None = None,
    max_connections: int | None = None,
    cookies: bool = True,
) -> httpx.AsyncClient:
    """An async client for ``settings`` that connects only to addresses the guard vetted (DNS
    pinned per connection, see :mod:`~lookalike.catalog.netguard`); redirects are left to
    :func:`download`. ``ssl_context``: certificates to trust instead of the system's (or one
    context shared by many clients); ``max_connections``: its pool (default: concurrency);
    ``cookies=False``: keep none from responses (parsing them cost ~0.3 ms per response)."""
    pool = max_connections or settings.concurrency
    return guarded_client(
        allow_private=settings.allow_private,
        http2=settings.http2,
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        ssl_context=ssl_context,
        cookies=cookies,
        timeout=httpx.Timeout(settings.timeout),
        headers={"User-Agent": settings.user_agent, "Accept": accept},
        follow_redirects=False,  # _attempt follows them, checking each hop
    )


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, whatever thread we are on."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside a running loop (asyncio.run would refuse): use a fresh loop on a
    # worker thread. This blocks the caller's loop, so async code should call us via a thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-fetch") as pool:
        return pool.submit(asyncio.run, coro).result()
