"""Catalog sync without a build: an append-only journal of upserts and deletes, and the overlay
the recommender lays over the built catalog.

``sync/journal.jsonl`` (beside the build, never inside it) holds one JSON line per change:
``{"seq": 7, "op": "upsert", "product": {...}, "vector": "<base64 float32>"}`` or
``{"seq": 8, "op": "delete", "id": "sku-1"}``. Each line is flushed and fsynced before the
change is acknowledged, so it survives a crash or restart; a torn last line (a crash mid-write)
is ignored. A recommender applies the lines with ``seq`` above the build's ``sync_seq``
(recorded in the manifest by the build that folded them in) on load, and each new change live.
The next build folds the journal into its catalog (``fold_products``): upserted products
replace the feed's, deleted ones are dropped, so the published build agrees with the overlay.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.index.vectors import VectorSet

__all__ = ["Overlay", "SyncJournal", "fold_products", "product_from_json"]

log = logging.getLogger(__name__)


def product_from_json(data: dict[str, Any]) -> Product:
    """A ``Product`` from its JSON fields (``Product.to_dict`` shape); ``ConfigError`` if bad."""
    known = {"id", "title", "images", "category", "price", "in_stock", "url", "group_id", "attrs"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown product field(s): {', '.join(unknown)}")
    try:
        price = data.get("price")
        return Product(
            id=str(data.get("id", "")),
            title=str(data.get("title", "")),
            images=[str(s) for s in data.get("images", [])],
            category=str(data.get("category", "")),
            price=None if price is None else float(price),
            in_stock=bool(data.get("in_stock", True)),
            url=str(data.get("url", "")),
            group_id=str(data.get("group_id", "")),
            attrs={str(k): v for k, v in dict(data.get("attrs", {})).items()},
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad product: {exc}") from exc


def _encode(vector: np.ndarray | None) -> str | None:
    if vector is None:
        return None
    return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii")


def _decode(text: str | None) -> np.ndarray | None:
    if not text:
        return None
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


class SyncJournal:
    """The append-only journal file (one writer per process, under a lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def entries(self, after: int = 0) -> Iterator[dict[str, Any]]:
        """Entries with ``seq`` above ``after``, in order (a torn last line is skipped)."""
        if not self.path.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    entry = json.loads(line)
                except ValueError:
                    log.warning("%s:%d: unreadable sync entry skipped", self.path, number)
                    continue
                if isinstance(entry, dict) and int(entry.get("seq", 0)) > after:
                    yield entry

    def last_seq(self) -> int:
        """The highest ``seq`` written so far (0 for none)."""
        return max((int(e.get("seq", 0)) for e in self.entries()), default=0)

    def append(self, changes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write ``changes`` (each gets the next ``seq``) durably; returns them as written."""
        with self._lock:
            seq = self.last_seq()
            written = [{**change, "seq": seq + i} for i, change in enumerate(changes, start=1)]
            if not written:
                return []
            self.path.parent.mkdir(parents=True, exist_ok=True)
            data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in written)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return written

    @staticmethod
    def upsert(
        product: Product, vector: np.ndarray | None, image_file: str | None = None
    ) -> dict[str, Any]:
        """An upsert change (``vector``: the product vector, ``None`` without a usable image;
        ``image_file``: where its image's bytes are kept, for the image endpoint)."""
        entry = {"op": "upsert", "product": product.to_dict(), "vector": _encode(vector)}
        return {**entry, "image_file": image_file} if image_file else entry

    @staticmethod
    def delete(product_id: str) -> dict[str, Any]:
        """A delete change."""
        return {"op": "delete", "id": product_id}


@dataclass(frozen=True)
class _State:
    products: dict[str, Product] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    deleted: frozenset[str] = frozenset()
    seq: int = 0
    image_files: dict[str, str] = field(default_factory=dict)


class Overlay:
    """The changes since the build. Readers see an immutable snapshot; ``apply`` swaps it."""

    def __init__(self, dim: int):
        self.dim = dim
        self._state = _State()

    def __bool__(self) -> bool:
        state = self._state
        return bool(state.products or state.deleted)

    @property
    def seq(self) -> int:
        """The last change applied."""
        return self._state.seq

    @property
    def changed(self) -> frozenset[str]:
        """Ids whose built rows are stale: upserted or deleted."""
        state = self._state
        return frozenset(state.products) | state.deleted

    def is_deleted(self, product_id: str) -> bool:
        """Whether ``product_id`` was deleted since the build."""
        return product_id in self._state.deleted

    def product(self, product_id: str) -> Product | None:
        """The upserted product, or ``None``."""
        return self._state.products.get(product_id)

    def vector(self, product_id: str) -> np.ndarray | None:
        """The upserted product's vector, or ``None``."""
        return self._state.vectors.get(product_id)

    def image_file(self, product_id: str) -> Path | None:
        """The kept image bytes of an upserted product, or ``None``."""
        name = self._state.image_files.get(product_id)
        return Path(name) if name else None

    def vector_set(self) -> VectorSet:
        """The upserted products that have a vector."""
        vectors = self._state.vectors
        ids = list(vectors)
        rows = np.asarray([vectors[i] for i in ids], np.float32).reshape(len(ids), self.dim)
        return VectorSet(ids, rows)

    def products(self) -> list[Product]:
        """Every upserted product."""
        return list(self._state.products.values())

    def apply(self, entries: Iterable[dict[str, Any]]) -> None:
        """Lay journal entries over the current snapshot (in ``seq`` order)."""
        state = self._state
        products, vectors = dict(state.products), dict(state.vectors)
        deleted, seq, files = set(state.deleted), state.seq, dict(state.image_files)
        for entry in entries:
            seq = max(seq, int(entry.get("seq", 0)))
            if entry.get("op") == "delete":
                pid = str(entry.get("id", ""))
                products.pop(pid, None)
                vectors.pop(pid, None)
                files.pop(pid, None)
                deleted.add(pid)
            elif entry.get("op") == "upsert":
                product = product_from_json(dict(entry.get("product") or {}))
                vector = _decode(entry.get("vector"))
                products[product.id] = product
                deleted.discard(product.id)
                vectors.pop(product.id, None)
                files.pop(product.id, None)
                if entry.get("image_file"):
                    files[product.id] = str(entry["image_file"])
                if vector is not None and vector.shape == (self.dim,):
                    vectors[product.id] = vector
        self._state = _State(products, vectors, frozenset(deleted), seq, files)


def fold_products(products: Iterable[Product], journal: SyncJournal) -> tuple[list[Product], int]:
    """The catalog ``products`` with every journal change laid over them (what the next build
    publishes), and the last ``seq`` folded in."""
    folded = {p.id: p for p in products}
    seq = 0
    for entry in journal.entries():
        seq = max(seq, int(entry.get("seq", 0)))
        if entry.get("op") == "delete":
            folded.pop(str(entry.get("id", "")), None)
        elif entry.get("op") == "upsert":
            product = product_from_json(dict(entry.get("product") or {}))
            folded[product.id] = product
    return list(folded.values()), seq


class BaseVectors(Protocol):
    """What ``LiveVectors`` reads of the built vectors: a ``VectorSet``, or Milvus' view."""

    @property
    def dim(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...

    def get(self, key: str) -> np.ndarray | None: ...


class LiveVectors:
    """The built product vectors with the overlay laid over them (same reading interface as a
    ``VectorSet`` for ``take``, ``get``, ``in`` and ``len``)."""

    def __init__(self, base: BaseVectors, overlay: Overlay):
        self.base = base
        self.overlay = overlay
        self.dim = base.dim

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str) or self.overlay.is_deleted(key):
            return False
        if self.overlay.product(key) is not None:
            return self.overlay.vector(key) is not None
        return key in self.base

    def __len__(self) -> int:
        return len(self.base) + len(self.overlay.vector_set())

    def get(self, key: str) -> np.ndarray | None:
        """The live vector of ``key`` or ``None``."""
        if key not in self:
            return None
        vector = self.overlay.vector(key)
        return vector if vector is not None else self.base.get(key)

    def take(self, keys: list[str]) -> VectorSet:
        """The live vectors of ``keys`` (all present), in that order."""
        rows = np.zeros((len(keys), self.dim), np.float32)
        for i, key in enumerate(keys):
            vector = self.get(key)
            if vector is None:
                raise KeyError(key)
            rows[i] = vector
        return VectorSet(list(keys), rows)
