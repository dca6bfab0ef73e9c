"""Ranked result lists -> every number of the report for one setting.

:func:`score_results` turns ``(query rows, result rows)`` into per-query metrics, their
bootstrap intervals overall and per category, the Precision@k curve, coverage and
concentration. Metric keys are ``<family>@<k>`` for every family of ``METRICS`` and every cutoff.
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
    "METRICS",
    "canonical_metric",
    "default_cutoffs",
    "metric_names",
    "drop_self",
    "score_results",
    "evaluate_vectors",
    "suggest_threshold",
]


# The metric families, each measured at every cutoff k, with its one-line definition.
METRICS = {
    "Precision": "share of the first k results that are relevant",
    "Recall": "share of all the catalog's relevant products found in the first k",
    "HitRate": "share of queries with at least one relevant result in the first k",
    "mAP": "mean over queries of the precision at the ranks of the relevant results among "
    "the first k, divided by min(k, relevant products): relevant results near the top count",
    "NDCG": "discounted gain of the first k results over the best possible order "
    "(1 = every relevant product ranked first)",
}
# names of older reports and of training.json: P@k, R@k (recall), Hit@k, Recall@1 (top-1 hit)
_LEGACY = {"P": "Precision", "R": "Recall", "Hit": "HitRate"}


def canonical_metric(name: str) -> str:
    """Today's name of a metric key read from an older report JSON (one whose settings have
    no ``cutoffs``) or from training.json, where the names were ambiguous:
    ``P@10`` -> ``Precision@10``, ``R@10`` -> ``Recall@10``, ``Hit@5`` -> ``HitRate@5``,
    ``Recall@1`` (the top-1 hit rate, as those logs meant it) -> ``HitRate@1``."""
    if name == "Recall@1":
        return "HitRate@1"
    family, at, k = name.partition("@")
    return f"{_LEGACY.get(family, family)}{at}{k}"


def default_cutoffs(k: int) -> tuple[int, ...]:
    """The cutoffs measured for a list of ``k``: 1, 5 (a short strip) and ``k``."""
    return tuple(sorted({c for c in (1, 5, k) if c <= k}))


def metric_names(cutoffs: int | tuple[int, ...]) -> list[str]:
    """The metric keys of a result, in table order: every family at every cutoff
    (``Precision@5``, ``Recall@5``, ``HitRate@5``, ``mAP@5``, ``NDCG@5``, ...); an int ``k``
    means :func:`default_cutoffs`."""
    ks = default_cutoffs(cutoffs) if isinstance(cutoffs, int) else cutoffs
    return [f"{family}@{k}" for k in ks for family in METRICS]


@dataclass
class SettingResult:
    """Every number for one evaluated setting (``per_query`` arrays align with ``queries``)."""

    label: str
    k: int  # the list length (the largest cutoff)
    queries: np.ndarray
    results: np.ndarray  # (nq, k) catalog rows, -1 = none
    scores: np.ndarray  # (nq, k) similarity scores (higher is closer)
    per_query: dict[str, np.ndarray]
    overall: dict[str, Estimate]
    by_group: dict[str, dict[str, Estimate]]
    precision_curve: list[float]  # mean Precision@i for i = 1..k
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
    cutoffs: tuple[int, ...] = ()  # the k of every metric key (default_cutoffs(k) when empty)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (per-query arrays left out; NaN as null)."""
        return {
            "label": self.label,
            "setting": self.setting,
            "k": self.k,
            "cutoffs": list(self.cutoffs or default_cutoffs(self.k)),
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
    cutoffs: tuple[int, ...] | None = None,
) -> SettingResult:
    """Metrics of ranked ``results`` (rows, self already dropped) for ``queries``, at every
    cutoff (default: :func:`default_cutoffs` of ``k``; none above ``k``).

    ``all_results``: the top-k lists of every product, for coverage and concentration
    (default: the queries' lists).
    """
    ks = tuple(sorted(set(cutoffs))) if cutoffs else default_cutoffs(k)
    if ks[-1] > k or ks[0] < 1:
        raise ValueError(f"cutoffs {ks} must be between 1 and the list length {k}")
    rel = truth.relevance(queries, results[:, :k])
    n_rel = truth.n_relevant(queries)
    per_query: dict[str, np.ndarray] = {}
    for c in ks:
        per_query[f"Precision@{c}"] = precision_at_k(rel, c)
        per_query[f"Recall@{c}"] = recall_at_k(rel, n_rel, c)
        per_query[f"HitRate@{c}"] = hit_rate_at_k(rel, n_rel, c)
        per_query[f"mAP@{c}"] = average_precision_at_k(rel, n_rel, c)
        per_query[f"NDCG@{c}"] = ndcg_at_k(rel, n_rel, c)
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
        cutoffs=ks,
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
    cutoffs: tuple[int, ...] | None = None,
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
        cutoffs=cutoffs,
    )
