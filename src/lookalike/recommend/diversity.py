"""Maximal marginal relevance (MMR): re-rank a candidate pool for variety.

Each step picks the candidate maximising ``lam * relevance - (1 - lam) * max_sim_to_picked``
(Carbonell & Goldstein, 1998). ``lam = 1`` is the plain ranking; lower values push down
candidates that look like ones already picked.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mmr"]


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> list[int]:
    """Indices into the pool, in MMR order, at most ``k``.

    ``relevance`` (m,) scores, ``vectors`` (m, d) L2-normalised (similarity = inner product).
    Ties go to the earlier pool position, so ``lam = 1`` returns ``argsort(-relevance)`` stable.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    m = len(relevance)
    k = min(k, m)
    if k <= 0:
        return []
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    max_sim = np.full(m, -np.inf)
    picked: list[int] = []
    free = np.ones(m, dtype=bool)
    for _ in range(k):
        redundancy = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = lam * relevance - (1.0 - lam) * redundancy
        gain[~free] = -np.inf
        best = int(np.argmax(gain))  # first maximum: stable ties
        picked.append(best)
        free[best] = False
        max_sim = np.maximum(max_sim, sims[best])
    return picked
