"""The one interface every index backend implements, and the exact (brute-force) backend.

Indexes hold string ids, never bare row positions: ``search`` returns ids, so results stay
right after products are added or removed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.errors import VectorIndexError
from lookalike.index.exact import knn_exact
from lookalike.index.persist import read_generation, write_generation
from lookalike.index.vectors import VectorSet

__all__ = ["VectorIndex", "ExactIndex", "SearchResult"]

# (scores (nq, k) float32, ids: nq lists of k product ids; "" where fewer than k exist)
SearchResult = tuple[np.ndarray, list[list[str]]]


class VectorIndex(abc.ABC):
    """Inner-product search over L2-normalised vectors, keyed by string ids."""

    kind: str = "base"  # what the user chose: exact, flat, hnsw, ivfpq
    backend: str = "base"  # the class that saved it, recorded in index.json for load_index

    @abc.abstractmethod
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Add (or replace) vectors for ``ids``."""

    @abc.abstractmethod
    def remove(self, ids: Sequence[str]) -> None:
        """Remove ``ids``; unknown ids are ignored."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        """Top-``k`` ids by inner product for each query row."""

    @abc.abstractmethod
    def save(self, folder: Path) -> None:
        """Persist atomically under ``folder``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, folder: Path) -> VectorIndex:
        """Load what ``save`` wrote."""

    @abc.abstractmethod
    def __len__(self) -> int: ...


class ExactIndex(VectorIndex):
    """Brute-force blocked inner product: exact, and fast enough below ~50k products.

    ``shared=True`` marks vectors that are saved elsewhere (a workspace's product vectors):
    ``save`` then records only their count and ``load`` takes them back from the caller, so a
    build keeps one copy of its vectors and ids. An index saved before that (with its own
    ``vectors.npy``) still loads, with or without the caller's vectors.
    """

    kind = "exact"
    backend = "exact"
    _NAME = "vectors"

    def __init__(
        self, vectors: VectorSet | None = None, dim: int | None = None, *, shared: bool = False
    ):
        if vectors is None:
            if dim is None:
                raise VectorIndexError("an empty ExactIndex needs its dimension")
            vectors = VectorSet.empty(dim)
        self._set = vectors
        self.shared = shared

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._set.dim

    @property
    def ids(self) -> list[str]:
        """Indexed ids in row order."""
        return self._set.ids

    def __len__(self) -> int:
        return len(self._set)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise VectorIndexError(f"expected (n, {self.dim}) vectors, got {vectors.shape}")
        self._set = self._set.merged(VectorSet(list(ids), vectors))
        self.shared = False  # no longer the caller's vectors

    def remove(self, ids: Sequence[str]) -> None:
        gone = set(ids)
        keep = [i for i in self._set.ids if i not in gone]
        self._set = self._set.take(keep) if keep else VectorSet.empty(self.dim)
        self.shared = False

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.shape[1] != self.dim:
            raise VectorIndexError(f"query has {queries.shape[1]} dims, index has {self.dim}")
        scores, rows = knn_exact(queries, self._set.vectors, k)
        ids = self._set.ids
        return scores, [[ids[r] if r >= 0 else "" for r in row] for row in rows]

    def save(self, folder: Path) -> None:
        meta = {
            "kind": self.kind,
            "backend": self.backend,
            "dim": self.dim,
            "count": len(self),
            "vectors": "shared" if self.shared else self._NAME,
        }

        def write(gen: Path) -> None:
            if not self.shared:
                self._set.save(gen, self._NAME)

        write_generation(folder, meta, write)

    @classmethod
    def load(cls, folder: Path, vectors: VectorSet | None = None) -> ExactIndex:
        """Load what ``save`` wrote; ``vectors`` are the shared vectors it was built over."""
        meta, gen = read_generation(folder)
        if meta.get("backend") != cls.backend:
            raise VectorIndexError(f"{folder} holds a {meta.get('backend')!r} index, not exact")
        if vectors is not None:
            return cls(vectors, shared=meta.get("vectors") == "shared")
        if meta.get("vectors") == "shared":
            raise VectorIndexError(
                f"the exact index in {folder} searches the workspace's product vectors: "
                "load it with them"
            )
        return cls(VectorSet.load(gen, cls._NAME))
