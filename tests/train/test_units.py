"""Fast unit tests of the training pieces: class weights, mining, splits, the numpy head."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.embed.base import l2_normalize
from lookalike.embed.head import HEAD_ARRAYS, Head
from lookalike.errors import ConfigError, VectorIndexError
from lookalike.train import TrainData, TrainOptions, class_weights, make_splits
from lookalike.train.evaluation import retrieval_metrics
from lookalike.train.mining import (
    identity_positives,
    merge_positives,
    mine_triplets,
    mutual_nearest_neighbours,
)


def test_class_weights_by_hand() -> None:
    # 4 rows: 3 of class 0, 1 of class 1 -> N / (C * n_c) = 4/6 and 4/2
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 1]), 2), [4 / 6, 2.0], rtol=1e-6)
    # an absent class gets 0 and does not count in C: 3 rows, classes 0 (x2) and 2 (x1)
    np.testing.assert_allclose(class_weights(np.array([0, 2, 0]), 3), [0.75, 0.0, 1.5], rtol=1e-6)
    # normalised: the mean weight over the rows is 1; balanced data gets all ones
    labels = np.array([0] * 7 + [1] * 2 + [2])
    assert class_weights(labels, 3)[labels].mean() == pytest.approx(1.0)
    np.testing.assert_allclose(class_weights(np.array([0, 1, 2, 0, 1, 2]), 3), 1.0)


def test_mutual_nearest_neighbours_by_hand() -> None:
    v = l2_normalize(np.array([[1, 0], [0.99, 0.1], [0, 1], [-0.2, 1]], np.float32))
    np.testing.assert_array_equal(mutual_nearest_neighbours(v), [1, 0, 3, 2])
    # 2's nearest is 0 but 0's nearest is 1: not mutual
    v = l2_normalize(np.array([[1, 0], [0.99, 0.1], [0.9, -0.3]], np.float32))
    np.testing.assert_array_equal(mutual_nearest_neighbours(v), [1, 0, -1])


def _synthetic(seed: int = 0) -> TrainData:
    """40 products in 8 clusters, some with two images, some sharing an item group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, 32))
    rows, product, group = [], [], []
    for p in range(40):
        for _ in range(1 + p % 2):
            rows.append(centres[p % 8] + 0.6 * rng.normal(size=32))
            product.append(f"p{p}")
            group.append(f"g{p % 8}" if p < 16 else "")  # p and p + 8: same category
    return TrainData.from_labels(
        l2_normalize(np.array(rows, np.float32)),
        product=product,
        group=group,
        category=[f"c{int(p[1:]) % 8}" for p in product],
    )


def test_mined_triplets_are_valid() -> None:
    data = _synthetic()
    positives = identity_positives(data.product, data.group)
    partner = mutual_nearest_neighbours(data.vectors)
    positives = merge_positives(positives, [{int(j)} if j >= 0 else set() for j in partner])
    band = 0.3
    t = mine_triplets(
        data.vectors,
        positives,
        data.product,
        data.group,
        band=band,
        candidates=30,
        rng=np.random.default_rng(1),
    )
    assert len(t) > 20
    assert len(t) + t.dropped == sum(1 for p in positives if p)
    for a, p, n in zip(t.anchor, t.positive, t.negative, strict=True):
        assert a != p and a != n and p != n
        assert p in positives[a]
        assert n not in positives[a]
        assert data.product[n] != data.product[a]
        assert not data.group[a] or data.group[n] != data.group[a]
        s_ap, s_an = data.vectors[a] @ data.vectors[p], data.vectors[a] @ data.vectors[n]
        assert s_ap - band - 1e-6 <= s_an < s_ap
    # images of the same product are positives of each other
    two = [i for i in range(len(data)) if data.product[i] == "p1"]
    assert positives[two[0]] >= {two[1]}


def test_splits_keep_products_and_groups_together() -> None:
    data = _synthetic()
    s = make_splits(data, seed=3, val_fraction=0.2, holdout_fraction=0.2, holdout_categories=0.25)
    parts = [s.train, s.val, s.holdout_products, s.holdout_categories]
    assert sum(len(p) for p in parts) == len(data)
    assert len(np.unique(np.concatenate(parts))) == len(data)
    units = data.units
    for i, left in enumerate(parts):
        for right in parts[i + 1 :]:
            assert not set(units[left]) & set(units[right])
    held = set(data.category[s.holdout_categories])
    assert len(held) == 2 and not held & set(data.category[s.train])
    again = make_splits(
        data, seed=3, val_fraction=0.2, holdout_fraction=0.2, holdout_categories=0.25
    )
    np.testing.assert_array_equal(again.train, s.train)


def test_numpy_head_matches_torch_and_round_trips(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from lookalike.train.model import build_projection, to_numpy_head

    torch.manual_seed(0)
    projection = build_projection(32, 16, 8, dropout=0.5).eval()
    x = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0) + 0.1
    head = to_numpy_head(projection, mean, std, {"method": "classifier", "model_key": "lite0"})
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            projection(torch.from_numpy((x - mean) / std)), dim=1
        ).numpy()
    np.testing.assert_allclose(head.apply(x), expected, rtol=1e-5, atol=1e-6)
    digest = head.save(tmp_path)
    loaded = Head.load(tmp_path)
    assert loaded.hash == digest and loaded.dim == 8 and loaded.input_dim == 32
    assert loaded.record()["method"] == "classifier"
    np.testing.assert_array_equal(loaded.apply(x), head.apply(x))
    with pytest.raises(VectorIndexError, match="takes 32-d"):
        loaded.apply(np.zeros((1, 31), np.float32))
    (tmp_path / HEAD_ARRAYS).write_bytes((tmp_path / HEAD_ARRAYS).read_bytes()[:-8] + b"x" * 8)
    with pytest.raises(VectorIndexError):
        Head.load(tmp_path)


def test_retrieval_metrics_by_hand() -> None:
    v = l2_normalize(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32))
    m = retrieval_metrics(v, np.array(["a", "a", "b", "b"]), np.array(["x", "x", "y", "z"]), k=1)
    assert m["P@1"] == 1.0 and m["mAP@1"] == 1.0
    assert m["Recall@1"] == 1.0  # only x has two images; its top-1 is the other image of x


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        TrainOptions(method="siamese")
    with pytest.raises(ConfigError):
        TrainOptions(loss="arcface")
    with pytest.raises(ConfigError):
        TrainOptions(epochs=0)
