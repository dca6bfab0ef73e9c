"""Ranked result lists -> every number of the report for one setting.

:func:`score_results` turns ``(query rows, result rows)`` into per-query metrics, their
bootstrap intervals overall and per category, the P@k curve, coverage and concentration.
:func:`evaluate_vectors` is the one-call entry for a plain vector matrix (exact cosine search),
e.g. for a trained head: ``evaluate_vectors(x, truth, k=10)``.

Ranking and ties: results come best first as the search returned them; equal scores are
ordered by the lower catalog row (the rule of :func:`~lookalike.index.exact.topk_rows`), and
each position counts as ranked, so a tie is never split or averaged. The query itself is
dropped from its own list. Queries with no relevant item in the catalog are not evaluated
(they are left out of the sample, see :func:`~lookalike.evaluate.truth.sample_queries`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.evaluate.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from lookalike.evaluate.stats import (
    DEFAULT_BOOTSTRAP,
    Estimate,
    bootstrap_ci,
    catalog_coverage,
    gini,
    group_estimates,
    recommendation_counts,
    top_share,
)
from lookalike.evaluate.truth import GroundTruth, sample_queries

__all__ = [
    "SettingResult",
    "metric_names",
    "drop_self",
    "score_results",
    "evaluate_vectors",
    "suggest_threshold",
]


def metric_names(k: int) -> list[str]:
    """The metric keys of a result, in table order (``Hit@5`` too when ``k`` > 5: the top-5
    hit rate is what a shopper sees in a short strip)."""
    extra = ["Hit@5"] if k > 5 else []
    return [f"P@{k}", f"R@{k}", f"mAP@{k}", f"NDCG@{k}", "Recall@1", *extra, f"Hit@{k}"]


@dataclass
class SettingResult:
    """Every number for one evaluated setting (``per_query`` arrays align with ``queries``)."""

    label: str
    k: int
    queries: np.ndarray
    results: np.ndarray  # (nq, k) catalog rows, -1 = none
    scores: np.ndarray  # (nq, k) similarity scores (higher is closer)
    per_query: dict[str, np.ndarray]
    overall: dict[str, Estimate]
    by_group: dict[str, dict[str, Estimate]]
    precision_curve: list[float]  # mean P@i for i = 1..k
    coverage: float
    gini: float
    top1_share: float
    coverage_over: int  # how many result lists coverage was measured on
    seconds: dict[str, float] = field(default_factory=dict)
    setting: dict[str, Any] = field(default_factory=dict)
    threshold: dict[str, Any] | None = None
    # sampled pair scores (relevant, other) behind the threshold, for the histogram plot
    pair_scores: tuple[np.ndarray, np.ndarray] | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (per-query arrays left out; NaN as null)."""
        return {
            "label": self.label,
            "setting": self.setting,
            "k": self.k,
            "queries": len(self.queries),
            "overall": {m: e.to_dict() for m, e in self.overall.items()},
            "by_category": {
                m: {g: e.to_dict() for g, e in groups.items()}
                for m, groups in self.by_group.items()
            },
            "precision_curve": [_finite(v) for v in self.precision_curve],
            "coverage": _finite(self.coverage),
            "coverage_over_lists": self.coverage_over,
            "gini": _finite(self.gini),
            "top1pct_share": _finite(self.top1_share),
            "seconds": {key: round(v, 3) for key, v in self.seconds.items()},
            "threshold": self.threshold,
            "note": self.note,
        }


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 6)


