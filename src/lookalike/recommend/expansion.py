"""Alpha query expansion and database-side augmentation (Radenovic et al., label-free).

Both replace a vector by a similarity-weighted sum of itself and its nearest neighbours:
``v' = L2(sum_i w_i x_i)``, ``w_i = max(s_i, 0)^alpha`` over the top ``k`` (the vector itself
first, weight 1). Database-side augmentation (DBA) does this to every catalog vector once, when
the top-K table is built; alpha query expansion (alpha-QE) does it to a query against the
(augmented) catalog before the final search. Deterministic; blocked top-k, never N x N.
"""

from __future__ import annotations

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.index.exact import knn_exact

__all__ = ["expand", "database_augmentation", "alpha_query_expansion", "DEFAULT_EXPANSION"]

DEFAULT_EXPANSION = (3, 3.0)  # (k, alpha)


def expand(
    xq: np.ndarray, xb: np.ndarray, k: int, alpha: float, *, include_query: bool = True
) -> np.ndarray:
    """Each row of ``xq`` -> the weighted sum of its top-``k`` rows of ``xb`` (plus itself
    with weight 1 when ``include_query``), L2-normalised."""
    xq = np.asarray(xq, dtype=np.float32)
    xb = np.asarray(xb, dtype=np.float32)
    if k < 1 or not len(xb) or not len(xq):
        return l2_normalize(xq)
    scores, rows = knn_exact(xq, xb, min(k, len(xb)))
    weights = np.where(rows >= 0, np.maximum(scores, 0.0) ** alpha, 0.0).astype(np.float32)
    total = np.einsum("qk,qkd->qd", weights, xb[np.maximum(rows, 0)])
    if include_query:
        total += xq
    return l2_normalize(total)


def database_augmentation(xb: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Every catalog vector replaced by the weighted sum of its top-``k`` (itself included:
    it is its own nearest neighbour, so ``k`` counts it)."""
    return expand(xb, xb, k, alpha, include_query=False)


def alpha_query_expansion(xq: np.ndarray, xb: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Queries expanded with their top-``k`` catalog vectors (the query kept, weight 1)."""
    return expand(xq, xb, k, alpha, include_query=True)
