"""Precomputed top-K similar products for every product, stored for O(1) lookup.

``neighbors.npy`` holds row numbers into its ids: those saved beside it
(``neighbors.ids.json``), or, for a build, the product vectors' ids, checked by their sha256
(``neighbors.json``), so the table never silently follows another file's row order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.atomic import save_npy_atomic, write_json_atomic
from lookalike.errors import VectorIndexError
from lookalike.index.exact import DEFAULT_BLOCK, knn_exact
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress
from lookalike.progress import task as progress_task
from lookalike.recommend.exclusions import Exclusions

__all__ = ["Neighbors", "compute_neighbors", "exclude_from_table"]

_IDS = "neighbors.ids.json"
_META = "neighbors.json"


def _ids_sha(ids: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(ids)).encode("utf-8")).hexdigest()


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

    def row(self, product_id: str) -> int | None:
        """The table row of ``product_id`` (None when it has none)."""
        return self._row_of.get(product_id)

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

    def save(self, folder: Path, *, shared_ids: bool = False) -> None:
        """Write ``neighbors.npy``, ``neighbor_scores.npy`` and the ids.

        With ``shared_ids`` the ids are those of vectors saved beside the table (the product
        vectors): only their sha256 is written (``neighbors.json``), and ``load`` takes them
        back from the caller and checks them, so a workspace keeps its ids once.
        """
        save_npy_atomic(folder / "neighbors.npy", self.rows.astype(np.int32))
        save_npy_atomic(folder / "neighbor_scores.npy", self.scores.astype(np.float32))
        if shared_ids:
            meta = {"ids": "shared", "count": len(self.ids), "ids_sha256": _ids_sha(self.ids)}
            write_json_atomic(folder / _META, meta)
            (folder / _IDS).unlink(missing_ok=True)
        else:
            write_json_atomic(folder / _IDS, self.ids)
            (folder / _META).unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, ids: Sequence[str] | None = None) -> Neighbors:
        """Load what ``save`` wrote (memory-mapped); ``ids``: those of the shared vectors."""
        try:
            rows = np.load(folder / "neighbors.npy", mmap_mode="r")
            scores = np.load(folder / "neighbor_scores.npy", mmap_mode="r")
            if (folder / _IDS).exists():
                ids = json.loads((folder / _IDS).read_text(encoding="utf-8"))
            else:
                meta = json.loads((folder / _META).read_text(encoding="utf-8"))
                if ids is None or meta.get("ids_sha256") != _ids_sha(ids):
                    raise VectorIndexError(
                        f"the neighbour table in {folder} was computed for other product "
                        "vectors: rebuild the workspace (or reload once the build is done)"
                    )
        except (OSError, ValueError, EOFError) as exc:
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
    progress: Progress | None = None,
    groups: Mapping[str, str] | None = None,
    near_duplicate: float | None = None,
    duplicates: np.ndarray | None = None,
) -> Neighbors:
    """Exact cosine top-``k`` for every product against all others, with the default exclusions.

    Always excludes the product itself; with ``groups`` (id -> group id, ``""`` = none) also the
    other variants of its group, and with ``near_duplicate`` every product whose cosine is above
    it (the same photo under another SKU). Rows short of ``k`` after exclusion are searched
    again 4x deeper (up to every product), so a row has fewer than ``k`` entries only when fewer
    than ``k`` products qualify. Memory is O(block x N), never the N x N matrix.
    ``duplicates``: other vectors of the same rows to judge near-duplicates on (the untransformed
    ones after ``--whiten`` / ``--expand``); default the ranked vectors' own cosines.
    """
    n = len(vectors)
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if n <= 1:
        return Neighbors(list(vectors.ids), rows, scores)
    base = np.asarray(vectors.vectors, dtype=np.float32)
    group_of = np.array([(groups or {}).get(pid, "") for pid in vectors.ids], dtype=object)
    rule = Exclusions(exclude_group=bool(groups), near_duplicate=near_duplicate)
    excluding = bool(groups) or near_duplicate is not None
    fetch = min(n, k + 1 + (k if excluding else 0))

    def fill(query_rows: np.ndarray, depth: int) -> list[int]:
        """Fill ``query_rows`` from their top-``depth``; returns the rows still short of k."""
        short: list[int] = []
        for start in range(0, len(query_rows), block):
            chunk = query_rows[start : start + block]
            d, idx = knn_exact(base[chunk], base, depth, block=block)
            for qi, cand_d, cand_i in zip(chunk, d, idx, strict=True):
                cos = cand_d
                if duplicates is not None and near_duplicate is not None:
                    cos = duplicates[np.maximum(cand_i, 0)] @ duplicates[int(qi)]
                keep = rule.keep_row(int(qi), cand_i, cos, group_of)
                got = _put_row(rows, scores, int(qi), cand_i[keep][:k], cand_d[keep][:k])
                if got < min(k, n - 1) and depth < n:
                    short.append(int(qi))
        return short

    todo = np.arange(n)
    advance = progress_task(progress, "top-K for every product", n)
    short: list[int] = []
    for start in range(0, n, block):
        short += fill(todo[start : start + block], fetch)
        advance(min(block, n - start))
    while short:
        fetch = min(n, fetch * 4)
        short = fill(np.asarray(short), fetch)
    return Neighbors(list(vectors.ids), rows, scores)


def exclude_from_table(
    table: Neighbors,
    k: int,
    *,
    groups: Mapping[str, str] | None = None,
    near_duplicate: float | None = None,
    vectors: np.ndarray | None = None,
) -> Neighbors:
    """The first ``k`` entries of each row of a wider ``table`` that are not variants of the
    same group (``groups``: id -> group id, ``""`` = none) nor near-duplicates.

    A near-duplicate has a cosine above ``near_duplicate`` between the product ``vectors``
    (rows follow ``table.ids``), or, without them, a table score above it. For ``aggregate=max``
    pass the (mean) product vectors: one shared picture gives a max-pair score of 1, yet the
    products are not duplicates. Made for tables computed without a deepening search: a row
    keeps fewer than ``k`` entries when more than ``table.k - k`` of its candidates went.
    """
    n = len(table.ids)
    rule = Exclusions(exclude_group=bool(groups), near_duplicate=near_duplicate)
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    group_of = np.array([(groups or {}).get(pid, "") for pid in table.ids], dtype=object)
    for i in range(n):
        cand_i = np.asarray(table.rows[i])
        cand_d = np.asarray(table.scores[i])
        cos = cand_d
        if near_duplicate is not None and vectors is not None:
            cos = np.asarray(vectors[np.maximum(cand_i, 0)]) @ np.asarray(vectors[i])
        keep = rule.keep_row(i, cand_i, cos, group_of)
        _put_row(rows, scores, i, cand_i[keep][:k], cand_d[keep][:k])
    return Neighbors(list(table.ids), rows, scores)


def _put_row(rows: np.ndarray, scores: np.ndarray, i: int, ids: np.ndarray, d: np.ndarray) -> int:
    """Write one row's kept neighbours (the rest stays -1 / -inf); returns how many."""
    rows[i, : len(ids)] = ids
    scores[i, : len(d)] = d
    return len(ids)
