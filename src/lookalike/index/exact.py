"""The one exact k-nearest-neighbour engine: blocked top-k under a metric, as array functions.

Every score is *higher is closer*, so callers sort one way for all metrics:

- ``ip``: the raw inner product (for L2-normalised rows it is the cosine similarity);
- ``cosine``: the cosine similarity (rows normalised first), in [-1, 1];
- ``euclidean``: minus the L2 distance;
- ``manhattan``: minus the L1 (city-block) distance.

Product vectors in a workspace are L2-normalised, so on them ``ip``, ``cosine`` and
``euclidean`` rank alike (``|a-b|^2 = 2 - 2 cos``) and only their scores differ; manhattan ranks
differently. Work is blocked over the queries and the base, so memory stays bounded: the full
N x N score matrix is never built (the failure that makes peers run out of memory near 60k).
Ties always go to the lower base row, so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lookalike.errors import ConfigError

__all__ = [
    "DEFAULT_BLOCK",
    "METRICS",
    "block_rows",
    "check_metric",
    "iter_knn_exact",
    "knn_exact",
    "pair_scores",
    "topk_rows",
]

METRICS = ("cosine", "euclidean", "manhattan")  # what a user may choose
DEFAULT_BLOCK = 2048
_BASE_BLOCK = 65_536
# Scores, their negated copy and argpartition's int64 indices cost ~16 bytes per (query, base)
# pair: capping a block at 16M pairs keeps a search near 256 MB whatever the catalog size.
MAX_BLOCK_PAIRS = 16_000_000


def check_metric(metric: str) -> str:
    """``metric`` if it is one of ``METRICS``, else ``ConfigError``."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    return metric


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


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


def pair_scores(xq: np.ndarray, xb: np.ndarray, metric: str) -> np.ndarray:
    """The ``(len(xq), len(xb))`` score matrix (higher is closer); for small blocks only."""
    xq = np.asarray(xq, dtype=np.float32)
    xb = np.asarray(xb, dtype=np.float32)
    if metric == "ip":
        return xq @ xb.T
    check_metric(metric)
    if metric == "cosine":
        return _normalise(xq) @ _normalise(xb).T
    if metric == "euclidean":
        # |q|^2 + |b|^2 - 2 q.b in float64: float32 cancellation would shuffle near ties.
        q64, b64 = xq.astype(np.float64), xb.astype(np.float64)
        sq = (q64**2).sum(1)[:, None] + (b64**2).sum(1)[None, :] - 2.0 * (q64 @ b64.T)
        return -np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)
    return -_manhattan(xq, xb)


_MANHATTAN_CHUNK = 1 << 22  # elements of one |q - b| broadcast (16 MB of float32)


def _manhattan(xq: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """L1 distances by query chunks, summed in float64 as scipy's cdist does (no scipy)."""
    out = np.empty((len(xq), len(xb)), dtype=np.float32)
    step = max(1, _MANHATTAN_CHUNK // max(1, xb.size))
    for start in range(0, len(xq), step):
        diff = np.abs(xq[start : start + step, None, :] - xb[None, :, :])
        out[start : start + step] = diff.sum(axis=2, dtype=np.float64)
    return out


def _block_topk(
    q: np.ndarray, xb: np.ndarray, k: int, metric: str, base_block: int, self_start: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of one query block over the base, merged base block by base block."""
    best_d = np.full((len(q), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q), 0), dtype=np.int64)
    rows = np.arange(len(q))
    for bs in range(0, xb.shape[0], base_block):
        scores = pair_scores(q, np.asarray(xb[bs : bs + base_block]), metric)
        if self_start is not None:
            cols = self_start + rows - bs
            inside = (cols >= 0) & (cols < scores.shape[1])
            scores[rows[inside], cols[inside]] = -np.inf
        d, i = topk_rows(scores, k)
        if bs == 0:
            best_d, best_i = d, i
            continue
        # merge with the best so far; candidates stay in row order for the tie rule
        cand_d = np.concatenate([best_d, d], axis=1)
        cand_i = np.concatenate([best_i, i + bs], axis=1)
        order = np.lexsort((cand_i, -cand_d), axis=1)[:, :k]
        best_d = np.take_along_axis(cand_d, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_d, best_i


def iter_knn_exact(
    xq: np.ndarray,
    xb: np.ndarray,
    k: int,
    *,
    metric: str = "ip",
    block: int = DEFAULT_BLOCK,
    base_block: int = _BASE_BLOCK,
    exclude_self: bool = False,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start_row, D, I)`` for blocks of queries: top-``k`` in ``xb`` under ``metric``.

    With ``exclude_self`` the queries are ``xb`` itself and row ``i`` never returns ``i``.
    Missing results (k larger than the base) are ``I = -1``, ``D = -inf``.
    """
    xq = np.atleast_2d(np.asarray(xq, dtype=np.float32))
    n_base = xb.shape[0]
    base_block = max(1, min(base_block, n_base))
    step = block_rows(base_block, block)
    for start in range(0, xq.shape[0], step):
        q = xq[start : start + step]
        out_d = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        out_i = np.full((q.shape[0], k), -1, dtype=np.int64)
        if k > 0 and n_base:
            d, i = _block_topk(q, xb, k, metric, base_block, start if exclude_self else None)
            out_d[:, : d.shape[1]] = d
            out_i[:, : i.shape[1]] = i
            out_i[~np.isfinite(out_d)] = -1
        yield start, out_d, out_i


def knn_exact(
    xq: np.ndarray, xb: np.ndarray, k: int, metric: str = "ip", **blocks: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of each query row in ``xb`` under ``metric``: ``(D, I)``, ``(nq, k)``.

    ``D`` is the score (inner product by default; see the module docstring), sorted descending;
    ties go to the lower row. Missing results (``k`` > ``len(xb)``) are ``I = -1``, ``D = -inf``.
    ``blocks``: ``block``, ``base_block``, ``exclude_self`` as for ``iter_knn_exact``.
    """
    xq = np.atleast_2d(np.asarray(xq, dtype=np.float32))
    d_out = np.full((xq.shape[0], k), -np.inf, dtype=np.float32)
    i_out = np.full((xq.shape[0], k), -1, dtype=np.int64)
    for start, dists, idx in iter_knn_exact(xq, xb, k, metric=metric, **blocks):
        d_out[start : start + len(dists)] = dists
        i_out[start : start + len(idx)] = idx
    return d_out, i_out
