"""Statistics of an A/B test on click-through rate, as plain (array) functions.

CTR = clicks / impressions, where an impression is one widget render with products shown and a
click is a click on one of them, attributed to the variant that was shown. Each impression is
treated as a Bernoulli trial (clicks are capped at impressions for the tests below).

- 95% Wilson score interval of each CTR;
- relative lift of a variant over the control, ``ctr_b / ctr_a - 1``, with the Katz log interval;
- two-sided two-proportion z-test with the pooled proportion;
- Bayesian probability that the variant beats the control, Beta(1 + clicks, 1 + misses)
  posteriors compared by seeded Monte Carlo;
- impressions per arm a test needs to detect the observed difference at alpha 0.05, power 0.8
  (normal approximation, pooled variance under the null, as the z-test uses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from lookalike.errors import ConfigError

__all__ = [
    "VariantCounts",
    "VariantStats",
    "compare_variants",
    "lift_interval",
    "prob_to_beat",
    "sample_size_per_arm",
    "two_proportion_ztest",
    "wilson_interval",
]

ArrayLike = float | int | np.ndarray

_NORMAL = NormalDist()  # the standard normal, from the standard library (no scipy at run time)
_erfc = np.frompyfunc(math.erfc, 1, 1)


def _normal_sf(z: np.ndarray) -> np.ndarray:
    """P(Z > z) for the standard normal, element-wise; erfc keeps the tail accurate."""
    return np.asarray(
        0.5 * _erfc(np.asarray(z, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64
    )


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), not {confidence}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(
    successes: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``successes / n`` (``(0, 1)`` where ``n`` is 0)."""
    x = np.asarray(successes, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n_arr
        denom = 1.0 + z * z / n_arr
        centre = (p + z * z / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z * z / (4.0 * n_arr * n_arr)) / denom
    empty = n_arr <= 0
    lo = np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi


def two_proportion_ztest(
    c_a: ArrayLike, n_a: ArrayLike, c_b: ArrayLike, n_b: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z-test of B against A: ``(z, two-sided p)``.

    Vectorised over arrays of counts (a simulation tests thousands of experiments at once);
    ``z = 0, p = 1`` where there is no variance (no clicks or all clicks in both arms).
    """
    c_a, n_a, c_b, n_b = (np.asarray(v, dtype=np.float64) for v in (c_a, n_a, c_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (c_a + c_b) / (n_a + n_b)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b))
        z = (c_b / n_b - c_a / n_a) / se
    z = np.where(np.isfinite(z), z, 0.0)
    return z, 2.0 * _normal_sf(np.abs(z))


def lift_interval(
    c_a: float, n_a: float, c_b: float, n_b: float, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Relative lift ``ctr_b / ctr_a - 1`` and its interval (Katz log method on the ratio).

    NaN for what is undefined: the lift when A has no clicks, the interval when either arm has
    no clicks.
    """
    if n_a <= 0 or n_b <= 0 or c_a <= 0:
        return math.nan, math.nan, math.nan
    ratio = (c_b / n_b) / (c_a / n_a)
    if c_b <= 0:
        return ratio - 1.0, math.nan, math.nan
    se = math.sqrt(1.0 / c_b - 1.0 / n_b + 1.0 / c_a - 1.0 / n_a)
    z = _z(confidence)
    log_ratio = math.log(ratio)
    return ratio - 1.0, math.exp(log_ratio - z * se) - 1.0, math.exp(log_ratio + z * se) - 1.0


def prob_to_beat(
    c_a: float,
    n_a: float,
    c_b: float,
    n_b: float,
    *,
    draws: int = 200_000,
    seed: int = 0,
    prior: tuple[float, float] = (1.0, 1.0),
) -> float:
    """P(CTR_B > CTR_A) under independent Beta posteriors (uniform prior by default).

    Seeded Monte Carlo: the same counts always give the same answer; with 200k draws the
    standard error is below 0.0012.
    """
    rng = np.random.default_rng(seed)
    a = rng.beta(prior[0] + c_a, prior[1] + n_a - c_a, draws)
    b = rng.beta(prior[0] + c_b, prior[1] + n_b - c_b, draws)
    return float(np.mean(b > a))


def sample_size_per_arm(
    p_a: float, p_b: float, *, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Impressions per arm for a two-sided pooled z-test at ``alpha`` to detect ``p_a`` vs
    ``p_b`` with probability ``power`` (None when the rates are equal or degenerate)."""
    if not (0.0 < p_a < 1.0 and 0.0 < p_b < 1.0) or p_a == p_b:
        return None
    z_a = _NORMAL.inv_cdf(1.0 - alpha / 2.0)
    z_b = _NORMAL.inv_cdf(power)
    p_bar = (p_a + p_b) / 2.0
    numerator = z_a * math.sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_b * math.sqrt(
        p_a * (1.0 - p_a) + p_b * (1.0 - p_b)
    )
    return int(math.ceil(numerator**2 / (p_a - p_b) ** 2))


@dataclass(frozen=True)
class VariantCounts:
    """Raw counts of one variant."""

    impressions: int
    clicks: int


@dataclass(frozen=True)
class VariantStats:
    """One row of the report. Comparisons with the control are NaN/None for the control."""

    name: str
    impressions: int
    clicks: int
    ctr: float
    ctr_low: float
    ctr_high: float
    is_control: bool
    lift: float = math.nan
    lift_low: float = math.nan
    lift_high: float = math.nan
    z: float = math.nan
    p_value: float = math.nan
    prob_beat_control: float = math.nan
    sample_size_per_arm: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN becomes None)."""
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(self).items()
        }


def compare_variants(
    counts: Mapping[str, VariantCounts], control: str, *, confidence: float = 0.95, seed: int = 0
) -> list[VariantStats]:
    """Every variant's CTR with its interval and, for the others, the comparison with
    ``control`` (lift, z-test, probability to beat, sample size for the observed effect)."""
    if control not in counts:
        raise ConfigError(f"control {control!r} has no counts (variants: {sorted(counts)})")
    base = counts[control]
    c_a = min(base.clicks, base.impressions)
    rows: list[VariantStats] = []
    for name, vc in counts.items():
        clicks = min(vc.clicks, vc.impressions)  # a Bernoulli trial has at most one success
        ctr = clicks / vc.impressions if vc.impressions else math.nan
        lo, hi = (float(v) for v in wilson_interval(clicks, vc.impressions, confidence))
        row = VariantStats(name, vc.impressions, vc.clicks, ctr, lo, hi, name == control)
        if name != control and vc.impressions and base.impressions:
            lift, lift_lo, lift_hi = lift_interval(
                c_a, base.impressions, clicks, vc.impressions, confidence
            )
            z, p = two_proportion_ztest(c_a, base.impressions, clicks, vc.impressions)
            row = VariantStats(
                **{
                    **asdict(row),
                    "lift": lift,
                    "lift_low": lift_lo,
                    "lift_high": lift_hi,
                    "z": float(z),
                    "p_value": float(p),
                    "prob_beat_control": prob_to_beat(
                        c_a, base.impressions, clicks, vc.impressions, seed=seed
                    ),
                    "sample_size_per_arm": sample_size_per_arm(
                        c_a / base.impressions, clicks / vc.impressions
                    ),
                }
            )
        rows.append(row)
    return rows
