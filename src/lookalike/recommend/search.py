"""Ranking a catalog for one query, and walking that ranking deeper until enough pass filters.

A *ranker* maps a depth to the best ``depth`` hits ``(id, score, components | None)``, best
first. ``collect`` asks for 4x more each round (up to every product) until ``need`` hits are
accepted, so a selective filter never returns fewer results than exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from lookalike.index.base import VectorIndex
from lookalike.index.metrics import knn_metric
from lookalike.index.vectors import VectorSet

__all__ = ["Hit", "Ranker", "collect", "hybrid_ranker", "image_ranker", "metric_ranker"]

Hit = tuple[str, float, "dict[str, float] | None"]
Ranker = Callable[[int], list[Hit]]
T = TypeVar("T")
GROWTH = 4


def image_ranker(index: VectorIndex, vector: np.ndarray, weight: float) -> Ranker:
    """Cosine (inner product) ranking through the index."""

    def rank(depth: int) -> list[Hit]:
        scores, ids = index.search(vector[None, :], depth)
        return [
            (pid, weight * float(s), None) for pid, s in zip(ids[0], scores[0], strict=True) if pid
        ]

    return rank


def metric_ranker(vectors: VectorSet, vector: np.ndarray, metric: str, weight: float) -> Ranker:
    """Exact ranking under ``metric`` (score = minus the distance for euclidean/manhattan)."""

    def rank(depth: int) -> list[Hit]:
        scores, rows = knn_metric(vector[None, :], np.asarray(vectors.vectors), depth, metric)
        ids = vectors.ids
        return [
            (ids[r], weight * float(s), None)
            for r, s in zip(rows[0], scores[0], strict=True)
            if r >= 0
        ]

    return rank


def hybrid_ranker(ids: list[str], total: np.ndarray, comps: dict[str, np.ndarray]) -> Ranker:
    """Ranking by precomputed full-catalog scores, each hit carrying its components."""
    order = np.lexsort((np.arange(len(total)), -total))

    def rank(depth: int) -> list[Hit]:
        return [
            (ids[r], float(total[r]), {n: float(c[r]) for n, c in comps.items()})
            for r in order[:depth]
        ]

    return rank


def collect(
    ranked: Ranker,
    need: int,
    *,
    depth: int,
    total: int,
    accept: Callable[[list[Hit]], list[T]],
) -> list[T]:
    """Accepted hits (at least ``need`` when that many exist), fetching ``depth``, then
    ``GROWTH`` times deeper each round, up to ``total``.

    ``accept`` gets each round's new hits (by id, not offset: a deeper ANN search may reorder
    the head of the list) and returns those that pass, in order.
    """
    depth = max(1, min(total, depth))
    kept: list[T] = []
    seen: set[str] = set()
    while True:
        hits = ranked(depth)
        fresh = [h for h in hits if h[0] not in seen]
        seen.update(h[0] for h in fresh)
        kept.extend(accept(fresh))
        if len(kept) >= need or depth >= total or len(hits) < depth:
            return kept
        depth = min(total, depth * GROWTH)
