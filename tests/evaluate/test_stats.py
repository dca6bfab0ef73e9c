"""Bootstrap intervals on a known distribution; coverage and concentration by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lookalike.evaluate.stats import (
    bootstrap_ci,
    catalog_coverage,
    gini,
    group_estimates,
    recommendation_counts,
    top_share,
)


def test_bootstrap_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    # Bernoulli(0.3), n = 400: the 95% interval should contain 0.3 in ~95% of repetitions,
    # and its width should match the normal approximation 2 * 1.96 * sqrt(p(1-p)/n).
    p, n, reps = 0.3, 400, 300
    rng = np.random.default_rng(12345)
    hits, widths = 0, []
    for rep in range(reps):
        sample = (rng.random(n) < p).astype(float)
        est = bootstrap_ci(sample, n_boot=400, seed=rep)
        hits += est.low <= p <= est.high
        widths.append(est.high - est.low)
    # binomial sd of the hit rate over 300 reps is ~1.3%; allow about 3 sd
    assert 0.91 <= hits / reps <= 0.99
    normal = 2 * 1.96 * math.sqrt(p * (1 - p) / n)
    assert np.mean(widths) == pytest.approx(normal, rel=0.06)


def test_bootstrap_is_seeded_ignores_nan_and_handles_edges() -> None:
    x = np.array([1.0, 0.0, np.nan, 1.0, 1.0])
    a, b = bootstrap_ci(x, seed=7), bootstrap_ci(x, seed=7)
    assert a == b and a.n == 4 and a.mean == 0.75
    assert 0 <= a.low <= a.mean <= a.high <= 1
    one = bootstrap_ci(np.array([0.4]))
    assert (one.mean, one.low, one.high, one.n) == (0.4, 0.4, 0.4, 1)
    empty = bootstrap_ci(np.array([np.nan]))
    assert empty.n == 0 and math.isnan(empty.mean)
    assert empty.to_dict() == {"mean": None, "low": None, "high": None, "n": 0}
    with pytest.raises(ValueError):
        bootstrap_ci(x, confidence=1.0)


def test_group_estimates_split_by_code_and_skip_unlabeled() -> None:
    values = np.array([1.0, 0.0, 0.5, 0.5, 1.0])
    groups = np.array([0, 0, 1, 1, -1])
    est = group_estimates(values, groups, ["a", "b", "c"], n_boot=50)
    assert set(est) == {"a", "b"}  # "c" has no query, -1 is nobody's
    assert est["a"].mean == 0.5 and est["b"].mean == 0.5 and est["b"].low == est["b"].high


def test_coverage_and_counts_by_hand() -> None:
    results = np.array([[1, 2], [1, -1], [0, 1]])
    np.testing.assert_array_equal(recommendation_counts(results, 5), [1, 3, 1, 0, 0])
    assert catalog_coverage(results, 5) == pytest.approx(3 / 5)


def test_gini_by_hand() -> None:
    assert gini(np.array([2, 2, 2, 2])) == pytest.approx(0.0)
    # one of four items gets everything: (n-1)/n
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)
    # [1, 3]: sorted x = 1, 3 -> 2*(1*1 + 2*3)/(2*4) - 3/2 = 0.25
    assert gini(np.array([3, 1])) == pytest.approx(0.25)
    assert math.isnan(gini(np.zeros(3)))


def test_top_share_by_hand() -> None:
    counts = np.array([50] + [1] * 199)  # 200 items: top 1% = 2 items
    assert top_share(counts, 0.01) == pytest.approx(51 / 249)
    assert top_share(np.array([1, 1, 1]), 0.01) == pytest.approx(1 / 3)  # at least one item
    with pytest.raises(ValueError):
        top_share(counts, 0)
