"""A/B statistics against scipy and hand-computed references, and their behaviour in simulation:
a true 20% lift is found at the estimated sample size with ~80% power, no difference gives ~5%
false positives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from lookalike.ab.stats import (
    VariantCounts,
    compare_variants,
    lift_interval,
    prob_to_beat,
    sample_size_per_arm,
    two_proportion_ztest,
    wilson_interval,
)
from lookalike.errors import ConfigError


@pytest.mark.parametrize(("x", "n"), [(10, 100), (0, 50), (50, 50), (1, 3), (312, 4821)])
def test_wilson_matches_scipy(x: int, n: int) -> None:
    lo, hi = wilson_interval(x, n)
    ref = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose([lo, hi], [ref.low, ref.high], rtol=1e-12, atol=1e-12)


def test_wilson_closed_form_and_empty_arm() -> None:
    # 10/100 at 95%: the textbook Wilson interval (0.0552, 0.1744).
    lo, hi = wilson_interval(10, 100)
    np.testing.assert_allclose([lo, hi], [0.0552291, 0.1743657], atol=1e-7)
    lo, hi = wilson_interval(np.array([0, 5]), np.array([0, 10]), confidence=0.9)
    assert (lo[0], hi[0]) == (0.0, 1.0)
    np.testing.assert_allclose(
        [lo[1], hi[1]], stats.binomtest(5, 10).proportion_ci(0.9, method="wilson")
    )
    with pytest.raises(ConfigError):
        wilson_interval(1, 2, confidence=1.5)


@pytest.mark.parametrize(
    "counts", [(100, 1000, 130, 1000), (40, 2000, 38, 1500), (7, 90, 0, 80), (5, 400, 21, 380)]
)
def test_ztest_matches_chi_square_on_the_2x2_table(counts: tuple[int, int, int, int]) -> None:
    c_a, n_a, c_b, n_b = counts
    z, p = two_proportion_ztest(c_a, n_a, c_b, n_b)
    table = np.array([[c_a, n_a - c_a], [c_b, n_b - c_b]])
    chi2 = stats.chi2_contingency(table, correction=False)
    np.testing.assert_allclose(p, chi2.pvalue, rtol=1e-10)
    np.testing.assert_allclose(z * z, chi2.statistic, rtol=1e-10)
    assert np.sign(z) == np.sign(c_b / n_b - c_a / n_a)


def test_ztest_hand_computed_and_degenerate() -> None:
    z, p = two_proportion_ztest(100, 1000, 130, 1000)
    pooled = 230 / 2000
    expected_z = 0.03 / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    np.testing.assert_allclose(z, expected_z, rtol=1e-12)
    np.testing.assert_allclose(p, 2 * stats.norm.sf(expected_z), rtol=1e-12)
    z, p = two_proportion_ztest(0, 100, 0, 100)  # no clicks anywhere: no evidence
    assert (float(z), float(p)) == (0.0, 1.0)


def test_lift_interval_katz() -> None:
    lift, lo, hi = lift_interval(100, 1000, 130, 1000)
    se = math.sqrt(1 / 130 - 1 / 1000 + 1 / 100 - 1 / 1000)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(lift, 0.3, rtol=1e-12)
    np.testing.assert_allclose(lo, 1.3 * math.exp(-z * se) - 1, rtol=1e-12)
    np.testing.assert_allclose(hi, 1.3 * math.exp(z * se) - 1, rtol=1e-12)
    assert lo < lift < hi
    assert all(math.isnan(v) for v in lift_interval(0, 100, 5, 100))
    lift, lo, hi = lift_interval(5, 100, 0, 100)
    assert lift == -1.0 and math.isnan(lo) and math.isnan(hi)


@pytest.mark.parametrize("counts", [(100, 1000, 130, 1000), (20, 500, 18, 450), (3, 40, 9, 40)])
def test_prob_to_beat_matches_exact_integral(counts: tuple[int, int, int, int]) -> None:
    c_a, n_a, c_b, n_b = counts
    post_a = stats.beta(1 + c_a, 1 + n_a - c_a)
    post_b = stats.beta(1 + c_b, 1 + n_b - c_b)
    exact, _ = integrate.quad(
        lambda x: post_b.pdf(x) * post_a.cdf(x), 0, 1, points=[c_a / n_a, c_b / n_b], limit=200
    )
    mc = prob_to_beat(c_a, n_a, c_b, n_b)
    assert abs(mc - exact) < 0.005  # 200k draws: standard error < 0.0012
    assert prob_to_beat(c_a, n_a, c_b, n_b) == mc  # seeded


def test_sample_size_reference_values() -> None:
    # Fleiss' formula without continuity correction: 10% vs 15% needs 686 per arm.
    assert sample_size_per_arm(0.10, 0.15) == 686
    assert sample_size_per_arm(0.15, 0.10) == 686
    assert sample_size_per_arm(0.05, 0.06) == 8158
    assert sample_size_per_arm(0.05, 0.05) is None
    assert sample_size_per_arm(0.0, 0.05) is None
    assert sample_size_per_arm(0.10, 0.15, power=0.9) > 686


def _rejections(p_a: float, p_b: float, n: int, runs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c_a = rng.binomial(n, p_a, runs)
    c_b = rng.binomial(n, p_b, runs)
    _, p = two_proportion_ztest(c_a, n, c_b, n)
    return p < 0.05


def test_true_20_percent_lift_is_detected_with_the_estimated_power() -> None:
    p_a, p_b = 0.05, 0.06  # B has a true 20% higher CTR
    n = sample_size_per_arm(p_a, p_b)
    assert n is not None
    runs = 2000
    for seed in range(3):
        power = _rejections(p_a, p_b, n, runs, seed).mean()
        # 0.8 within 4 binomial standard errors (0.036 at 2,000 runs)
        assert abs(power - 0.8) < 4 * math.sqrt(0.8 * 0.2 / runs), power
    # A quarter of that sample is clearly underpowered.
    assert _rejections(p_a, p_b, n // 4, runs, 7).mean() < 0.45


def test_no_difference_gives_five_percent_false_positives() -> None:
    runs = 5000
    for seed, (p, n) in enumerate([(0.05, 8158), (0.02, 3000), (0.2, 500)]):
        fpr = _rejections(p, p, n, runs, 100 + seed).mean()
        assert abs(fpr - 0.05) < 4 * math.sqrt(0.05 * 0.95 / runs), fpr


def test_compare_variants_rows() -> None:
    counts = {
        "image": VariantCounts(1000, 130),
        "attributes": VariantCounts(1000, 100),
        "popular": VariantCounts(0, 0),
    }
    rows = {r.name: r for r in compare_variants(counts, control="attributes")}
    control, image, popular = rows["attributes"], rows["image"], rows["popular"]
    assert control.is_control and math.isnan(control.p_value)
    np.testing.assert_allclose(image.ctr, 0.13)
    np.testing.assert_allclose(image.p_value, 0.0354884504664746, rtol=1e-9)
    np.testing.assert_allclose(image.lift, 0.3)
    assert 0.97 < image.prob_beat_control < 0.99
    assert image.sample_size_per_arm == sample_size_per_arm(0.10, 0.13)
    assert math.isnan(popular.ctr) and popular.to_dict()["ctr"] is None
    with pytest.raises(ConfigError):
        compare_variants(counts, control="hybrid")


def test_normal_tails_match_scipy_without_scipy_at_run_time() -> None:
    """The standard-library normal (no scipy in the core install) equals scipy's to 1e-12."""
    scipy_stats = pytest.importorskip("scipy.stats")
    from lookalike.ab.stats import _normal_sf, _z

    z = np.array([0.0, 0.3, 1.0, 1.96, 3.5, 8.0, 20.0])
    np.testing.assert_allclose(_normal_sf(z), scipy_stats.norm.sf(z), rtol=1e-12)
    for confidence in (0.8, 0.9, 0.95, 0.99):
        assert _z(confidence) == pytest.approx(scipy_stats.norm.ppf(0.5 + confidence / 2), 1e-12)
