"""Image work of requests (decode + embed of an upload or a fetched URL) in a bounded pool.

Decoding a large photo needs hundreds of MB for a moment. Each request's image is checked
from its header first (:func:`lookalike.embed.decode.probe_image`: pixels and decoded bytes),
then decoded on one of ``workers`` threads (default: one per core); at most ``queue`` more
wait, and beyond that the request gets 503 with ``Retry-After`` instead of another few hundred
MB. After each job the allocator gives freed memory back to the system (``malloc_trim``: glibc
keeps freed arena memory of worker threads otherwise; measured in tests/serve/test_memory.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any, TypeVar

from lookalike.embed.decode import MAX_DECODED_BYTES, MAX_IMAGE_PIXELS, probe_image
from lookalike.errors import LookalikeError

__all__ = ["BusyError", "DecodePool", "release_memory", "check_image", "default_workers"]

T = TypeVar("T")


class BusyError(LookalikeError):
    """Every decode slot and queue place is taken: the client should retry later (503)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


def default_workers() -> int:
    """One decode thread per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None
    return trim


def release_memory() -> bool:
    """Return freed heap memory to the system (glibc ``malloc_trim``); False where there is
    no such call (musl, macOS), which free large blocks on their own."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def check_image(data: bytes, *, max_pixels: int, max_decoded_bytes: int) -> None:
    """Refuse an image from its header alone (``ImageError``: 413 too large, 415 not an
    image) before it takes a decode slot."""
    probe_image(data, max_pixels=max_pixels, max_decoded_bytes=max_decoded_bytes)


class DecodePool:
    """``workers`` threads for image jobs and room for ``queue`` waiting ones."""

    def __init__(
        self,
        workers: int | None = None,
        queue: int = 8,
        *,
        retry_after: int = 2,
        max_pixels: int = MAX_IMAGE_PIXELS,
        max_decoded_bytes: int = MAX_DECODED_BYTES,
    ):
        self.workers = workers or default_workers()
        self.queue = queue
        self.retry_after = retry_after
        self.max_pixels = max_pixels
        self.max_decoded_bytes = max_decoded_bytes
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="lookalike-decode")
        self._lock = threading.Lock()
        self._pending = 0  # running + queued jobs
        self.rejected = 0

    @property
    def pending(self) -> int:
        """Jobs running or waiting now."""
        return self._pending

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; ``BusyError`` when ``workers + queue`` jobs are pending."""
        with self._lock:
            if self._pending >= self.workers + self.queue:
                self.rejected += 1
                raise BusyError(
                    f"the server is decoding {self._pending} images; retry in {self.retry_after} s",
                    retry_after=self.retry_after,
                )
            self._pending += 1
        try:
            future = self._executor.submit(self._call, fn, args)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        # Counted until the job itself ends: a client that hangs up does not free its slot
        # while its image is still being decoded.
        future.add_done_callback(self._done)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a decode thread, awaited."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    async def run_image(self, data: bytes, fn: Callable[..., T], *args: Any) -> T:
        """Check ``data``'s header, then ``fn(*args)`` on a decode thread."""
        check_image(data, max_pixels=self.max_pixels, max_decoded_bytes=self.max_decoded_bytes)
        return await self.run(fn, *args)

    @staticmethod
    def _call(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        finally:
            release_memory()

    def close(self) -> None:
        """Stop the threads (waiting for running jobs)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
