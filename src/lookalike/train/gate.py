"""Training that never hurts: the adoption rule and the choice of held-out categories.

A trained head is *adopted* (saved as the workspace's active head, applied by the next build)
only when, on every held-out set that could be measured (held-out products; held-out
categories when the catalog has categories), it beats the untrained backbone on that set's
primary metric: P@10 by category when categories exist, else Recall@1 by product identity.
Otherwise it is kept off, and the decision says why with the numbers; ``--force`` adopts anyway.

Held-out categories are the *hardest* ones (lowest untrained leave-one-out P@10), so the check
looks where a head is most likely to hurt a new category, not at classes already near 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.index.exact import knn_exact
from lookalike.train.data import TrainData

__all__ = ["Decision", "decide_adoption", "hardest_categories", "primary_metric"]

# held-out photos: photo -> catalog training (train.photo_api)
SETS = ("held_out_products", "held_out_categories", "held_out_photos")


@dataclass
class Decision:
    """Whether the head is adopted, and the per-set comparison behind it."""

    adopted: bool
    forced: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def primary_metric(before: dict[str, Any], k: int = 10) -> str | None:
    """``P@k`` when the set has category labels, else ``Recall@1``; None when neither."""
    if before.get(f"P@{k}") is not None:
        return f"P@{k}"
    if before.get("Recall@1") is not None:
        return "Recall@1"
    return None


def decide_adoption(
    evaluation: dict[str, dict[str, Any]],
    *,
    force: bool = False,
    subject: str = "the head",
    baseline: str = "the untrained features",
) -> Decision:
    """Apply the rule of the module doc to ``{set: {"before": m, "after": m}}``; ``subject``
    and ``baseline`` name what is compared in the reason (tuned weights vs image only)."""
    checks: list[dict[str, Any]] = []
    for name in SETS:
        result = evaluation.get(name)
        if not result:
            continue
        metric = primary_metric(result["before"])
        if metric is None:
            continue
        before, after = float(result["before"][metric]), float(result["after"][metric])
        checks.append(
            {
                "set": name,
                "metric": metric,
                "before": before,
                "after": after,
                "n": result["before"].get("n"),
                "better": after > before,
            }
        )
    losing = [c for c in checks if not c["better"]]
    text = "; ".join(
        f"{c['set'].replace('_', ' ')} {c['metric']} {c['before']:.3f} -> {c['after']:.3f}"
        for c in checks
    )
    if not checks:
        reason = "no held-out set could be measured (too few products or labels)"
        adopted = False
    elif losing:
        names = ", ".join(c["set"].replace("_", " ") for c in losing)
        reason = f"{subject} does not beat {baseline} on {names} ({text})"
        adopted = False
    else:
        reason = f"{subject} beats {baseline} on every held-out set ({text})"
        adopted = True
    if force and not adopted:
        return Decision(True, True, f"adopted with --force although {reason}", checks)
    return Decision(adopted, False, reason, checks)


def hardest_categories(data: TrainData, count: int, *, k: int = 10) -> list[str]:
    """The ``count`` categories with the lowest untrained leave-one-out P@k (ties by name);
    categories with fewer than two images are never chosen (they cannot be measured)."""
    labelled = np.flatnonzero([bool(c) for c in data.category])
    if count < 1 or len(labelled) < 3:
        return []
    x = data.vectors[labelled]
    cats = np.asarray(data.category[labelled], dtype=object)
    kk = min(k, len(labelled) - 1)
    _, idx = knn_exact(x, x, kk, exclude_self=True)
    hits = (cats[np.maximum(idx, 0)] == cats[:, None]) & (idx >= 0)
    precision = hits.mean(axis=1)
    scores = []
    for cat in sorted(set(cats)):
        rows = cats == cat
        if rows.sum() >= 2:
            scores.append((float(precision[rows].mean()), str(cat)))
    return [name for _, name in sorted(scores)[:count]]
