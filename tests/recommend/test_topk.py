"""Top-K for every product: blocked computation equals the full matrix; table persists."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.index import VectorSet
from lookalike.recommend.topk import Neighbors, compute_neighbors, exclude_from_table


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


def brute_force_excluding(x: np.ndarray, groups: list[str], near: float, k: int) -> list[list[int]]:
    sims = x @ x.T
    out = []
    for i in range(len(x)):
        order = np.argsort(-sims[i], kind="stable")
        keep = [
            int(j)
            for j in order
            if j != i and not (groups[i] and groups[j] == groups[i]) and sims[i, j] <= near
        ]
        out.append(keep[:k])
    return out


def test_exclusions_in_the_table_match_brute_force_even_when_many_are_excluded() -> None:
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((6, 8))
    # 20 products per centre, 15 of them in one big group: the group fills the first ranks
    x = np.repeat(centres, 20, axis=0) + rng.normal(0, 0.15, (120, 8))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    x[7] = x[3]  # an exact duplicate (another SKU)
    groups = [f"g{i // 20}" if i % 20 < 15 else "" for i in range(120)]
    ids = [f"p{i}" for i in range(120)]
    table = compute_neighbors(
        VectorSet(ids, x), 5, groups=dict(zip(ids, groups, strict=True)), near_duplicate=0.97
    )
    want = brute_force_excluding(x, groups, 0.97, 5)
    for i in range(120):
        got = [int(r) for r in table.rows[i] if r >= 0]
        assert got == want[i]
    assert 7 not in table.rows[3] and 3 not in table.rows[7]
    # the same exclusions applied afterwards to a wide table (the aggregate=max path)
    wide = compute_neighbors(VectorSet(ids, x), 40)
    narrow = exclude_from_table(
        wide, 5, groups=dict(zip(ids, groups, strict=True)), near_duplicate=0.97, vectors=x
    )
    np.testing.assert_array_equal(narrow.rows, table.rows)
