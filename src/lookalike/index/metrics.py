"""Exact top-k under a choice of metric: cosine, euclidean or manhattan, as array functions.

Every function returns a *score* where higher is closer, so callers sort one way for all three:

- ``cosine``: the cosine similarity (inner product of L2-normalised rows), in [-1, 1];
- ``euclidean``: minus the L2 distance;
- ``manhattan``: minus the L1 (city-block) distance.

Product vectors in a workspace are L2-normalised (see ``docs/architecture.md``), so on them
euclidean ranks exactly like cosine (``|a-b|^2 = 2 - 2 cos``) and only its scores differ;
manhattan ranks differently. Work is blocked over the queries and the base, so memory stays
O(block x block) and the N x N matrix is never built.
"""

from __future__ import annotations

import numpy as np

from lookalike.errors import ConfigError
from lookalike.index.exact import topk_rows

__all__ = ["METRICS", "check_metric", "knn_metric", "pair_scores"]

METRICS = ("cosine", "euclidean", "manhattan")
_QUERY_BLOCK = 256
_BASE_BLOCK = 8192


def check_metric(metric: str) -> str:
    """``metric`` if it is one of ``METRICS``, else ``ConfigError``."""
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
    return metric


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


def pair_scores(xq: np.ndarray, xb: np.ndarray, metric: str) -> np.ndarray:
    """The ``(len(xq), len(xb))`` score matrix (higher is closer); for small blocks only."""
    check_metric(metric)
    xq = np.asarray(xq, dtype=np.float32)
    xb = np.asarray(xb, dtype=np.float32)
    if metric == "cosine":
        return _normalise(xq) @ _normalise(xb).T
    if metric == "euclidean":
        # |q|^2 + |b|^2 - 2 q.b in float64: float32 cancellation would shuffle near ties.
        q64, b64 = xq.astype(np.float64), xb.astype(np.float64)
        sq = (q64**2).sum(1)[:, None] + (b64**2).sum(1)[None, :] - 2.0 * (q64 @ b64.T)
        return -np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)
    from scipy.spatial.distance import cdist

    return -cdist(xq, xb, "cityblock").astype(np.float32)


def knn_metric(
    xq: np.ndarray,
    xb: np.ndarray,
    k: int,
    metric: str = "cosine",
    *,
    query_block: int = _QUERY_BLOCK,
    base_block: int = _BASE_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of each query row in ``xb`` under ``metric``: ``(D, I)``, shapes ``(nq, k)``.

    ``D`` is the score (cosine similarity, or minus the distance), sorted descending; ties go to
    the lower row. Missing results (``k`` > ``len(xb)``) are ``I = -1``, ``D = -inf``.
    """
    check_metric(metric)
    xq = np.atleast_2d(np.asarray(xq, dtype=np.float32))
    nq, nb = xq.shape[0], xb.shape[0]
    d_out = np.full((nq, k), -np.inf, dtype=np.float32)
    i_out = np.full((nq, k), -1, dtype=np.int64)
    if k <= 0 or nb == 0:
        return d_out, i_out
    for qs in range(0, nq, query_block):
        q = xq[qs : qs + query_block]
        best_d = np.full((len(q), 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(q), 0), dtype=np.int64)
        for bs in range(0, nb, base_block):
            scores = pair_scores(q, np.asarray(xb[bs : bs + base_block]), metric)
            d, i = topk_rows(scores, k)
            # merge with the best so far; candidates stay in row order for the tie rule
            cand_d = np.concatenate([best_d, d], axis=1)
            cand_i = np.concatenate([best_i, i + bs], axis=1)
            order = np.lexsort((cand_i, -cand_d), axis=1)[:, :k]
            best_d = np.take_along_axis(cand_d, order, axis=1)
            best_i = np.take_along_axis(cand_i, order, axis=1)
        width = best_d.shape[1]
        d_out[qs : qs + len(q), :width] = best_d
        i_out[qs : qs + len(q), :width] = best_i
    return d_out, i_out
