"""Leave-one-out retrieval quality of a set of vectors: P@k and mAP@k by category, Recall@1 by
product identity. Every row is a query against all the other rows of the same set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.evaluate.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    precision_at_k,
    relevance,
)
from lookalike.index.exact import knn_exact

if TYPE_CHECKING:
    from lookalike.train.data import TrainData

__all__ = ["before_after", "retrieval_metrics"]


def _counts(labels: np.ndarray) -> np.ndarray:
    """For each row, how many *other* rows share its label."""
    _, inverse, counts = np.unique(labels.astype(str), return_inverse=True, return_counts=True)
    return counts[inverse] - 1


def retrieval_metrics(
    vectors: np.ndarray, category: np.ndarray, product: np.ndarray, *, k: int = 10
) -> dict[str, Any]:
    """``{"n", "k", "P@k", "mAP@k", "Recall@1"}`` (NaN-free: None where not measurable).

    Category metrics use rows with a non-empty category as queries (relevant: same category);
    Recall@1 uses rows whose product has another image in the set (relevant: same product).
    ``k`` shrinks to ``n - 1`` on tiny sets; the key names keep the requested k.
    """
    n = len(vectors)
    out: dict[str, Any] = {"n": n, "k": min(k, max(n - 1, 0))}
    out |= {f"P@{k}": None, f"mAP@{k}": None, "Recall@1": None}
    if n < 2:
        return out
    kk = out["k"]
    _, idx = knn_exact(
        np.asarray(vectors, np.float32), np.asarray(vectors, np.float32), kk, exclude_self=True
    )
    category = np.asarray(category, dtype=object)
    product = np.asarray(product, dtype=object)
    labelled = np.array([bool(c) for c in category])
    if labelled.sum() >= 2:
        cats = category.copy()
        cats[~labelled] = None
        result_cats = cats[np.maximum(idx, 0)]  # fancy indexing: a copy
        result_cats[idx < 0] = None
        rel = relevance(cats, result_cats) & labelled[:, None]
        n_rel = _counts(np.where(labelled, category, "\0unlabelled"))
        q = labelled & (n_rel > 0)
        if q.any():
            out[f"P@{k}"] = float(np.mean(precision_at_k(rel[q], kk)))
            out[f"mAP@{k}"] = float(np.nanmean(average_precision_at_k(rel[q], n_rel[q], kk)))
    n_same = _counts(product)
    if (n_same > 0).any():
        rel1 = relevance(product, product[np.maximum(idx[:, :1], 0)]) & (idx[:, :1] >= 0)
        out["Recall@1"] = float(np.nanmean(hit_rate_at_k(rel1, n_same, 1)))
    return out


def before_after(data: TrainData, after: np.ndarray, *, k: int = 10) -> dict[str, Any]:
    """Leave-one-out metrics of ``data`` with its backbone vectors (before) and ``after``."""
    return {
        "before": retrieval_metrics(data.vectors, data.category, data.product, k=k),
        "after": retrieval_metrics(after, data.category, data.product, k=k),
    }
