"""Product-to-product similarity over several images per product: mean or max of image pairs.

``mean`` needs no code here: a product's vector is the normalised mean of its image vectors
(``build.py``) and the top-K comes from :func:`~lookalike.recommend.topk.compute_neighbors`.
``max`` scores two products by their best-matching pair of images, ``max_{i in p, j in q}
cos(x_i, x_j)``, so a product photographed from the front matches another one's front shot
even when their back shots differ. It is computed image block against image block, each block
reduced to products at once: memory is O(block_rows x block_cols), never products x products.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from lookalike.errors import VectorIndexError
from lookalike.index.exact import topk_rows
from lookalike.recommend.topk import Neighbors

__all__ = ["AGGREGATES", "ProductImages", "compute_neighbors_max"]

AGGREGATES = ("mean", "max")
DEFAULT_BLOCK_ROWS = 1024  # image rows of the query side of one block
DEFAULT_BLOCK_COLS = 16384  # image rows of the base side of one block


class ProductImages:
    """Which image vectors belong to which product, without copying the vectors.

    ``vectors`` (M, dim) are the distinct image vectors (L2-normalised); product ``i`` owns
    ``vectors[rows[offsets[i]:offsets[i + 1]]]``, at least one row each.
    """

    def __init__(
        self, ids: Sequence[str], vectors: np.ndarray, rows: np.ndarray, offsets: np.ndarray
    ) -> None:
        self.ids = list(ids)
        self.vectors = vectors
        self.rows = np.asarray(rows, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if self.offsets.shape != (len(self.ids) + 1,) or self.offsets[0] != 0:
            raise VectorIndexError("offsets must start at 0 and have one entry per product + 1")
        if self.offsets[-1] != len(self.rows) or np.any(np.diff(self.offsets) < 1):
            raise VectorIndexError("every product needs at least one image row")
        if len(self.rows) and (self.rows.min() < 0 or self.rows.max() >= len(vectors)):
            raise VectorIndexError("image rows point outside the vectors")

    @classmethod
    def from_lists(
        cls, ids: Sequence[str], images: Sequence[Sequence[int]], vectors: np.ndarray
    ) -> ProductImages:
        """From one list of image row numbers per product."""
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(rows) for rows in images])
        flat = [row for rows in images for row in rows]
        return cls(ids, vectors, np.asarray(flat, dtype=np.int64), offsets)

    def __len__(self) -> int:
        return len(self.ids)

    def blocks(self, max_rows: int) -> Iterator[tuple[int, int]]:
        """Product ranges ``[start, stop)`` of at most ``max_rows`` image rows (or 1 product)."""
        start, n = 0, len(self.ids)
        while start < n:
            limit = self.offsets[start] + max_rows
            stop = int(np.searchsorted(self.offsets, limit, side="right")) - 1
            stop = min(max(stop, start + 1), n)
            yield start, stop
            start = stop

    def gather(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The image vectors of products ``[start, stop)`` and each product's first row in it."""
        first, last = self.offsets[start], self.offsets[stop]
        block = np.asarray(self.vectors[self.rows[first:last]], dtype=np.float32)
        return block, self.offsets[start:stop] - first


def _merge(
    values: np.ndarray, cols: np.ndarray, new_values: np.ndarray, new_cols: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the best ``k`` of two candidate lists per row; ties go to the lower column."""
    all_values = np.concatenate([values, new_values], axis=1)
    all_cols = np.concatenate([cols, new_cols], axis=1)
    order = np.lexsort((all_cols, -all_values), axis=1)[:, :k]
    best = np.take_along_axis(all_values, order, axis=1)
    return best, np.take_along_axis(all_cols, order, axis=1)


def compute_neighbors_max(
    products: ProductImages,
    k: int,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    block_cols: int = DEFAULT_BLOCK_COLS,
) -> Neighbors:
    """Exact top-``k`` products by max-over-image-pairs cosine, self excluded."""
    n = len(products)
    k_eff = max(0, min(k, n - 1))
    rows = np.full((n, k), -1, dtype=np.int32)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    if k_eff == 0:
        return Neighbors(products.ids, rows, scores)
    base_blocks = list(products.blocks(block_cols))
    for q_start, q_stop in products.blocks(block_rows):
        query, q_firsts = products.gather(q_start, q_stop)
        best_values = np.full((q_stop - q_start, 0), -np.inf, dtype=np.float32)
        best_cols = np.zeros((q_stop - q_start, 0), dtype=np.int64)
        for b_start, b_stop in base_blocks:
            base, b_firsts = products.gather(b_start, b_stop)
            sims = query @ base.T
            # image rows -> products: max over each product's contiguous run of rows/columns
            sims = np.maximum.reduceat(sims, q_firsts, axis=0)
            sims = np.maximum.reduceat(sims, b_firsts, axis=1)
            overlap = np.arange(max(q_start, b_start), min(q_stop, b_stop))
            sims[overlap - q_start, overlap - b_start] = -np.inf  # never oneself
            values, cols = topk_rows(sims, k_eff)
            best_values, best_cols = _merge(best_values, best_cols, values, cols + b_start, k_eff)
        best_cols[~np.isfinite(best_values)] = -1
        rows[q_start:q_stop, :k_eff] = best_cols
        scores[q_start:q_stop, :k_eff] = best_values
    return Neighbors(products.ids, rows, scores)
