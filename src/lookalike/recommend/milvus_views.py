"""The Recommender's three read parts (vectors, index, top-K table) backed by one Milvus store.

``open_milvus_parts(manifest, shop)`` gives objects with the surface the Recommender uses of
``VectorSet``, ``VectorIndex`` and ``Neighbors``, so the same ranking, filtering and exclusion
code answers from Milvus as from the local files. Filters the store can evaluate (category,
price, stock, attributes) are also pushed down into the Milvus search (``filter_expression``);
the Recommender's own predicate still runs on every hit, so results are the same either way,
only selective filters get cheaper.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import normalize_title
from lookalike.index.base import SearchResult, VectorIndex
from lookalike.index.vectors import VectorSet
from lookalike.recommend.filters import Filters, attr_value
from lookalike.recommend.milvus import MilvusShopStore, StoreSpec
from lookalike.recommend.overlay import Overlay

__all__ = [
    "MilvusVectors",
    "MilvusIndex",
    "MilvusNeighbors",
    "open_milvus_parts",
    "filter_expression",
    "mirror_changes",
]


class MilvusVectors:
    """Product vectors read by id from Milvus (never by row position)."""

    def __init__(self, store: MilvusShopStore) -> None:
        self.store = store

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.store.dim

    def __len__(self) -> int:
        return len(self.store)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self.store.vectors([key]))

    def get(self, key: str) -> np.ndarray | None:
        """The vector of ``key`` or ``None``."""
        return self.store.vectors([key]).get(key)

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """``{id: vector}`` for the keys present."""
        return self.store.vectors(keys)

    def take(self, keys: Sequence[str]) -> VectorSet:
        """A local ``VectorSet`` of ``keys`` (all must be present), in that order."""
        found = self.lookup(keys)
        rows = [found[k] for k in keys]
        return VectorSet(list(keys), np.asarray(rows, np.float32).reshape(len(keys), self.dim))

    @cached_property
    def _everything(self) -> VectorSet:
        # only the full-catalog scorers (hybrid weights, euclidean/manhattan) need this
        ids = self.store.all_ids()
        return self.take(ids) if ids else VectorSet.empty(self.dim)

    def materialised(self) -> VectorSet:
        """Every vector in memory, loaded once (hybrid weights and non-cosine metrics only)."""
        return self._everything


class MilvusIndex(VectorIndex):
    """Inner-product search served by Milvus; ``narrowed(expr)`` adds a scalar pre-filter."""

    kind = "milvus"
    backend = "milvus"

    def __init__(self, store: MilvusShopStore, expr: str | None = None) -> None:
        self.store, self.expr = store, expr

    def narrowed(self, expr: str | None) -> MilvusIndex:
        """The same index restricted to rows matching ``expr`` (``None``: all rows)."""
        return MilvusIndex(self.store, expr)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Vectors without their products' fields: use ``MilvusShopStore.upsert``."""
        raise TypeError("add products through MilvusShopStore.upsert (scalar fields needed)")

    def remove(self, ids: Sequence[str]) -> None:
        self.store.delete(ids)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        return self.store.search(queries, k, expr=self.expr)

    def save(self, folder: Path) -> None:
        """Nothing to save: the data lives in Milvus."""

    @classmethod
    def load(cls, folder: Path) -> MilvusIndex:
        """Milvus indexes are opened from the manifest (``open_milvus_parts``)."""
        raise TypeError("open a Milvus index with open_milvus_parts(manifest, shop)")

    def __len__(self) -> int:
        return len(self.store)


class MilvusNeighbors:
    """The build's top-K table, one JSON field per product row."""

    def __init__(self, store: MilvusShopStore, k: int) -> None:
        self.store, self._k = store, k

    @property
    def k(self) -> int:
        """Neighbours stored per product."""
        return self._k

    @property
    def ids(self) -> list[str]:
        """Every product with a stored table (a scan of the collection's ids)."""
        return self.store.all_ids()

    def __contains__(self, product_id: object) -> bool:
        return isinstance(product_id, str) and self.store.neighbors(product_id) is not None

    def lookup(self, product_id: str, k: int | None = None) -> list[tuple[str, float]]:
        """The stored neighbours of ``product_id`` still in the store, best first."""
        table = self.store.neighbors(product_id) or []
        table = table[: self.k if k is None else min(k, self.k)]
        present = self.store.fetch([pid for pid, _ in table], ("id",))
        return [(pid, float(score)) for pid, score in table if pid in present]


def open_milvus_parts(
    manifest: dict[str, Any], shop: str
) -> tuple[MilvusVectors, MilvusNeighbors, MilvusIndex]:
    """The vectors, top-K table and index of a workspace built with ``--store milvus...``."""
    record = manifest["store"]
    store = MilvusShopStore(StoreSpec.from_dict(record), shop, collection=record["name"])
    return MilvusVectors(store), MilvusNeighbors(store, int(manifest["k"])), MilvusIndex(store)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def filter_expression(filters: Filters, query: Product | None) -> str | None:
    """A Milvus boolean expression that keeps every product ``filters.predicate(query)`` keeps
    (a superset: group, near-duplicate and self exclusions stay with the Recommender)."""
    parts: list[str] = []
    if filters.category == "same" and query is not None:
        parts.append(f"category == {_quote(attr_value(query, 'category'))}")
    elif filters.category not in ("any", "same"):
        names = sorted({normalize_title(c) for c in filters.category.split(",")})
        parts.append(f"category in [{', '.join(_quote(n) for n in names)}]")
    lo, hi = filters.min_price, filters.max_price
    if filters.relative_price is not None and query is not None and query.price is not None:
        rel_lo, rel_hi = (query.price * f for f in filters.relative_price)
        lo = rel_lo if lo is None else max(lo, rel_lo)
        hi = rel_hi if hi is None else min(hi, rel_hi)
    if lo is not None:
        parts.append(f"price >= {lo - 1e-6!r}")
    if hi is not None:
        parts.append(f"price <= {hi + 1e-6!r}")
    if filters.in_stock:
        parts.append("in_stock == true")
    wanted = {k: normalize_title(v) for k, v in filters.attrs.items()}
    if query is not None:
        wanted.update({k: attr_value(query, k) for k in filters.attrs_same})
    for key, value in sorted(wanted.items()):
        if value and key != "category":  # "" also matches a missing attribute: leave it local
            parts.append(f"attrs[{_quote(key)}] == {_quote(value)}")
        elif value:
            parts.append(f"category == {_quote(value)}")
    return " and ".join(parts) or None


def mirror_changes(store: MilvusShopStore, overlay: Overlay, entries: list[dict[str, Any]]) -> None:
    """Catalog-sync changes (journal ``entries``, already laid over ``overlay``) into Milvus:
    an upsert with a vector replaces the product's row, a delete or a product without an image
    removes it. The overlay keeps answering first; Milvus holds them for the next reader."""
    gone: list[str] = []
    for entry in entries:
        pid = str(entry.get("id") or (entry.get("product") or {}).get("id", ""))
        product, vector = overlay.product(pid), overlay.vector(pid)
        if entry.get("op") == "upsert" and product is not None and vector is not None:
            store.upsert([product], vector[None, :])
        elif pid:
            gone.append(pid)
    store.delete(gone)
