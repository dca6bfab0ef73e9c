"""Exact search against a full-matrix numpy reference; vector sets keep ids with vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import VectorIndexError
from lookalike.index import ExactIndex, VectorSet, knn_exact, topk_rows
from lookalike.index.exact import block_rows


def normalised(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("block", [1, 7, 4096])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_knn_exact_matches_full_matrix(block: int, exclude_self: bool) -> None:
    xb = normalised(50, 16)
    scores, idx = knn_exact(xb, xb, 5, block=block, exclude_self=exclude_self)
    full = xb @ xb.T
    if exclude_self:
        np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), rtol=1e-5)


def test_k_larger_than_base_pads_with_minus_one() -> None:
    xb = normalised(3, 4)
    scores, idx = knn_exact(xb, xb, 5, exclude_self=True)
    assert (idx[:, 2:] == -1).all()
    assert np.isneginf(scores[:, 2:]).all()
    assert set(idx[0, :2]) == {1, 2}


def test_ties_break_by_lower_index() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.9]], dtype=np.float32)
    values, cols = topk_rows(scores, 3)
    assert cols.tolist() == [[1, 3, 0]]
    assert values.tolist() == [[pytest.approx(0.9), pytest.approx(0.9), 0.5]]


def test_vector_set_save_load_and_inconsistency(tmp_path: Path) -> None:
    vs = VectorSet(["a", "b"], normalised(2, 3))
    vs.save(tmp_path, "v")
    loaded = VectorSet.load(tmp_path, "v")
    assert loaded.ids == ["a", "b"]
    np.testing.assert_array_equal(loaded.vectors, vs.vectors)
    (tmp_path / "v.ids.json").write_text('["a"]')
    with pytest.raises(VectorIndexError, match="1 ids for 2 vectors"):
        VectorSet.load(tmp_path, "v")
    with pytest.raises(VectorIndexError, match="no vectors named"):
        VectorSet.load(tmp_path, "missing")


def test_vector_set_merge_keeps_only_requested() -> None:
    old = VectorSet(["a", "b"], np.eye(2, dtype=np.float32))
    new = VectorSet(["b", "c"], np.array([[0.6, 0.8], [0.0, -1.0]], np.float32))
    merged = old.merged(new, keep=["c", "b"])
    assert merged.ids == ["c", "b"]
    np.testing.assert_allclose(merged.get("b"), [0.6, 0.8])


def test_exact_index_add_remove_search_and_persist(tmp_path: Path) -> None:
    x = normalised(20, 8, seed=3)
    index = ExactIndex(VectorSet([f"p{i}" for i in range(20)], x))
    _, ids = index.search(x[4], 1)
    assert ids == [["p4"]]
    index.remove(["p4"])
    _, ids = index.search(x[4], 3)
    assert "p4" not in ids[0]
    index.add(["new"], x[4:5])
    index.save(tmp_path)
    reloaded = ExactIndex.load(tmp_path)
    _, ids = reloaded.search(x[4], 1)
    assert ids == [["new"]]
    assert len(reloaded) == 20
    with pytest.raises(VectorIndexError, match="query has 3 dims"):
        reloaded.search(np.ones(3, np.float32), 1)


def test_block_rows_bounds_memory_for_large_catalogs() -> None:
    assert block_rows(1_000) == 2048
    assert block_rows(100_000) == 160
    assert block_rows(10**9) == 1
    assert block_rows(0) == 2048


def test_shared_exact_index_saves_no_copy_and_old_copies_still_load(tmp_path) -> None:
    """A build's exact index keeps no second copy of the product vectors (nor of the ids);
    an index saved with its own copy (older workspaces) still loads, with or without them."""
    from lookalike.index import load_index

    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    vectors = VectorSet([f"p{i}" for i in range(30)], x)
    ExactIndex(vectors, shared=True).save(tmp_path / "new")
    gen = [p for p in (tmp_path / "new").iterdir() if p.is_dir()]
    assert len(gen) == 1 and list(gen[0].iterdir()) == []
    new = load_index(tmp_path / "new", vectors)
    ExactIndex(vectors).save(tmp_path / "old")  # the layout before: vectors.npy + ids
    for old in (load_index(tmp_path / "old"), load_index(tmp_path / "old", vectors)):
        assert old.search(x[:3], 4)[1] == new.search(x[:3], 4)[1]
    assert new.search(x[:1], 1)[1] == [["p0"]]


def test_manhattan_scores_equal_scipy_cdist() -> None:
    """L1 without scipy at run time: equal to scipy's cityblock distances (dev reference)."""
    cdist = pytest.importorskip("scipy.spatial.distance").cdist
    from lookalike.index.exact import pair_scores

    rng = np.random.default_rng(7)
    xq = rng.normal(size=(23, 96)).astype(np.float32)
    xb = rng.normal(size=(301, 96)).astype(np.float32)
    np.testing.assert_allclose(
        pair_scores(xq, xb, "manhattan"), -cdist(xq, xb, "cityblock"), rtol=1e-6
    )
