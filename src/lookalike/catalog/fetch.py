"""Image URLs to bytes: concurrent, retried, size-capped, address-guarded and cached by URL.

``ImageFetcher.fetch_many`` is synchronous for its callers (it runs its own event loop) and
never raises for one bad URL: each URL gets a :class:`FetchResult` with a status and a short
machine-readable ``reason``. ``fetch_bytes`` / ``fetch_to_file`` are one-shot downloads without
the cache that raise :class:`~lookalike.errors.FetchError` instead.

Cache layout: ``<cache_dir>/<sha[:2]>/<sha256(url)>.bin`` (the bytes) and ``.json`` (url, etag,
last_modified, sha256 of the bytes, fetched_at, size); the JSON is written last, so it marks a
complete entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import io
import json
import logging
import random
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

import httpx
from PIL import Image, UnidentifiedImageError

from lookalike import __version__
from lookalike.atomic import atomic_open, write_bytes_atomic, write_json_atomic
from lookalike.catalog.netguard import check_url
from lookalike.errors import ConfigError, FetchError

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
    "FetchResult",
    "FetchSettings",
    "ImageFetcher",
    "fetch_bytes",
    "fetch_to_file",
]

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
DEFAULT_MAX_BYTES = 20 * 2**20
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
DEFAULT_MAX_RETRY_AFTER = 30.0
DEFAULT_CONCURRENCY = 16
DEFAULT_PER_HOST = 4
DEFAULT_USER_AGENT = f"lookalike/{__version__} (+https://github.com/lookalike/lookalike)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# httpx's timeout is per socket operation, so a server that drips one byte every few seconds
# never trips it; a whole attempt therefore also has a deadline: 4 x timeout of grace plus the
# time to receive the size limit at a (very low) 64 KiB/s.
_DEADLINE_GRACE = 4
_MIN_BYTES_PER_S = 64 * 1024

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
    http2: bool = True
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_redirects", "retries", "concurrency", "per_host"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"FetchSettings.{name} must be an integer, got {value!r}")
        for name in ("timeout", "backoff", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise ConfigError(f"FetchSettings.{name} must be a number, got {value!r}")
        for name in ("timeout", "max_bytes", "concurrency", "per_host"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"FetchSettings.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_redirects", "retries", "backoff", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"FetchSettings.{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.user_agent.strip():
            raise ConfigError("FetchSettings.user_agent must not be empty")


@dataclass
class FetchResult:
    """What happened to one URL. ``reason`` is set when ``status == "failed"``."""

    url: str
    status: Literal["fetched", "cached", "failed"]
    path: Path | None = None
    sha256: str | None = None
    http_status: int | None = None
    # "http_404", "http_500", "timeout", "connection", "too_large", "not_an_image",
    # "too_many_redirects", "refused_address", "bad_url"
    reason: str | None = None
    error: str | None = None  # human-readable
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when the bytes are available at ``path``."""
        return self.status != "failed" and self.path is not None

    def read_bytes(self) -> bytes:
        """The cached bytes; raises ``FetchError`` for a failed result."""
        if self.path is None:
            raise FetchError(
                self.error or f"{self.url} was not fetched",
                reason=self.reason or "error",
                status=self.http_status,
            )
        return self.path.read_bytes()


# --------------------------------------------------------------------------- HTTP core


class _Retryable(Exception):
    """An attempt failed in a way worth retrying (429, 5xx, connection error, timeout)."""

    def __init__(self, error: FetchError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Outcome:
    attempts: int = 0
    status: int | None = None
    headers: httpx.Headers | None = None
    body: bytes = b""
    error: FetchError | None = None


def _parse_retry_after(value: str | None) -> float | None:
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


def _retry_delay(settings: FetchSettings, attempt: int, retry_after: float | None) -> float:
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
            FetchError(f"timed out fetching {url}: {exc!r}", reason="timeout")
        ) from exc
    except httpx.TransportError as exc:
        error = FetchError(f"connection error fetching {url}: {exc!r}", reason="connection")
        raise _Retryable(error) from exc
    except httpx.RequestError as exc:  # e.g. DecodingError: a broken gzip body, not worth a retry
        raise FetchError(f"bad response from {url}: {exc!r}", reason="connection") from exc


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
                    retry_after = _parse_retry_after(response.headers.get("retry-after"))
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


