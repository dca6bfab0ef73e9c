"""Metrics: ``knn_exact`` agrees with scipy's cdist ranking; the Recommender uses the choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.index.exact import METRICS, knn_exact, pair_scores
from lookalike.recommend.filters import Filters, Weights
from lookalike.recommend.similar import Recommender
from tests.recommend.conftest import make_workspace, unit

SCIPY = {"cosine": "cosine", "euclidean": "euclidean", "manhattan": "cityblock"}


def reference(xq: np.ndarray, xb: np.ndarray, k: int, metric: str):
    dist = cdist(xq.astype(np.float64), xb.astype(np.float64), SCIPY[metric])
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(dist, order, axis=1)


@pytest.mark.parametrize("metric", METRICS)
def test_knn_metric_matches_cdist_ranking(metric: str) -> None:
    rng = np.random.default_rng(7)
    # raw (un-normalised) vectors of varied norms, and blocks smaller than the data
    xb = (rng.standard_normal((500, 24)) * rng.uniform(0.2, 3, (500, 1))).astype(np.float32)
    xq = (rng.standard_normal((37, 24)) * rng.uniform(0.2, 3, (37, 1))).astype(np.float32)
    d, i = knn_exact(xq, xb, 10, metric, block=8, base_block=64)
    order, dist = reference(xq, xb, 10, metric)
    np.testing.assert_array_equal(i, order)
    expected = 1 - dist if metric == "cosine" else -dist
    np.testing.assert_allclose(d, expected, rtol=1e-4, atol=1e-4)
    assert (np.diff(d, axis=1) <= 0).all()


def test_metrics_differ_on_raw_vectors_but_euclidean_ranks_like_cosine_on_unit_ones() -> None:
    rng = np.random.default_rng(2)
    xb = (rng.standard_normal((300, 16)) * rng.uniform(0.1, 5, (300, 1))).astype(np.float32)
    xq = rng.standard_normal((20, 16)).astype(np.float32)
    raw = {m: knn_exact(xq, xb, 10, m)[1] for m in METRICS}
    assert (raw["cosine"] != raw["euclidean"]).any()
    assert (raw["euclidean"] != raw["manhattan"]).any()
    ub, uq = unit(xb), unit(xq)
    normed = {m: knn_exact(uq, ub, 10, m) for m in METRICS}
    np.testing.assert_array_equal(normed["euclidean"][1], normed["cosine"][1])
    # |a-b| = sqrt(2 - 2cos) on unit vectors
    np.testing.assert_allclose(
        -normed["euclidean"][0], np.sqrt(np.maximum(2 - 2 * normed["cosine"][0], 0)), atol=1e-3
    )
    assert (normed["manhattan"][1] != normed["cosine"][1]).any()


def test_edge_cases() -> None:
    xb = np.eye(3, dtype=np.float32)
    d, i = knn_exact(xb[:1], xb, 5, "manhattan")
    np.testing.assert_array_equal(i, [[0, 1, 2, -1, -1]])
    assert np.isneginf(d[0, 3:]).all()
    d, i = knn_exact(xb[:1], np.zeros((0, 3), np.float32), 2, "euclidean")
    assert (i == -1).all()
    with pytest.raises(ConfigError, match="unknown metric"):
        pair_scores(xb, xb, "hamming")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((120, 32)).astype(np.float32)
    products = [Product(id=f"p{i:03d}", category="c") for i in range(120)]
    return make_workspace(
        tmp_path_factory.mktemp("m") / "shop", products, vectors, near_duplicate=None
    ).root


@pytest.mark.parametrize("metric", METRICS)
def test_recommender_ranks_by_the_chosen_metric(shop: Path, metric: str) -> None:
    with Recommender(shop) as rec:
        base = np.asarray(rec.vectors.vectors)
        q = rec.vectors.row_of()["p005"]
        order, dist = reference(base[q : q + 1], base, 13, metric)
        expected = [rec.vectors.ids[j] for j in order[0] if j != q][:12]
        results = rec.similar("p005", 12, metric=metric, explain=True)
        assert [r.product.id for r in results] == expected
        scores = np.array([r.score for r in results])
        ref = dist[0][order[0] != q][:12]
        np.testing.assert_allclose(scores, 1 - ref if metric == "cosine" else -ref, atol=1e-4)
        assert all(r.components == {"image": r.score} for r in results)


def test_recommender_rejects_unknown_metric_and_hybrid_with_distance(shop: Path) -> None:
    with Recommender(shop) as rec:
        with pytest.raises(ConfigError, match="unknown metric"):
            rec.similar("p000", 3, metric="jaccard")
        with pytest.raises(ConfigError, match="metric=cosine"):
            rec.similar("p000", 3, metric="manhattan", weights=Weights(attrs=1))
        # filters work with every metric
        got = rec.similar("p000", 4, metric="manhattan", filters=Filters(category="c"))
        assert len(got) == 4
