"""What the report shows of one setting: the confusion matrix and which queries to picture."""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.evaluate.scoring import SettingResult
from lookalike.evaluate.truth import GroundTruth

__all__ = ["confusion", "pick_examples"]


def confusion(truth: GroundTruth, result: SettingResult) -> tuple[list[str], np.ndarray]:
    """``(names, counts)``: ``counts[i, j]`` = queries of category ``i`` whose top-1 result is
    of category ``j`` (queries or results without a category are left out)."""
    names = truth.group_names
    q_groups = truth.groups[result.queries]
    top1 = result.results[:, 0] if result.results.shape[1] else np.full(len(q_groups), -1)
    r_groups = np.where(top1 >= 0, truth.groups[np.maximum(top1, 0)], -1)
    ok = (q_groups >= 0) & (r_groups >= 0)
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(matrix, (q_groups[ok], r_groups[ok]), 1)
    return list(names), matrix


def pick_examples(
    truth: GroundTruth, result: SettingResult, *, seed: int, per_section: int
) -> dict[str, Any]:
    """Positions (into ``result.queries``) to show: random queries, queries of the best and
    worst category (by mean precision), and failures (top-1 from another category)."""
    rng = np.random.default_rng(seed + 1)
    n = len(result.queries)
    key = f"Precision@{result.k}"

    def sample(positions: np.ndarray) -> list[int]:
        if len(positions) > per_section:
            positions = np.sort(rng.choice(positions, per_section, replace=False))
        return [int(p) for p in positions]

    groups = truth.groups[result.queries]
    by_group = result.by_group.get(key, {})
    ranked = sorted(by_group, key=lambda g: by_group[g].mean)
    best_name = ranked[-1] if ranked else ""
    worst_name = ranked[0] if ranked else ""
    names = truth.group_names

    def of_group(name: str) -> np.ndarray:
        if not name:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(groups == names.index(name))

    top1 = result.results[:, 0]
    top1_group = np.where(top1 >= 0, truth.groups[np.maximum(top1, 0)], -1)
    failures = np.flatnonzero((groups >= 0) & (top1_group >= 0) & (top1_group != groups))
    if truth.gallery is not None:  # photo queries: any wrong first result (e.g. wrong product)
        first = truth.relevance(result.queries, result.results[:, :1])[:, 0]
        failures = np.flatnonzero((top1 >= 0) & ~first)
    # most confident failures first: the highest top-1 score is the most misleading
    failures = failures[np.argsort(-result.scores[failures, 0], kind="stable")][:per_section]
    return {
        "random": sample(np.arange(n)),
        "best": sample(of_group(best_name)),
        "worst": sample(of_group(worst_name)),
        "best_name": best_name,
        "worst_name": worst_name,
        "failures": [int(p) for p in failures],
    }
