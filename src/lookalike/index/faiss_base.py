"""The shared base of the faiss backends (``faiss_backends.py``).

All of them share one scheme for string ids and incremental updates. A vector's faiss label is
its insertion position; ``_ids[label]`` is its product id, or ``None`` once removed. Removal
only marks a tombstone (HNSW cannot delete, and IVF deletion would let new labels collide with
old ones); searches pass a bitmap of live labels to faiss, which then explores past removed
vectors, so removed ids never come back and ``k`` live results still do. When tombstones pass
``max_dead_fraction`` of the stored vectors the index is rebuilt from its live vectors.
Re-adding an id tombstones the old vector and stores the new one.

faiss is imported lazily (``lookalike --help`` stays fast). Optional PCA comes from a fitted
``VectorCodec``; its ``quantize`` setting is realised with faiss's ScalarQuantizer storage.
"""

from __future__ import annotations

import abc
import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import fsync_path, write_json_atomic
from lookalike.errors import VectorIndexError
from lookalike.index.base import SearchResult, VectorIndex
from lookalike.index.compress import VectorCodec
from lookalike.index.exact import knn_exact
from lookalike.index.persist import read_generation, write_generation

__all__ = ["FaissIndex", "import_faiss", "sq_type"]

_FAISS_FILE, _STATE_FILE = "index.faiss", "state.json"
_MAX_RETRIES = 3  # deeper searches before the exact fallback for rows still short of k


def import_faiss() -> Any:
    """The faiss module, or a ``VectorIndexError`` that says how to get it."""
    try:
        import faiss
    except ImportError as exc:
        raise VectorIndexError("faiss is not installed: pip install faiss-cpu") from exc
    return faiss


def sq_type(faiss: Any, quantize: str | None) -> Any:
    """The faiss ScalarQuantizer type for ``float16`` / ``int8``."""
    types = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}
    return types[str(quantize)]


