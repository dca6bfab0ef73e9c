"""One-shot downloads (a feed file, an uploaded image's URL, the demo archive) that raise
:class:`~lookalike.errors.FetchError`, on top of :func:`lookalike.catalog.http.download`."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, cast

from lookalike.atomic import atomic_open
from lookalike.catalog.http import FetchSettings, Outcome, download, make_client, run_sync
from lookalike.errors import ConfigError, FetchError

__all__ = ["fetch_bytes", "fetch_to_file"]


def fetch_bytes(url: str, *, settings: FetchSettings, max_bytes: int | None = None) -> bytes:
    """Download ``url`` into memory (no cache, no image check); raises ``FetchError``.

    Retries, redirects, the address guard and the size cap (``max_bytes`` or
    ``settings.max_bytes``) work as in :class:`~lookalike.catalog.fetch.ImageFetcher`.
    """
    outcome = run_sync(_one_shot(url, settings, _limit(settings, max_bytes), None))
    _raise_for(outcome, url)
    return outcome.body


def fetch_to_file(
    url: str, dest: Path, *, settings: FetchSettings, max_bytes: int | None = None
) -> int:
    """Stream ``url`` into ``dest`` atomically (for big downloads); returns the size in bytes.

    Raises ``FetchError`` like :func:`fetch_bytes`; ``dest`` is untouched on failure.
    """
    limit = _limit(settings, max_bytes)
    with atomic_open(dest, "wb") as handle:
        outcome = run_sync(_one_shot(url, settings, limit, cast(BinaryIO, handle)))
        _raise_for(outcome, url)  # raising inside atomic_open discards the temp file
        return handle.tell()


def _limit(settings: FetchSettings, max_bytes: int | None) -> int:
    limit = settings.max_bytes if max_bytes is None else max_bytes
    if limit <= 0:
        raise ConfigError(f"max_bytes must be > 0, got {limit!r}")
    return limit


async def _one_shot(
    url: str, settings: FetchSettings, max_bytes: int, sink: BinaryIO | None
) -> Outcome:
    async with make_client(settings, accept="*/*") as client:
        return await download(client, url, settings, max_bytes=max_bytes, sink=sink)


def _raise_for(outcome: Outcome, url: str) -> None:
    if outcome.error is not None:
        raise outcome.error
    if outcome.status is None or not 200 <= outcome.status < 300:
        raise FetchError(
            f"HTTP {outcome.status} from {url}",
            reason=f"http_{outcome.status}",
            status=outcome.status,
        )
