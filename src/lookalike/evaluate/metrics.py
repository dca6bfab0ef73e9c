"""Retrieval metrics as plain array functions (arrays in, one value per query out).

``rel`` is a boolean matrix ``(n_queries, k)``: ``rel[q, j]`` says whether the j-th result of
query ``q`` is relevant. ``n_relevant[q]`` is how many relevant items exist for ``q`` in the
whole catalog (needed by recall, AP and NDCG). A query with no relevant item at all gets NaN for
the metrics that divide by it, so that ``np.nanmean`` leaves it out instead of counting a zero.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "relevance",
    "precision_at_k",
    "recall_at_k",
    "average_precision_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
]


def relevance(query_labels: np.ndarray, result_labels: np.ndarray) -> np.ndarray:
    """``rel[q, j] = result_labels[q, j] == query_labels[q]`` (missing results: label None/-1)."""
    query_labels = np.asarray(query_labels)
    result_labels = np.asarray(result_labels)
    return result_labels == query_labels[:, None]


def _cut(rel: np.ndarray, k: int) -> np.ndarray:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return np.asarray(rel, dtype=bool)[:, :k]


def precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """Share of the first ``k`` results that are relevant (missing results count as wrong)."""
    return _cut(rel, k).sum(axis=1) / float(k)


def recall_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Share of all relevant items found in the first ``k`` results; NaN when none exist."""
    n_relevant = np.asarray(n_relevant, dtype=float)
    found = _cut(rel, k).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_relevant > 0, found / np.maximum(n_relevant, 1), np.nan)


def hit_rate_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """HitRate@k: 1 when at least one of the first ``k`` results is relevant (what instance
    retrieval papers call Recall@k; the report keeps Recall@k for :func:`recall_at_k`); NaN
    when nothing relevant exists."""
    n_relevant = np.asarray(n_relevant, dtype=float)
    hit = _cut(rel, k).any(axis=1).astype(float)
    return np.where(n_relevant > 0, hit, np.nan)


def average_precision_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """AP@k: mean of precision@i over the ranks i of relevant results, divided by
    ``min(k, n_relevant)`` so a perfect list scores 1; NaN when nothing relevant exists."""
    cut = _cut(rel, k).astype(float)
    n_relevant = np.asarray(n_relevant, dtype=float)
    ranks = np.arange(1, cut.shape[1] + 1, dtype=float)
    precision_at_i = np.cumsum(cut, axis=1) / ranks
    total = (precision_at_i * cut).sum(axis=1)
    denom = np.minimum(float(k), n_relevant)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_relevant > 0, total / np.maximum(denom, 1), np.nan)


def ndcg_at_k(rel: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Binary-gain NDCG@k; NaN when nothing relevant exists."""
    cut = _cut(rel, k).astype(float)
    n_relevant = np.asarray(n_relevant, dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=float))
    dcg = (cut * discounts[: cut.shape[1]]).sum(axis=1)
    ideal_counts = np.minimum(n_relevant, k).astype(int)
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_counts]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_relevant > 0, dcg / np.where(ideal > 0, ideal, 1), np.nan)