def drop_self(
    queries: np.ndarray, rows: np.ndarray, scores: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each query's own row from its result list (searched with ``k + 1``), keep ``k``."""
    queries = np.asarray(queries)
    keep = rows != queries[:, None]
    # stable sort puts the kept entries first, in their original (ranked) order
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    out_rows = np.take_along_axis(np.where(keep, rows, -1), order, axis=1)
    out_scores = np.take_along_axis(np.where(keep, scores, -np.inf), order, axis=1)
    if out_rows.shape[1] < k:
        pad = k - out_rows.shape[1]
        out_rows = np.pad(out_rows, ((0, 0), (0, pad)), constant_values=-1)
        out_scores = np.pad(out_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return out_rows.astype(np.int64), out_scores.astype(np.float32)


def score_results(
    truth: GroundTruth,
    queries: np.ndarray,
    results: np.ndarray,
    scores: np.ndarray,
    *,
    k: int,
    label: str = "",
    all_results: np.ndarray | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> SettingResult:
    """Metrics of ranked ``results`` (rows, self already dropped) for ``queries``.

    ``all_results``: the top-k lists of every product, for coverage and concentration
    (default: the queries' lists).
    """
    rel = truth.relevance(queries, results[:, :k])
    n_rel = truth.n_relevant(queries)
    per_query = dict(
        zip(
            metric_names(k),
            (
                precision_at_k(rel, k),
                recall_at_k(rel, n_rel, k),
                average_precision_at_k(rel, n_rel, k),
                ndcg_at_k(rel, n_rel, k),
                hit_rate_at_k(rel, n_rel, 1),
                *([hit_rate_at_k(rel, n_rel, 5)] if k > 5 else []),
                hit_rate_at_k(rel, n_rel, k),
            ),
            strict=True,
        )
    )
    groups = truth.groups[queries]
    overall = {m: bootstrap_ci(v, n_boot=n_boot, seed=seed) for m, v in per_query.items()}
    by_group = {
        m: group_estimates(v, groups, truth.group_names, n_boot=n_boot, seed=seed)
        for m, v in per_query.items()
    }
    curve = [
        float(precision_at_k(rel, i).mean()) if len(rel) else math.nan for i in range(1, k + 1)
    ]
    lists = results[:, :k] if all_results is None else all_results[:, :k]
    counts = recommendation_counts(lists, truth.searchable)
    return SettingResult(
        label=label,
        k=k,
        queries=np.asarray(queries),
        results=results[:, :k],
        scores=scores[:, :k],
        per_query=per_query,
        overall=overall,
        by_group=by_group,
        precision_curve=curve,
        coverage=catalog_coverage(lists, truth.searchable),
        gini=gini(counts),
        top1_share=top_share(counts, 0.01),
        coverage_over=len(lists),
    )


def suggest_threshold(
    rel_scores: np.ndarray, irr_scores: np.ndarray, irr_weight: float
) -> dict[str, Any]:
    """The score above which a pair is called "relevant", from sampled pair scores.

    ``irr_weight``: how many real irrelevant pairs each sampled one stands for (importance
    weight of the uniform sample). Returns the threshold maximising F1 (``f1``), and the lowest
    threshold where precision reaches 0.5 (``precision_0.5``, None if never).
    """
    rel = np.sort(np.asarray(rel_scores, dtype=float))
    irr = np.sort(np.asarray(irr_scores, dtype=float))
    if not len(rel) or not len(irr):
        return {"f1": None, "precision_0.5": None}
    candidates = np.unique(np.concatenate([rel, irr]))
    tp = len(rel) - np.searchsorted(rel, candidates, side="left")
    fp = (len(irr) - np.searchsorted(irr, candidates, side="left")) * irr_weight
    precision = tp / np.maximum(tp + fp, 1e-12)
    recall = tp / len(rel)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best = int(np.argmax(f1))
    reach = np.flatnonzero(precision >= 0.5)
    return {
        "f1": float(candidates[best]),
        "f1_value": float(f1[best]),
        "f1_precision": float(precision[best]),
        "f1_recall": float(recall[best]),
        "precision_0.5": float(candidates[reach[0]]) if len(reach) else None,
    }


def evaluate_vectors(
    vectors: np.ndarray,
    truth: GroundTruth,
    *,
    k: int = 10,
    queries: int | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOTSTRAP,
    label: str = "vectors",
) -> SettingResult:
    """Evaluate a ``(N, d)`` matrix whose rows are ``truth.ids``, by exact cosine top-``k``
    (rows are L2-normalised here). ``queries``: a seeded sample size (None: every eligible
    row). The hook for other packages (a trained head's output, a new model)."""
    from lookalike.index.exact import knn_exact

    x = np.asarray(vectors, dtype=np.float32)
    if x.shape[0] != len(truth):
        raise ValueError(f"{x.shape[0]} vectors for {len(truth)} ids")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(np.float32).tiny)
    q = sample_queries(truth, queries, seed)
    all_d, all_i = knn_exact(x, x, k, exclude_self=True)
    return score_results(
        truth,
        q,
        all_i[q],
        all_d[q],
        k=k,
        label=label,
        all_results=all_i,
        n_boot=n_boot,
        seed=seed,
    )
