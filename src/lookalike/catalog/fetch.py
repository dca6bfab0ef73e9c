"""Image URLs to bytes: concurrent, retried, size-capped, address-guarded and cached by URL.

``ImageFetcher.fetch_many`` is synchronous for its callers (it runs its own event loop) and
never raises for one bad URL: each URL gets a :class:`FetchResult` with a status and a short
machine-readable ``reason``. The HTTP layer it stands on (settings, retries, redirects, size
caps, one download) lives in :mod:`lookalike.catalog.http`: import
those names from there.

Cache layout: ``<cache_dir>/<sha[:2]>/<sha256(url)>.bin`` (the bytes) and ``.json`` (url, etag,
last_modified, sha256 of the bytes, fetched_at, size); the JSON is written last, so it marks a
complete entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from PIL import Image, UnidentifiedImageError

from lookalike.atomic import write_bytes_atomic, write_json_atomic
from lookalike.catalog.hostpool import HostClients
from lookalike.catalog.http import FetchSettings, Slot, download, run_sync, within
from lookalike.errors import FetchError
from lookalike.progress import Progress
from lookalike.progress import task as progress_task

__all__ = ["FetchResult", "ImageFetcher", "is_transient"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


def is_transient(reason: str | None) -> bool:
    """Whether a failure ``reason`` may go away by itself (timeout, connection, 429, 5xx)."""
    if reason in ("timeout", "connection", "http_429"):
        return True
    return bool(reason and reason.startswith("http_5"))


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


# --------------------------------------------------------------------------- cached fetcher


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return ""


class ImageFetcher:
    """Fetch image URLs concurrently into a cache folder keyed by ``sha256(url)``."""

    def __init__(self, cache_dir: Path, settings: FetchSettings = FetchSettings()) -> None:
        self.cache_dir = Path(cache_dir)
        self.settings = settings
        # host -> {"failed_in_a_row": n, "skipped": m} for hosts given up on in this run
        self.skipped_hosts: dict[str, dict[str, int]] = {}

    def cache_paths(self, url: str) -> tuple[Path, Path]:
        """The ``(.bin, .json)`` cache paths of ``url``."""
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        base = self.cache_dir / digest[:2] / digest
        return base.with_suffix(".bin"), base.with_suffix(".json")

    def cached(self, url: str, *, max_age: float | None = None) -> FetchResult | None:
        """The complete cache entry of ``url`` as a "cached" result, or None; no request.

        ``max_age``: only an entry whose last successful fetch or revalidation is at most
        that many seconds old."""
        meta = self._load_meta(url)
        if meta is None:
            return None
        if max_age is not None:
            try:
                when = datetime.fromisoformat(str(meta.get("fetched_at")))
            except ValueError:
                return None
            if (datetime.now(timezone.utc) - when).total_seconds() > max_age:
                return None
        return self._cached(url, meta, attempts=0)

    def prune(self, keep: Iterable[str]) -> int:
        """Delete the cache entries of every URL not in ``keep``; returns how many went.

        A nightly refresh of a feed whose products come and go would otherwise grow the
        cache without bound.
        """
        wanted = {hashlib.sha256(url.encode("utf-8")).hexdigest() for url in keep}
        removed: set[str] = set()
        for path in self.cache_dir.glob("??/*"):
            if path.name.startswith(".") or path.suffix not in (".bin", ".json"):
                continue  # a temp file of a write in progress
            if path.stem not in wanted:
                path.unlink(missing_ok=True)
                removed.add(path.stem)
        return len(removed)

    def fetch(self, url: str) -> FetchResult:
        """Fetch one URL (revalidating a cached copy), without a progress bar."""
        return self.fetch_many([url])[url]

    def fetch_many(
        self, urls: Iterable[str], *, progress: Progress | None = None, revalidate: bool = True
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
        return run_sync(self._fetch_all(unique, progress=progress, revalidate=revalidate))

    async def _fetch_all(
        self, urls: list[str], *, progress: Progress | None, revalidate: bool
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
            host = _host(url)
            host_slot = host_slots.setdefault(host, asyncio.Semaphore(self.settings.per_host))

            @contextlib.asynccontextmanager
            async def slot() -> AsyncIterator[None]:
                # Host first: a task waiting for a busy host must not hold a global slot.
                async with host_slot, global_slots:
                    yield

            return slot

        pending = iter(todo)
        clients = HostClients(self.settings)
        # Cache writes fsync twice per file: waiting on the disk, not the CPU, so as many
        # writer threads as fetches in flight (asyncio's default pool has cores + 4).
        writer = ThreadPoolExecutor(self.settings.concurrency, "lookalike-cache")
        try:
            advance = progress_task(progress, "fetching images", len(urls))
            advance(len(results))

            in_a_row: dict[str, int] = {}

            async def worker() -> None:
                for url in pending:  # shared iterator: each URL goes to one worker
                    host = _host(url)
                    if in_a_row.get(host, 0) >= self.settings.host_failures:
                        results[url] = self._skipped(url, host, in_a_row[host])
                    else:
                        async with clients.client(host) as client:
                            fetch = self._fetch_one(client, url, slot_for(url), writer)
                            results[url] = await self._within_deadline(url, fetch)
                        failed = results[url].status == "failed"
                        in_a_row[host] = in_a_row.get(host, 0) + 1 if failed else 0
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
        finally:
            await clients.aclose()
            writer.shutdown(wait=True)
        return {url: results[url] for url in urls}

    @staticmethod
    async def _in_writer(writer: Executor, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a cache-writer thread."""
        return await asyncio.get_running_loop().run_in_executor(writer, fn, *args)

    async def _within_deadline(
        self, url: str, fetch: Coroutine[Any, Any, FetchResult]
    ) -> FetchResult:
        """``fetch`` (``_fetch_one``) within the total per-URL deadline (every attempt and
        sleep)."""
        try:
            return await within(fetch, self.settings.deadline)
        except asyncio.TimeoutError:
            error = FetchError(
                f"{url} did not arrive within the {self.settings.deadline:g} s deadline",
                reason="timeout",
            )
            return self._failed(url, error, 1)

    def _skipped(self, url: str, host: str, failures: int) -> FetchResult:
        entry = self.skipped_hosts.setdefault(host, {"failed_in_a_row": failures, "skipped": 0})
        entry["skipped"] += 1
        error = FetchError(
            f"{url} not tried: {host} failed {failures} times in a row", reason="host_skipped"
        )
        return self._failed(url, error, 0)

    async def _fetch_one(
        self, client: httpx.AsyncClient, url: str, slot: Slot, writer: Executor
    ) -> FetchResult:
        meta = self._load_meta(url)
        headers: dict[str, str] = {}
        if meta is not None:
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        outcome = await download(
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
                await self._in_writer(writer, self._refresh_meta, url, meta, outcome.headers)
                return self._cached(url, meta, attempts=outcome.attempts)
        if outcome.error is None:
            try:
                _check_image(outcome.body, url)
            except FetchError as exc:
                outcome.error = exc
        if outcome.error is not None:
            return self._failed(url, outcome.error, outcome.attempts)
        assert outcome.headers is not None and outcome.status is not None
        path, digest = await self._in_writer(
            writer, self._store, url, outcome.body, outcome.headers
        )
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