async def _download(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    *,
    max_bytes: int,
    headers: dict[str, str] | None = None,
    slot: Slot = contextlib.nullcontext,
    sink: BinaryIO | None = None,
) -> _Outcome:
    """Attempt ``url`` up to ``1 + retries`` times; failures come back in ``_Outcome.error``."""
    outcome = _Outcome()
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
                status, response_headers, body = await asyncio.wait_for(
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
        await asyncio.sleep(_retry_delay(settings, outcome.attempts, retry_after))


def _make_client(settings: FetchSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        http2=settings.http2,
        timeout=httpx.Timeout(settings.timeout),
        limits=httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        ),
        headers={"User-Agent": settings.user_agent, "Accept": "image/*,*/*;q=0.8"},
        follow_redirects=False,  # _attempt follows them, checking each hop
        trust_env=False,  # an env proxy would connect on our behalf and bypass the address guard
    )


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, whatever thread we are on."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from inside a running loop (asyncio.run would refuse): use a fresh loop on a
    # worker thread. This blocks the caller's loop, so async code should call us via a thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-fetch") as pool:
        return pool.submit(asyncio.run, coro).result()


def _check_image(data: bytes, url: str) -> None:
    """Reject bytes whose header PIL cannot identify (HTML error pages served with 200)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return  # a real image; the decode stage applies its own pixel limit
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FetchError(f"{url} is not an image: {exc}", reason="not_an_image") from exc
    if width <= 0 or height <= 0:
        raise FetchError(f"{url} is an image of size {width}x{height}", reason="not_an_image")


async def _one_shot(
    url: str, settings: FetchSettings, max_bytes: int, sink: BinaryIO | None
) -> _Outcome:
    async with _make_client(settings) as client:
        return await _download(client, url, settings, max_bytes=max_bytes, sink=sink)


def _raise_for(outcome: _Outcome, url: str) -> None:
    if outcome.error is not None:
        raise outcome.error
    if outcome.status is None or not 200 <= outcome.status < 300:
        raise FetchError(
            f"HTTP {outcome.status} from {url}",
            reason=f"http_{outcome.status}",
            status=outcome.status,
        )


def fetch_bytes(url: str, *, settings: FetchSettings, max_bytes: int | None = None) -> bytes:
    """Download ``url`` into memory (no cache, no image check); raises ``FetchError``.

    Retries, redirects, the address guard and the size cap (``max_bytes`` or
    ``settings.max_bytes``) work as in :class:`ImageFetcher`.
    """
    limit = settings.max_bytes if max_bytes is None else max_bytes
    if limit <= 0:
        raise ConfigError(f"max_bytes must be > 0, got {limit!r}")
    outcome = _run_sync(_one_shot(url, settings, limit, None))
    _raise_for(outcome, url)
    return outcome.body


def fetch_to_file(
    url: str, dest: Path, *, settings: FetchSettings, max_bytes: int | None = None
) -> int:
    """Stream ``url`` into ``dest`` atomically (for big downloads); returns the size in bytes.

    Raises ``FetchError`` like :func:`fetch_bytes`; ``dest`` is untouched on failure.
    """
    limit = settings.max_bytes if max_bytes is None else max_bytes
    if limit <= 0:
        raise ConfigError(f"max_bytes must be > 0, got {limit!r}")
    with atomic_open(dest, "wb") as handle:
        outcome = _run_sync(_one_shot(url, settings, limit, handle))
        _raise_for(outcome, url)  # raising inside atomic_open discards the temp file
        return handle.tell()


# --------------------------------------------------------------------------- cached fetcher


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("fetching images", total=total)
        yield lambda n: bar.advance(task, n)


class ImageFetcher:
    """Fetch image URLs concurrently into a cache folder keyed by ``sha256(url)``."""

    def __init__(self, cache_dir: Path, settings: FetchSettings = FetchSettings()) -> None:
        self.cache_dir = Path(cache_dir)
        self.settings = settings

    def cache_paths(self, url: str) -> tuple[Path, Path]:
        """The ``(.bin, .json)`` cache paths of ``url``."""
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        base = self.cache_dir / digest[:2] / digest
        return base.with_suffix(".bin"), base.with_suffix(".json")

    def fetch(self, url: str) -> FetchResult:
        """Fetch one URL (revalidating a cached copy), without a progress bar."""
        return self.fetch_many([url], progress=False)[url]

    def fetch_many(
        self, urls: Iterable[str], *, progress: bool = True, revalidate: bool = True
    ) -> dict[str, FetchResult]:
        """Fetch every distinct URL; returns ``{url: FetchResult}`` in first-seen order.

        A cached URL is revalidated with ``If-None-Match`` / ``If-Modified-Since`` (a 304 gives
        status "cached"), or returned without any request when ``revalidate`` is False.
        Per-URL failures are recorded in the results, never raised.
        """
        unique = list(dict.fromkeys(urls))
        for url in unique:
            if not isinstance(url, str):
                raise TypeError(f"URLs must be str, got {type(url).__name__}: {url!r}")
        if not unique:
            return {}
        return _run_sync(self._fetch_all(unique, progress=progress, revalidate=revalidate))

    async def _fetch_all(
        self, urls: list[str], *, progress: bool, revalidate: bool
    ) -> dict[str, FetchResult]:
        results: dict[str, FetchResult] = {}
        todo: list[str] = []
        for url in urls:
            meta = None if revalidate else self._load_meta(url)
            if meta is not None:
                results[url] = self._cached(url, meta, attempts=0)
            else:
                todo.append(url)
        global_slots = asyncio.Semaphore(self.settings.concurrency)
        host_slots: dict[str, asyncio.Semaphore] = {}

        def slot_for(url: str) -> Slot:
            try:
                host = httpx.URL(url).host
            except httpx.InvalidURL:
                host = ""
            host_slot = host_slots.setdefault(host, asyncio.Semaphore(self.settings.per_host))

            @contextlib.asynccontextmanager
            async def slot() -> AsyncIterator[None]:
                # Host first: a task waiting for a busy host must not hold a global slot.
                async with host_slot, global_slots:
                    yield

            return slot

        pending = iter(todo)
        async with _make_client(self.settings) as client:
            with _progress_bar(progress, len(urls)) as advance:
                advance(len(results))

                async def worker() -> None:
                    for url in pending:  # shared iterator: each URL goes to one worker
                        results[url] = await self._fetch_one(client, url, slot_for(url))
                        advance(1)

                # A bounded pool of workers instead of one task per URL (catalogs can be huge);
                # extra workers beyond `concurrency` absorb waits on busy hosts.
                workers = min(len(todo), self.settings.concurrency * 4)
                tasks = [asyncio.create_task(worker()) for _ in range(workers)]
                try:
                    await asyncio.gather(*tasks)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        return {url: results[url] for url in urls}

    async def _fetch_one(self, client: httpx.AsyncClient, url: str, slot: Slot) -> FetchResult:
        meta = self._load_meta(url)
        headers: dict[str, str] = {}
        if meta is not None:
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        outcome = await _download(
            client,
            url,
            self.settings,
            max_bytes=self.settings.max_bytes,
            headers=headers,
            slot=slot,
        )
        if outcome.error is None and outcome.status == 304:
            if meta is None:
                outcome.error = FetchError(
                    f"HTTP 304 from {url} to an unconditional request",
                    reason="http_304",
                    status=304,
                )
            else:
                await asyncio.to_thread(self._refresh_meta, url, meta, outcome.headers)
                return self._cached(url, meta, attempts=outcome.attempts)
        if outcome.error is None:
            try:
                _check_image(outcome.body, url)
            except FetchError as exc:
                outcome.error = exc
        if outcome.error is not None:
            return self._failed(url, outcome.error, outcome.attempts)
        assert outcome.headers is not None and outcome.status is not None
        path, digest = await asyncio.to_thread(self._store, url, outcome.body, outcome.headers)
        return FetchResult(
            url=url,
            status="fetched",
            path=path,
            sha256=digest,
            http_status=outcome.status,
            attempts=outcome.attempts,
        )

    def _failed(self, url: str, error: FetchError, attempts: int) -> FetchResult:
        logger.info("fetch failed after %d attempt(s): %s [%s]", attempts, error, error.reason)
        return FetchResult(
            url=url,
            status="failed",
            http_status=error.status,
            reason=error.reason,
            error=str(error),
            attempts=attempts,
        )

    def _cached(self, url: str, meta: dict[str, Any], *, attempts: int) -> FetchResult:
        bin_path, _ = self.cache_paths(url)
        return FetchResult(
            url=url,
            status="cached",
            path=bin_path,
            sha256=meta["sha256"],
            http_status=304 if attempts else None,
            attempts=attempts,
        )

    def _load_meta(self, url: str) -> dict[str, Any] | None:
        """The cache entry of ``url`` if it is complete and consistent, else None."""
        bin_path, meta_path = self.cache_paths(url)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            size = bin_path.stat().st_size
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("url") != url or meta.get("size") != size:
            return None
        if not isinstance(meta.get("sha256"), str):
            return None
        return meta

    def _store(self, url: str, body: bytes, headers: httpx.Headers) -> tuple[Path, str]:
        bin_path, meta_path = self.cache_paths(url)
        digest = hashlib.sha256(body).hexdigest()
        write_bytes_atomic(bin_path, body)
        meta = {
            "url": url,
            "etag": headers.get("etag"),
            "last_modified": headers.get("last-modified"),
            "sha256": digest,
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "size": len(body),
        }
        write_json_atomic(meta_path, meta)  # last: a .json means the .bin is complete
        return bin_path, digest

    def _refresh_meta(self, url: str, meta: dict[str, Any], headers: httpx.Headers | None) -> None:
        updated = dict(meta, fetched_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if headers is not None:
            for key, header in (("etag", "etag"), ("last_modified", "last-modified")):
                if headers.get(header):
                    updated[key] = headers[header]
        _, meta_path = self.cache_paths(url)
        write_json_atomic(meta_path, updated)