def _write_faiss_atomic(faiss: Any, index: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        faiss.write_index(index, str(tmp))
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class FaissIndex(VectorIndex):
    """Shared id mapping, tombstones, search-deeper logic and persistence."""

    backend = "faiss"

    def __init__(
        self, dim: int, *, codec: VectorCodec | None = None, max_dead_fraction: float = 0.2
    ):
        if dim < 1:
            raise VectorIndexError(f"dimension must be positive, got {dim}")
        if codec is not None and (not codec.is_fitted or codec.input_dim != dim):
            raise VectorIndexError(f"the codec must be fitted on {dim}-d vectors")
        if not 0.0 < max_dead_fraction <= 1.0:
            raise VectorIndexError(f"max_dead_fraction must be in (0, 1], got {max_dead_fraction}")
        self.dim = dim
        self.codec = codec
        self.max_dead_fraction = max_dead_fraction
        self._faiss = import_faiss()
        self._index: Any = None  # created (and trained) on the first add
        self._ids: list[str | None] = []
        self._pos: dict[str, int] = {}

    # subclass hooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def _create(self, x: np.ndarray) -> Any:
        """A new, trained, empty faiss index for stored vectors like ``x``."""

    @abc.abstractmethod
    def _params(self, sel: Any, k: int, effort: int) -> tuple[Any, bool, tuple[Any, ...]]:
        """Search parameters for ``effort`` (1, 4, 16...), whether that is the deepest search,
        and the objects the parameters point to (kept alive by the caller while searching)."""

    def _config(self) -> dict[str, Any]:
        return {}

    # properties -------------------------------------------------------------------------
    @property
    def stored_dim(self) -> int:
        """Dimension of the stored vectors (after PCA)."""
        return self.codec.output_dim if self.codec is not None else self.dim

    @property
    def quantize(self) -> str | None:
        """Scalar quantisation of the stored vectors."""
        return self.codec.quantize if self.codec is not None else None

    @property
    def ids(self) -> list[str]:
        """Live ids in insertion order."""
        return [key for key in self._ids if key is not None]

    @property
    def tombstones(self) -> int:
        """Removed vectors still physically stored."""
        return len(self._ids) - len(self._pos)

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, key: object) -> bool:
        return key in self._pos

    def _project(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        if x.shape[1] != self.dim:
            raise VectorIndexError(f"expected {self.dim}-d vectors, got {x.shape[1]}-d")
        x = self.codec.project(x) if self.codec is not None else x
        return np.ascontiguousarray(x, dtype=np.float32)

    # updates ----------------------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        x = self._project(vectors)
        if len(ids) != len(x):
            raise VectorIndexError(f"{len(ids)} ids for {len(x)} vectors")
        latest = {str(key): i for i, key in enumerate(ids)}  # a repeated id: the last row wins
        if not latest:
            return
        x = x[list(latest.values())]
        for key in latest:
            self._tombstone(key)
        if self._index is None:
            self._index = self._create(x)
        start = len(self._ids)
        self._index.add(x)
        self._ids.extend(latest)
        self._pos.update({key: start + j for j, key in enumerate(latest)})
        self._maybe_compact()

    def remove(self, ids: Sequence[str]) -> None:
        for key in ids:
            self._tombstone(str(key))
        self._maybe_compact()

    def _tombstone(self, key: str) -> None:
        pos = self._pos.pop(key, None)
        if pos is not None:
            self._ids[pos] = None

    def _maybe_compact(self) -> None:
        if self.tombstones and self.tombstones > self.max_dead_fraction * len(self._ids):
            self.compact()

    def _stored(self) -> np.ndarray:
        return self._index.reconstruct_n(0, self._index.ntotal)

    def compact(self) -> None:
        """Rebuild from the live vectors only (drops every tombstone; labels renumbered)."""
        if self._index is None or not self.tombstones:
            return
        live = [p for p, key in enumerate(self._ids) if key is not None]
        vectors = self._stored()[live]
        keys = [self._ids[p] for p in live]
        self._index = self._create(vectors) if len(vectors) else None
        if self._index is not None:
            self._index.add(vectors)
        self._ids = list(keys)
        self._pos = {key: p for p, key in enumerate(keys) if key is not None}

    # search -----------------------------------------------------------------------------
    def _selector(self) -> tuple[Any, np.ndarray | None]:
        """A faiss selector of live labels (None when nothing is removed) and its bitmap."""
        if not self.tombstones:
            return None, None
        live = np.fromiter((key is not None for key in self._ids), bool, len(self._ids))
        bitmap = np.packbits(live, bitorder="little")  # faiss reads bit (i & 7) of byte i >> 3
        sel = self._faiss.IDSelectorBitmap(len(live), self._faiss.swig_ptr(bitmap))
        return sel, bitmap  # the bitmap must outlive every search that uses the selector

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        q = self._project(queries)
        nq = len(q)
        scores = np.full((nq, max(k, 0)), -np.inf, dtype=np.float32)
        labels = np.full((nq, max(k, 0)), -1, dtype=np.int64)
        want = min(k, len(self))
        if want > 0 and want >= len(self):
            # Everything is asked for: exact over the stored vectors costs no more than ANN.
            labels[:], scores[:] = self._exact(q, k)
        elif want > 0:
            sel, _bitmap = self._selector()
            todo = np.arange(nq)
            for attempt in range(_MAX_RETRIES + 1):
                params, deepest, _refs = self._params(sel, k, 4**attempt)
                d, i = self._index.search(q[todo], k, params=params)
                scores[todo], labels[todo] = d, i
                todo = todo[(i[:, :want] < 0).any(axis=1)]
                if not len(todo) or deepest:
                    break
            if len(todo):  # still short of k (a sparse IVF list, a disconnected graph)
                labels[todo], scores[todo] = self._exact(q[todo], k)
        ids: list[list[str]] = []
        for r in range(nq):
            row = [self._ids[p] if p >= 0 else None for p in labels[r]]
            # Belt and braces: a removed id is never returned, whatever faiss did.
            scores[r, [j for j, key in enumerate(row) if key is None]] = -np.inf
            ids.append([key or "" for key in row])
        return scores, ids

    def _exact(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        live = np.array([p for p, key in enumerate(self._ids) if key is not None], np.int64)
        d, rows = knn_exact(q, self._stored()[live], k)
        return np.where(rows >= 0, live[np.maximum(rows, 0)], -1), d

    # persistence ------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "backend": self.backend,
            "dim": self.dim,
            "count": len(self),
            "stored": len(self._ids),
            "max_dead_fraction": self.max_dead_fraction,
            "params": self._config(),
            "codec": self.codec is not None,
        }

    def save(self, folder: Path) -> None:
        def write(gen: Path) -> None:
            if self._index is not None:
                _write_faiss_atomic(self._faiss, self._index, gen / _FAISS_FILE)
            if self.codec is not None:
                self.codec.save(gen)
            write_json_atomic(gen / _STATE_FILE, {"ids": self._ids})

        write_generation(Path(folder), self._meta(), write)

    @classmethod
    def load(cls, folder: Path) -> FaissIndex:
        meta, gen = read_generation(Path(folder))
        if meta.get("backend") != cls.backend:
            raise VectorIndexError(f"{folder} holds a {meta.get('backend')!r} index")
        codec = VectorCodec.load(gen) if meta.get("codec") else None
        index = cls(
            int(meta["dim"]),
            codec=codec,
            max_dead_fraction=float(meta["max_dead_fraction"]),
            **meta["params"],
        )
        try:
            state = json.loads((gen / _STATE_FILE).read_text(encoding="utf-8"))
            if (gen / _FAISS_FILE).exists():
                index._index = index._faiss.read_index(str(gen / _FAISS_FILE))
        except (OSError, ValueError, RuntimeError) as exc:
            raise VectorIndexError(f"cannot read the index in {gen}: {exc}") from exc
        index._restore(list(state["ids"]))
        return index

    def _restore(self, ids: list[str | None]) -> None:
        stored = 0 if self._index is None else int(self._index.ntotal)
        if stored != len(ids):
            raise VectorIndexError(f"{len(ids)} ids for {stored} stored vectors; rebuild")
        self._ids = ids
        self._pos = {key: p for p, key in enumerate(ids) if key is not None}
