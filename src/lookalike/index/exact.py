"""Exact k-nearest-neighbour search by blocked matrix products.

Memory stays O(block x N): the full N x N similarity matrix is never built (the failure that
makes peers run out of memory near 60k images).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["knn_exact", "iter_knn_exact", "topk_rows", "block_rows", "DEFAULT_BLOCK"]

DEFAULT_BLOCK = 2048
# Scores, their negated copy and argpartition's int64 indices cost ~16 bytes per (query, base)
# pair: capping a block at 16M pairs keeps a search near 256 MB whatever the catalog size.
MAX_BLOCK_PAIRS = 16_000_000


def block_rows(n_base: int, block: int = DEFAULT_BLOCK) -> int:
    """Query rows per block: ``block``, fewer for a large base so memory stays bounded."""
    return max(1, min(block, MAX_BLOCK_PAIRS // max(n_base, 1)))


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries of each row, sorted descending: ``(values, columns)``.

    Ties are broken by the lower column index, so results are deterministic.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0:
        return (np.zeros((n_rows, 0), np.float32), np.zeros((n_rows, 0), np.int64))
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    # lexsort: primary key descending score, secondary ascending column
    order = np.lexsort((part, -part_scores), axis=1)
    cols = np.take_along_axis(part, order, axis=1)
    return np.take_along_axis(part_scores, order, axis=1).astype(np.float32), cols.astype(np.int64)


def iter_knn_exact(
    xq: np.ndarray,
    xb: np.ndarray,
    k: int,
    *,
    block: int = DEFAULT_BLOCK,
    exclude_self: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start_row, D, I)`` for blocks of queries: inner-product top-``k`` in ``xb``.

    With ``exclude_self`` the queries are ``xb`` itself and row ``i`` never returns ``i``.
    Missing results (k larger than the base) are ``I = -1``, ``D = -inf``.
    """
    xb = np.asarray(xb, dtype=np.float32)
    n_base = xb.shape[0]
    extra = 1 if exclude_self else 0
    block = block_rows(n_base, block)
    for start in range(0, xq.shape[0], block):
        q = np.asarray(xq[start : start + block], dtype=np.float32)
        scores = q @ xb.T
        if exclude_self:
            rows = np.arange(q.shape[0])
            scores[rows, start + rows] = -np.inf
        values, cols = topk_rows(scores, min(k + extra, n_base))
        if exclude_self:
            values, cols = values[:, :k], cols[:, :k]
        out_d = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        out_i = np.full((q.shape[0], k), -1, dtype=np.int64)
        width = values.shape[1]
        out_d[:, :width] = values
        out_i[:, :width] = cols
        out_i[~np.isfinite(out_d)] = -1
        yield start, out_d, out_i


def knn_exact(
    xq: np.ndarray,
    xb: np.ndarray,
    k: int,
    *,
    block: int = DEFAULT_BLOCK,
    exclude_self: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Inner-product top-``k`` of each query in ``xb``: ``(D, I)``, shapes ``(nq, k)``.

    For L2-normalised vectors the inner product is the cosine similarity.
    """
    nq = xq.shape[0]
    d_out = np.full((nq, k), -np.inf, dtype=np.float32)
    i_out = np.full((nq, k), -1, dtype=np.int64)
    for start, dists, idx in iter_knn_exact(xq, xb, k, block=block, exclude_self=exclude_self):
        d_out[start : start + len(dists)] = dists
        i_out[start : start + len(idx)] = idx
    return d_out, i_out
