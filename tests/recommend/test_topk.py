"""Top-K for every product: blocked computation equals the full matrix; table persists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.index import VectorSet
from lookalike.recommend.topk import Neighbors, compute_neighbors


def test_blocked_topk_equals_full_matrix_and_excludes_self(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 12)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = [f"id {i} ü" for i in range(300)]
    table = compute_neighbors(VectorSet(ids, x), 10, block=64)
    full = x @ x.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(table.rows, expected)
    assert all(i not in row for i, row in enumerate(table.rows))
    table.save(tmp_path)
    loaded = Neighbors.load(tmp_path)
    hits = loaded.lookup("id 5 ü", 3)
    assert [h[0] for h in hits] == [ids[j] for j in expected[5, :3]]
    assert hits[0][1] >= hits[1][1] >= hits[2][1]
    assert loaded.lookup("unknown") == []


def test_tiny_catalogs() -> None:
    one = compute_neighbors(VectorSet(["a"], np.ones((1, 4), np.float32) / 2), 5)
    assert one.lookup("a") == []
    two = compute_neighbors(VectorSet(["a", "b"], np.eye(2, dtype=np.float32)), 5)
    assert [pid for pid, _ in two.lookup("a")] == ["b"]
