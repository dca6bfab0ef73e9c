"""Max-over-image-pairs top-K against a brute-force reference, across block sizes."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import VectorIndexError
from lookalike.recommend.aggregate import ProductImages, compute_neighbors_max


def random_products(seed: int, n: int, images: int) -> tuple[ProductImages, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((images, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owned = [sorted(set(rng.integers(0, images, rng.integers(1, 5)).tolist())) for _ in range(n)]
    # (images drawn with replacement: some products share images, so some scores tie)
    owned[1] = owned[0][:1]  # an image shared between two products
    products = ProductImages.from_lists([f"p{i}" for i in range(n)], owned, vectors)
    full = vectors @ vectors.T
    reference = np.full((n, n), -np.inf, dtype=np.float32)
    for i in range(n):
        for j in range(n):
            if i != j:
                reference[i, j] = full[np.ix_(owned[i], owned[j])].max()
    return products, reference


@pytest.mark.parametrize(("block_rows", "block_cols"), [(1, 1), (3, 7), (5, 1000), (1000, 4)])
def test_matches_brute_force(block_rows: int, block_cols: int) -> None:
    products, reference = random_products(0, 23, 40)
    k = 6
    got = compute_neighbors_max(products, k, block_rows=block_rows, block_cols=block_cols)
    want_scores = -np.sort(-reference, axis=1)[:, :k]
    np.testing.assert_allclose(got.scores, want_scores, rtol=0, atol=1e-6)
    # the ids are the right ones (products sharing an image tie: either order is right)
    np.testing.assert_allclose(
        np.take_along_axis(reference, got.rows.astype(np.int64), axis=1), got.scores, atol=1e-6
    )
    assert all(len(set(row)) == k and i not in row for i, row in enumerate(got.rows.tolist()))
    assert got.lookup("p0", 1)[0] == ("p1", pytest.approx(1.0, abs=1e-6))


def test_k_larger_than_catalog_and_single_product() -> None:
    products, reference = random_products(1, 4, 6)
    got = compute_neighbors_max(products, 10, block_rows=2, block_cols=2)
    assert got.rows.shape == (4, 10)
    assert (got.rows[:, 3:] == -1).all() and np.isneginf(got.scores[:, 3:]).all()
    np.testing.assert_allclose(got.scores[:, :3], -np.sort(-reference, axis=1)[:, :3], atol=1e-6)
    one = ProductImages.from_lists(["only"], [[0]], np.eye(2, dtype=np.float32))
    assert (compute_neighbors_max(one, 3).rows == -1).all()


def test_products_need_images() -> None:
    with pytest.raises(VectorIndexError, match="at least one image"):
        ProductImages.from_lists(["a", "b"], [[0], []], np.eye(2, dtype=np.float32))
    with pytest.raises(VectorIndexError, match="outside"):
        ProductImages.from_lists(["a"], [[5]], np.eye(2, dtype=np.float32))
