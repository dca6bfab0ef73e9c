"""The adoption gate: a constructed losing head is refused, a winning one adopted."""

from __future__ import annotations

import numpy as np

from lookalike.embed.base import l2_normalize
from lookalike.train.api import evaluate_before_after
from lookalike.train.data import TrainData
from lookalike.train.gate import decide_adoption, hardest_categories


def _data(seed: int = 0) -> TrainData:
    """4 categories x 8 products x 2 images: noisy around a category centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16))
    rows, cats, prods = [], [], []
    for c in range(4):
        for p in range(8):
            item = centres[c] + rng.normal(scale=1.2, size=16)
            for _ in range(2):
                rows.append(item + rng.normal(scale=0.3, size=16))
                cats.append(f"cat{c}")
                prods.append(f"p{c}-{p}")
    return TrainData.from_labels(l2_normalize(np.array(rows)), product=prods, category=cats)


def _sets(data: TrainData, transform: object) -> dict:
    half = np.arange(len(data)) % 4 < 2  # two disjoint "held-out" sets of whole products
    return {
        "held_out_products": evaluate_before_after(data.subset(np.flatnonzero(half)), transform),
        "held_out_categories": evaluate_before_after(data.subset(np.flatnonzero(~half)), transform),
    }


def test_losing_head_is_refused_with_numbers() -> None:
    data = _data()
    rng = np.random.default_rng(1)
    scramble = rng.normal(size=(16, 2))  # squashes 16-d to 2 random directions: loses

    decision = decide_adoption(_sets(data, lambda x: l2_normalize(x @ scramble)))
    assert not decision.adopted and not decision.forced
    assert "does not beat" in decision.reason and "P@10" in decision.reason
    assert all(c["after"] < c["before"] for c in decision.checks)
    forced = decide_adoption(_sets(data, lambda x: l2_normalize(x @ scramble)), force=True)
    assert forced.adopted and forced.forced and "--force" in forced.reason


def test_winning_head_is_adopted() -> None:
    data = _data()
    onehot = {c: np.eye(4)[i] * 3 for i, c in enumerate(data.categories)}
    lookup = {tuple(np.round(v, 6)): c for v, c in zip(data.vectors, data.category, strict=True)}

    def oracle(x: np.ndarray) -> np.ndarray:  # adds the category: strictly better P@10
        extra = np.array([onehot[lookup[tuple(np.round(v, 6))]] for v in x])
        return l2_normalize(np.concatenate([x, extra], axis=1))

    decision = decide_adoption(_sets(data, oracle))
    assert decision.adopted and "beats the untrained features on every" in decision.reason
    assert {c["set"] for c in decision.checks} == {"held_out_products", "held_out_categories"}


def test_one_losing_set_is_enough_to_refuse() -> None:
    evaluation = {
        "held_out_products": {"before": {"P@10": 0.5, "n": 9}, "after": {"P@10": 0.6, "n": 9}},
        "held_out_categories": {"before": {"P@10": 0.7, "n": 9}, "after": {"P@10": 0.69}},
    }
    decision = decide_adoption(evaluation)
    assert not decision.adopted and "held out categories" in decision.reason
    identity = {
        "held_out_products": {
            "before": {"P@10": None, "Recall@1": 0.4},
            "after": {"P@10": None, "Recall@1": 0.5},
        }
    }
    assert decide_adoption(identity).adopted
    assert not decide_adoption({}).adopted  # nothing measured: nothing adopted


def test_hardest_categories_by_untrained_precision() -> None:
    rng = np.random.default_rng(0)
    tight = rng.normal(size=(1, 8)) + rng.normal(scale=0.01, size=(6, 8))
    loose = rng.normal(scale=1.0, size=(12, 8))  # two categories mixed together: hard
    x = l2_normalize(np.concatenate([tight, loose]))
    cats = ["easy"] * 6 + ["hard-a", "hard-b"] * 6
    data = TrainData.from_labels(x, product=[str(i) for i in range(18)], category=cats)
    assert set(hardest_categories(data, 2)) == {"hard-a", "hard-b"}
    assert hardest_categories(data, 0) == []
