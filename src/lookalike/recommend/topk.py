"""Precomputed top-K similar products for every product, stored for O(1) lookup.

``neighbors.npy`` holds row numbers into the ids saved beside it (``neighbors.ids.json``), so
the table is self-contained: it never depends on another file's row order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.errors import VectorIndexError
from lookalike.index.exact import DEFAULT_BLOCK, iter_knn_exact
from lookalike.index.vectors import VectorSet

__all__ = ["Neighbors", "compute_neighbors"]


@dataclass
class Neighbors:
    """``rows[i, j]`` is the j-th most similar product to ``ids[i]`` (-1: none)."""

    ids: list[str]
    rows: np.ndarray  # int32 (N, K)
    scores: np.ndarray  # float32 (N, K)

    def __post_init__(self) -> None:
        if self.rows.shape != self.scores.shape or self.rows.shape[0] != len(self.ids):
            raise VectorIndexError(
                f"neighbour table is inconsistent: {len(self.ids)} ids, rows {self.rows.shape},"
                f" scores {self.scores.shape}; rebuild the workspace"
            )
        self._row_of = {pid: i for i, pid in enumerate(self.ids)}

    @property
    def k(self) -> int:
        """Neighbours stored per product."""
        return int(self.rows.shape[1])

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._row_of

    def lookup(self, product_id: str, k: int | None = None) -> list[tuple[str, float]]:
        """The stored neighbours of ``product_id`` as ``(id, score)``, best first."""
        row = self._row_of.get(product_id)
        if row is None:
            return []
        k = self.k if k is None else min(k, self.k)
        return [
            (self.ids[int(r)], float(s))
            for r, s in zip(self.rows[row, :k], self.scores[row, :k], strict=True)
            if r >= 0
        ]

    def save(self, folder: Path) -> None:
        """Write ``neighbors.npy``, ``neighbor_scores.npy`` and ``neighbors.ids.json``."""
        save_npy_atomic(folder / "neighbors.npy", self.rows.astype(np.int32))
        save_npy_atomic(folder / "neighbor_scores.npy", self.scores.astype(np.float32))
        write_json_atomic(folder / "neighbors.ids.json", self.ids)

    @classmethod
    def load(cls, folder: Path) -> Neighbors:
        """Load what ``save`` wrote (memory-mapped)."""
        try:
            rows = np.load(folder / "neighbors.npy", mmap_mode="r")
            scores = np.load(folder / "neighbor_scores.npy", mmap_mode="r")
            ids = json.loads((folder / "neighbors.ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VectorIndexError(f"cannot read the neighbour table in {folder}: {exc}") from exc
        return cls([str(i) for i in ids], rows, scores)

    @staticmethod
    def exists(folder: Path) -> bool:
        """Whether a neighbour table was saved in ``folder``."""
        return (folder / "neighbors.npy").exists()


def compute_neighbors(
    vectors: VectorSet,
    k: int,
    *,
    block: int = DEFAULT_BLOCK,
    progress: bool = False,
) -> Neighbors:
    """Exact cosine top-``k`` for every product against all others, self excluded.

    Works block by block: memory is O(block x N), never the N x N matrix.
    """
    n = len(vectors)
    k_eff = max(0, min(k, n - 1))
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if k_eff == 0:
        return Neighbors(list(vectors.ids), rows, scores)
    base = np.asarray(vectors.vectors, dtype=np.float32)
    blocks = iter_knn_exact(base, base, k_eff, block=block, exclude_self=True)
    if progress:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("top-K for every product", total=n)
            for start, d, i in blocks:
                rows[start : start + len(i), :k_eff] = i
                scores[start : start + len(d), :k_eff] = d
                bar.advance(task, len(i))
    else:
        for start, d, i in blocks:
            rows[start : start + len(i), :k_eff] = i
            scores[start : start + len(d), :k_eff] = d
    return Neighbors(list(vectors.ids), rows, scores)
