"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lookalike.evaluate.scoring import SettingResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CHARTS_HINT",
    "charts_available",
    "precision_curves",
    "category_bars",
    "score_histogram",
]

# matplotlib is the `reports` extra (about 80 MB with its fonts and solvers): the core runtime,
# which serves recommendations, stays light. Reports keep every number without it.
CHARTS_HINT = "charts need matplotlib: pip install 'lookalike[reports]'"

_DPI = 110


def charts_available() -> bool:
    """True where matplotlib is installed (the ``reports``, ``train`` or ``dev`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def precision_curves(results: Sequence[SettingResult]) -> bytes:
    """Precision@i for i = 1..k, one line per setting."""
    fig = _figure(6.4, 3.6)
    ax = fig.add_subplot()
    for result in results:
        ks = np.arange(1, len(result.precision_curve) + 1)
        ax.plot(ks, result.precision_curve, marker="o", markersize=3, label=result.label)
    ax.set_xlabel("k (results shown)")
    ax.set_ylabel("Precision@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if results:
        ax.set_xticks(np.arange(1, len(results[0].precision_curve) + 1))
    ax.legend(fontsize=7, loc="best", ncols=2 if len(results) > 6 else 1)
    ax.set_title("Precision at each cut-off")
    return _png(fig)


def category_bars(results: Sequence[SettingResult], metric: str) -> bytes:
    """``metric`` per category, grouped bars per setting (at most 6 settings), with CIs."""
    shown = list(results)[:6]
    groups = sorted({g for r in shown for g in r.by_group.get(metric, {})})
    fig = _figure(max(6.4, 0.5 * len(groups) * max(1, len(shown)) ** 0.5 + 2), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(shown))
    x = np.arange(len(groups))
    for i, result in enumerate(shown):
        est = result.by_group.get(metric, {})
        means = np.array([est[g].mean if g in est else math.nan for g in groups])
        lows = np.array([est[g].low if g in est else math.nan for g in groups])
        highs = np.array([est[g].high if g in est else math.nan for g in groups])
        err = np.vstack([np.nan_to_num(means - lows), np.nan_to_num(highs - means)])
        ax.bar(
            x + (i - (len(shown) - 1) / 2) * width,
            np.nan_to_num(means),
            width,
            yerr=err,
            capsize=2,
            label=result.label,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(
        x,
        groups,
        rotation=30 if len(groups) > 6 else 0,
        ha="right" if len(groups) > 6 else "center",
        fontsize=8,
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{metric} by category (bars: 95% bootstrap interval)")
    return _png(fig)


def score_histogram(
    relevant: np.ndarray, others: np.ndarray, threshold: float | None, label: str
) -> bytes:
    """Densities of similarity scores for relevant and other pairs, with the threshold."""
    fig = _figure(6.4, 3.2)
    ax = fig.add_subplot()
    both = np.concatenate([relevant, others]) if len(relevant) + len(others) else np.zeros(1)
    bins = np.linspace(float(both.min()), float(both.max()) + 1e-6, 50)
    series = ((others, "other", 0.55, "#9aa5b1"), (relevant, "relevant", 0.6, "#2f7d5b"))
    for scores, name, alpha, color in series:
        label = f"{name} pairs (n={len(scores)})"
        ax.hist(scores, bins=bins.tolist(), density=True, alpha=alpha, label=label, color=color)
    if threshold is not None:
        ax.axvline(
            threshold, color="#c0392b", linestyle="--", label=f"suggested threshold {threshold:.3f}"
        )
    ax.set_xlabel(f"similarity score ({label})")
    ax.set_ylabel("density")
    ax.legend(fontsize=7)
    ax.set_title("Scores of relevant vs other pairs")
    return _png(fig)
