"""Summaries of per-query metrics: bootstrap confidence intervals, per-group means, and what
the recommendations look like as a whole (catalog coverage, popularity concentration)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Estimate",
    "bootstrap_ci",
    "group_estimates",
    "catalog_coverage",
    "recommendation_counts",
    "gini",
    "top_share",
]

DEFAULT_BOOTSTRAP = 1000
# Bootstrap resamples are drawn in chunks so memory stays ~chunk x n indices.
_CHUNK = 200


@dataclass(frozen=True)
class Estimate:
    """A mean over queries with its percentile bootstrap interval; ``n`` queries counted."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready (NaN becomes None)."""
        return {
            key: (None if isinstance(v, float) and math.isnan(v) else v)
            for key, v in (
                ("mean", self.mean),
                ("low", self.low),
                ("high", self.high),
                ("n", self.n),
            )
        }


def bootstrap_ci(
    values: np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Mean of ``values`` (NaN left out: queries with no relevant item) and its percentile
    bootstrap interval: resample the queries with replacement ``n_boot`` times (seeded),
    take the ``(1-confidence)/2`` and ``(1+confidence)/2`` quantiles of the resampled means.

    An empty input gives NaN everywhere; one value gives a zero-width interval.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        stop = min(start + _CHUNK, n_boot)
        means[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Estimate(float(x.mean()), float(low), float(high), n)


def group_estimates(
    values: np.ndarray,
    groups: np.ndarray,
    names: list[str],
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Estimate]:
    """:func:`bootstrap_ci` per group (``groups[i]`` indexes ``names``; -1 is left out)."""
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    out: dict[str, Estimate] = {}
    for code, name in enumerate(names):
        mask = groups == code
        if mask.any():
            out[name] = bootstrap_ci(values[mask], n_boot=n_boot, seed=seed + code)
    return out


def recommendation_counts(results: np.ndarray, n_items: int) -> np.ndarray:
    """How many times each of ``n_items`` rows appears in the result lists (-1 ignored)."""
    flat = np.asarray(results).ravel()
    return np.bincount(flat[flat >= 0], minlength=n_items)[:n_items]


def catalog_coverage(results: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one result list."""
    if n_items <= 0:
        return math.nan
    return float((recommendation_counts(results, n_items) > 0).sum() / n_items)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of how often each item is recommended: 0 when every item is shown
    equally often, (n-1)/n when one item takes every slot. Items never shown count as 0."""
    x = np.sort(np.asarray(counts, dtype=float))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return math.nan
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * x).sum()) / (n * total) - (n + 1) / n)


def top_share(counts: np.ndarray, fraction: float = 0.01) -> float:
    """Share of all result slots taken by the most recommended ``fraction`` of items
    (at least one item)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    x = np.sort(np.asarray(counts, dtype=float))[::-1]
    total = x.sum()
    if len(x) == 0 or total == 0:
        return math.nan
    top = max(1, math.ceil(fraction * len(x)))
    return float(x[:top].sum() / total)
