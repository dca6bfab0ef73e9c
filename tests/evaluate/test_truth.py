"""Ground truth kinds, query sampling, and scoring of result lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.evaluate.compare import Setting, expand_settings, parse_compare, unsupported
from lookalike.evaluate.scoring import drop_self, evaluate_vectors, suggest_threshold
from lookalike.evaluate.truth import (
    TruthSpec,
    build_truth,
    category_prefix,
    sample_queries,
)


def catalog() -> dict[str, Product]:
    rows = [
        ("a", "Clothing > Dresses > Maxi", "g1", {"ean": "1"}),
        ("b", "Clothing > Dresses > Mini", "g1", {"ean": "1"}),
        ("c", "Clothing > Shoes", "", {"ean": "2"}),
        ("d", "Clothing > Shoes", "g2", {}),
        ("e", "", "g2", {"ean": "2"}),
    ]
    return {
        pid: Product(pid, title=pid, category=cat, group_id=group, attrs=attrs)
        for pid, cat, group, attrs in rows
    }


IDS = ["a", "b", "c", "d", "e"]


def test_category_prefix_and_spec_parsing() -> None:
    assert category_prefix("Clothing >Dresses>  Maxi", 2) == "Clothing > Dresses"
    assert category_prefix("Shoes", 3) == "Shoes"
    assert TruthSpec.parse("category:2") == TruthSpec("category", depth=2)
    assert TruthSpec.parse("identity:ean").key == "ean"
    assert TruthSpec.parse("pairs:x.csv").path == Path("x.csv")
    for bad in ("colour", "category:x", "category:0", "pairs"):
        with pytest.raises(ConfigError):
            TruthSpec.parse(bad)


def test_full_category_and_prefix_depth() -> None:
    full = build_truth(IDS, catalog(), TruthSpec("category"))
    np.testing.assert_array_equal(full.n_relevant(np.arange(5)), [0, 0, 1, 1, 0])
    np.testing.assert_array_equal(full.eligible(), [2, 3])
    depth2 = build_truth(IDS, catalog(), TruthSpec("category", depth=2))
    np.testing.assert_array_equal(depth2.n_relevant(np.arange(5)), [1, 1, 1, 1, 0])
    rel = depth2.relevance(np.array([0, 4]), np.array([[1, 2, 0, -1], [0, 1, 2, 3]]))
    # self and missing results are never relevant; a product without category never is
    assert rel.tolist() == [[True, False, False, False], [False] * 4]
    assert depth2.group_names == ["Clothing > Dresses", "Clothing > Shoes"]


def test_identity_by_group_id_and_by_attribute() -> None:
    by_group = build_truth(IDS, catalog(), TruthSpec("identity"))
    np.testing.assert_array_equal(by_group.n_relevant(np.arange(5)), [1, 1, 0, 1, 1])
    assert by_group.relevance(np.array([3]), np.array([[4, 2]])).tolist() == [[True, False]]
    by_ean = build_truth(IDS, catalog(), TruthSpec("identity", key="ean"))
    np.testing.assert_array_equal(by_ean.n_relevant(np.arange(5)), [1, 1, 1, 0, 1])
    with pytest.raises(ConfigError, match="no two products share"):
        build_truth(IDS, catalog(), TruthSpec("identity", key="colour"))


def test_explicit_pairs_csv(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("query_id,relevant_id\na,c\na,d\nb,a\na,a\nzz,a\n", encoding="utf-8")
    truth = build_truth(IDS, catalog(), TruthSpec("pairs", path=path))
    np.testing.assert_array_equal(truth.n_relevant(np.arange(5)), [2, 1, 0, 0, 0])
    assert truth.notes == {"pairs": 3, "pairs_unknown_ids": 1}
    rel = truth.relevance(np.array([0, 1]), np.array([[3, 1, 2], [0, 2, -1]]))
    assert rel.tolist() == [[True, False, True], [True, False, False]]
    path.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="query_id,relevant_id"):
        build_truth(IDS, catalog(), TruthSpec("pairs", path=path))


def test_query_sample_is_seeded_and_only_eligible() -> None:
    products = {f"p{i}": Product(f"p{i}", category="x" if i % 3 else "") for i in range(60)}
    truth = build_truth(list(products), products, TruthSpec())
    a = sample_queries(truth, 10, seed=1)
    assert a.tolist() == sample_queries(truth, 10, seed=1).tolist()
    assert a.tolist() != sample_queries(truth, 10, seed=2).tolist()
    assert len(a) == 10 and all(i % 3 for i in a)
    assert len(sample_queries(truth, None, 0)) == 40


def test_drop_self_keeps_rank_order_and_pads() -> None:
    rows = np.array([[0, 5, 6], [7, 1, 8], [2, 3, 4]])
    scores = np.array([[1.0, 0.9, 0.8], [0.9, 0.9, 0.1], [0.7, 0.6, 0.5]], dtype=np.float32)
    out_rows, out_scores = drop_self(np.array([0, 1, 9]), rows, scores, 2)
    assert out_rows.tolist() == [[5, 6], [7, 8], [2, 3]]
    np.testing.assert_allclose(out_scores, [[0.9, 0.8], [0.9, 0.1], [0.7, 0.6]])
    padded, _ = drop_self(np.array([0]), np.array([[0]]), np.array([[1.0]]), 2)
    assert padded.tolist() == [[-1, -1]]


def test_threshold_by_hand() -> None:
    # relevant scores all above 0.5, others below: any cut in (0.4, 0.6] is perfect, the
    # lowest candidate that reaches F1 = 1 is 0.6
    t = suggest_threshold(np.array([0.6, 0.7, 0.9]), np.array([0.1, 0.2, 0.4]), 1.0)
    assert t["f1"] == 0.6 and t["f1_value"] == 1.0
    # loosest cut with precision >= 0.5: everything above 0.1 is 3 relevant of 6
    assert t["precision_0.5"] == 0.1
    # each sampled other pair standing for 10 real ones pushes the threshold up
    w = suggest_threshold(np.array([0.5, 0.8]), np.array([0.6, 0.1]), 10.0)
    assert w["f1"] == 0.8


def test_evaluate_vectors_on_separable_clusters() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(4, 16, dtype=np.float32) * 5
    x = np.repeat(centers, 10, axis=0) + rng.normal(0, 0.2, (40, 16)).astype(np.float32)
    products = {f"p{i}": Product(f"p{i}", category=f"c{i // 10}") for i in range(40)}
    truth = build_truth(list(products), products, TruthSpec())
    result = evaluate_vectors(x, truth, k=5, n_boot=50)
    assert result.overall["Precision@5"].mean == 1.0 and result.overall["mAP@5"].mean == 1.0
    assert result.overall["HitRate@1"].mean == 1.0
    assert result.overall["Recall@5"].mean == pytest.approx(5 / 9)
    assert set(result.by_group["Precision@5"]) == {"c0", "c1", "c2", "c3"}
    with pytest.raises(ValueError):
        evaluate_vectors(x[:3], truth)


def test_compare_axes_parse_and_expand() -> None:
    axes = parse_compare(["model=lite0,lite2", "metric=all", "pca=none,64"])
    assert axes["metric"] == ("cosine", "euclidean", "manhattan")
    settings = expand_settings(axes)
    assert len(settings) == 2 * 3 * 2
    assert settings[1].label() == "lite0 · pca64"
    assert expand_settings(parse_compare(["weights=image=0.7,title=0.3;image=1"]))[0].weights == (
        "image=0.7,title=0.3"
    )
    # ANN indexes rank by inner product only: ANN x manhattan is listed with the reason
    mixed = expand_settings(parse_compare(["index=exact,hnsw", "metric=cosine,manhattan"]))
    assert [unsupported(s, 1280) for s in mixed] == [
        None,
        None,
        None,
        "ANN indexes search by inner product: cosine only",
    ]
    assert unsupported(Setting(pca=256), 128) == "PCA 256 >= dim 128"
    for bad in (["colour=red"], ["model"], ["pca=abc"], ["weights=all"]):
        with pytest.raises(ConfigError):
            expand_settings(parse_compare(bad))


def test_every_metric_at_every_cutoff_with_unambiguous_names() -> None:
    from lookalike.evaluate.scoring import canonical_metric, score_results

    truth = build_truth(
        [f"p{i}" for i in range(6)],
        {f"p{i}": Product(id=f"p{i}", category="a" if i < 3 else "b") for i in range(6)},
        TruthSpec(),
    )
    queries = np.array([0, 3])
    results = np.array([[1, 3, 2, 4], [0, 4, 1, 5]])  # p0: hit at 1; p3: miss, then hit
    r = score_results(truth, queries, results, np.zeros((2, 4)), k=4, n_boot=10, cutoffs=(1, 2, 4))
    assert r.cutoffs == (1, 2, 4) and set(r.overall) == {
        f"{f}@{k}" for f in ("Precision", "Recall", "HitRate", "mAP", "NDCG") for k in (1, 2, 4)
    }
    assert r.per_query["HitRate@1"].tolist() == [1.0, 0.0]
    assert r.per_query["HitRate@2"].tolist() == [1.0, 1.0]
    assert r.per_query["Recall@2"].tolist() == [0.5, 0.5]  # of the 2 relevant products each
    assert r.per_query["Precision@4"].tolist() == [0.5, 0.5]
    # older report JSON and training.json keys read under today's names
    assert [canonical_metric(m) for m in ("P@10", "R@10", "Hit@5", "Recall@1", "mAP@10")] == [
        "Precision@10",
        "Recall@10",
        "HitRate@5",
        "HitRate@1",
        "mAP@10",
    ]
