"""Hybrid image + title + attribute ranking for the ``weights`` comparison axis.

Scores come from :class:`lookalike.recommend.hybrid.HybridScorer`, the same scorer
``lookalike similar --weights`` uses, over the workspace's title vectors (built by
``lookalike build`` unless ``--no-titles``) and the catalog's attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.index.exact import topk_rows
from lookalike.index.vectors import VectorSet
from lookalike.workspace import Workspace

__all__ = ["HybridRanking", "hybrid_ranking"]

RowScores = Callable[[int], np.ndarray]


class HybridRanking:
    """``scores(row)``: the hybrid score of catalog row ``row`` against every row."""

    def __init__(self, scores: RowScores, n: int, uses_metadata: bool) -> None:
        self.scores = scores
        self.n = n
        self.uses_metadata = uses_metadata

    def search(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """Top-``k + 1`` of each of ``rows`` (self included, dropped by the caller)."""
        t0 = time.perf_counter()
        dists = np.full((len(rows), k + 1), -np.inf, dtype=np.float32)
        found = np.full((len(rows), k + 1), -1, dtype=np.int64)
        for i, row in enumerate(rows):
            d, f = topk_rows(self.scores(int(row))[None, :], k + 1)
            dists[i, : d.shape[1]], found[i, : f.shape[1]] = d[0], f[0]
        return dists, found, time.perf_counter() - t0


def hybrid_ranking(
    ws: Workspace,
    weights_text: str,
    ids: list[str],
    vectors: np.ndarray,
    products: dict[str, Product],
) -> HybridRanking:
    """The hybrid scorer of ``weights_text`` (``"image=0.7,title=0.3"``) over rows ``ids``."""
    from lookalike.recommend.filters import Weights
    from lookalike.recommend.hybrid import AttributeTable, HybridScorer

    weights = Weights.parse(weights_text)
    built_with_titles = (ws.manifest().get("recommend") or {}).get("titles", True)
    titles = (
        ws.title_vectors.load(mmap=False)
        if built_with_titles and ws.title_vectors.exists()
        else None
    )
    if weights.title and titles is None:
        raise ConfigError(
            f"weights {weights_text!r} need title vectors: rebuild {ws.root} without --no-titles"
        )
    rows = [products[pid] for pid in ids]
    scorer = HybridScorer(VectorSet(list(ids), vectors), titles, AttributeTable(ids, rows))

    def scores(row: int) -> np.ndarray:
        title = titles.get(ids[row]) if titles is not None and weights.title else None
        total, _ = scorer.score_all(vectors[row], title, rows[row], weights)
        return np.asarray(total, dtype=np.float32)

    return HybridRanking(scores, len(ids), uses_metadata=bool(weights.attrs or weights.title))
