"""Alpha query expansion and database-side augmentation (Radenovic et al., label-free).

Both replace a vector by a similarity-weighted sum of itself and its nearest neighbours:
``v' = L2(sum_i w_i x_i)``, ``w_i = max(s_i, 0)^alpha`` over the top ``k`` (the vector itself
first, weight 1). Database-side augmentation (DBA) does this to every catalog vector once, when
the top-K table is built; alpha query expansion (alpha-QE) does it to a query against the
(augmented) catalog before the final search. Deterministic; blocked top-k, never N x N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.errors import ConfigError
from lookalike.index.exact import knn_exact

__all__ = [
    "expand",
    "weighted_expansion",
    "database_augmentation",
    "alpha_query_expansion",
    "DEFAULT_EXPANSION",
    "Expansion",
]

DEFAULT_EXPANSION = (3, 3.0)  # (k, alpha)
_BLOCK = 2048


@dataclass(frozen=True)
class Expansion:
    """The build option ``--expand dba[:K[:ALPHA]]``: DBA of the catalog when the top-K table
    is built, alpha-QE of image queries at serve time, both with these ``k`` and ``alpha``."""

    k: int = DEFAULT_EXPANSION[0]
    alpha: float = DEFAULT_EXPANSION[1]

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 100:
            raise ConfigError(f"expansion k must be between 1 and 100, got {self.k}")
        if not 0 <= self.alpha <= 100:
            raise ConfigError(f"expansion alpha must be between 0 and 100, got {self.alpha}")

    @classmethod
    def parse(cls, text: str | None) -> Expansion | None:
        """``None`` / ``"none"`` -> None; ``"dba"``, ``"dba:5"``, ``"dba:5:2"`` -> an option."""
        raw = (text or "none").strip().lower()
        if raw == "none":
            return None
        name, *numbers = raw.split(":")
        if name != "dba" or len(numbers) > 2:
            raise ConfigError(f"expand must be none or dba[:K[:ALPHA]], got {text!r}")
        try:
            k = int(numbers[0]) if numbers else DEFAULT_EXPANSION[0]
            alpha = float(numbers[1]) if len(numbers) > 1 else DEFAULT_EXPANSION[1]
        except ValueError:
            raise ConfigError(f"expand must be none or dba[:K[:ALPHA]], got {text!r}") from None
        return cls(k, alpha)

    def record(self) -> dict[str, Any]:
        """What the manifest keeps (and the service reads back with :meth:`from_record`)."""
        return {"kind": "dba", "k": self.k, "alpha": self.alpha}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Expansion | None:
        """The option a manifest recorded, or None."""
        return None if not record else cls(int(record["k"]), float(record["alpha"]))


def weighted_expansion(
    xq: np.ndarray, neighbours: np.ndarray, alpha: float, *, include_query: bool = True
) -> np.ndarray:
    """``(q, d)`` queries and their ``(q, k, d)`` neighbour vectors -> ``L2(q + sum_i
    max(q . x_i, 0)^alpha x_i)`` (without the ``q`` term unless ``include_query``)."""
    xq = np.asarray(xq, dtype=np.float32)
    neighbours = np.asarray(neighbours, dtype=np.float32)
    scores = np.einsum("qd,qkd->qk", xq, neighbours)
    weights = (np.maximum(scores, 0.0) ** alpha).astype(np.float32)
    total = np.einsum("qk,qkd->qd", weights, neighbours)
    if include_query:
        total += xq
    return l2_normalize(total)


def expand(
    xq: np.ndarray, xb: np.ndarray, k: int, alpha: float, *, include_query: bool = True
) -> np.ndarray:
    """Each row of ``xq`` -> the weighted sum of its top-``k`` rows of ``xb`` (plus itself
    with weight 1 when ``include_query``), L2-normalised."""
    xq = np.asarray(xq, dtype=np.float32)
    xb = np.asarray(xb, dtype=np.float32)
    if k < 1 or not len(xb) or not len(xq):
        return l2_normalize(xq)
    out = np.empty_like(xq)
    for start in range(0, len(xq), _BLOCK):  # (block, k, d) neighbour arrays, never (n, k, d)
        part = xq[start : start + _BLOCK]
        _, rows = knn_exact(part, xb, min(k, len(xb)))
        neighbours = np.where((rows >= 0)[..., None], xb[np.maximum(rows, 0)], 0.0)
        out[start : start + len(part)] = weighted_expansion(
            part, neighbours, alpha, include_query=include_query
        )
    return out


def database_augmentation(xb: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Every catalog vector replaced by the weighted sum of its top-``k`` (itself included:
    it is its own nearest neighbour, so ``k`` counts it)."""
    return expand(xb, xb, k, alpha, include_query=False)


def alpha_query_expansion(xq: np.ndarray, xb: np.ndarray, k: int, alpha: float) -> np.ndarray:
    """Queries expanded with their top-``k`` catalog vectors (the query kept, weight 1)."""
    return expand(xq, xb, k, alpha, include_query=True)
