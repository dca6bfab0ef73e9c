"""JSON bytes of plain similar-products responses, built once per (product, k, host).

A plain request (no filter, cosine, no A/B variant) always gets the same answer from the same
recommender, and most of its cost was building dicts and validating them through pydantic.
So the first answer is serialised through the response model once and its bytes are kept;
later requests send the bytes as they are. The cache belongs to one recommender object: a
reload swaps the recommender, and its answers start afresh. Bounded: when full, it is cleared.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["ResponseCache", "CACHE_LIMIT"]

CACHE_LIMIT = 200_000  # responses per recommender (~2 KB each at k=10)

Key = tuple[str, int, str]  # product id, k, image URL prefix (the host the client used)


class ResponseCache:
    """``get_or_build(rec, key, build)`` -> bytes, per recommender, thread-safe."""

    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self.limit = limit
        self._by_rec: weakref.WeakKeyDictionary[Any, dict[Key, bytes]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get_or_build(self, rec: Any, key: Key, build: Callable[[], bytes]) -> bytes:
        """The cached bytes for ``key`` under ``rec``, built (outside the lock) when missing."""
        with self._lock:
            cached = self._by_rec.get(rec, {}).get(key)
        if cached is not None:
            return cached
        body = build()  # an error (unknown product) propagates and caches nothing
        with self._lock:
            entries = self._by_rec.setdefault(rec, {})
            if len(entries) >= self.limit:
                entries.clear()
            entries[key] = body
        return body

    def size(self, rec: Any) -> int:
        """How many responses are cached for ``rec``."""
        with self._lock:
            return len(self._by_rec.get(rec, {}))
