""" "More like these, less like that": recommendations from positive and negative examples.

Examples are catalog products (their vectors) and/or new photos (embedded). Two strategies, as
vector databases offer them:

- ``average_vector``: search with ``avg(pos) + (avg(pos) - avg(neg))`` (just ``avg(pos)``
  without negatives): one query vector, so the index answers it.
- ``best_score``: every product scores its best cosine to a positive; when it is closer to a
  negative than to any positive its score is minus that negative cosine, so it sinks.

The query's filters apply as for one product; relative filters (``category=same``, relative
price, ``same_attr``) compare with the first positive product. The examples themselves are
never recommended.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.index.vectors import VectorSet
from lookalike.recommend.query import SimilarQuery
from lookalike.recommend.results import Recommendation
from lookalike.recommend.search import SearchQuery, hybrid_ranker, search_catalog
from lookalike.recommend.similar import Recommender
from lookalike.recommend.steer import resolve, similar_for_vector, steer_results

__all__ = ["STRATEGIES", "recommend_from_examples"]

Strategy = Literal["average_vector", "best_score"]
STRATEGIES: tuple[str, ...] = ("average_vector", "best_score")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _vectors(rec: Recommender, ids: list[str], images: list[np.ndarray]) -> np.ndarray:
    rows = []
    for pid in ids:
        rec.product(pid)  # NotFoundError (404) for an unknown id
        vector = rec.live.get(pid)
        if vector is None:
            raise ConfigError(f"product {pid!r} has no image vector to use as an example")
        rows.append(vector)
    rows += images
    return np.asarray(rows, np.float32).reshape(len(rows), rec.vectors.dim)


def recommend_from_examples(
    rec: Recommender,
    query: SimilarQuery,
    *,
    positive: list[str],
    negative: list[str] | None = None,
    positive_images: list[np.ndarray] | None = None,
    negative_images: list[np.ndarray] | None = None,
    strategy: str = "average_vector",
    surface: str = "api",
) -> list[Recommendation]:
    """Products like the positives and unlike the negatives, under ``query``."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}: use {' or '.join(STRATEGIES)}")
    negative = negative or []
    pos = _vectors(rec, positive, positive_images or [])
    neg = _vectors(rec, negative, negative_images or [])
    if not len(pos):
        raise ConfigError("give at least one positive example (a product id or an image)")
    anchor: Product | None = rec.product(positive[0]) if positive else None
    exclude = frozenset(positive) | frozenset(negative)
    if strategy == "average_vector":
        mean = _unit(pos.mean(axis=0))
        vector = mean + (mean - _unit(neg.mean(axis=0))) if len(neg) else mean
        return similar_for_vector(
            rec, _unit(vector), query, surface, exclude=exclude, product=anchor
        )
    return _best_score(rec, resolve(rec, query, surface), pos, neg, anchor, exclude)


def _best_score(
    rec: Recommender,
    query: SimilarQuery,
    pos: np.ndarray,
    neg: np.ndarray,
    anchor: Product | None,
    exclude: frozenset[str],
) -> list[Recommendation]:
    live = rec.live
    ids = [pid for pid in rec.all_vectors.ids if pid in live]
    ids += [pid for pid in rec.overlay.vector_set().ids if pid not in set(ids)]
    base = VectorSet(ids, live.take(ids).vectors) if ids else VectorSet.empty(rec.vectors.dim)
    x = np.asarray(base.vectors, np.float32)
    best_pos = (x @ _unit(pos).T).max(axis=1) if len(x) else np.zeros(0, np.float32)
    score = best_pos
    if len(neg) and len(x):
        best_neg = (x @ _unit(neg).T).max(axis=1)
        score = np.where(best_neg > best_pos, -best_neg, best_pos)
    ranked = hybrid_ranker(base.ids, score.astype(np.float32), {"image": score})
    filters = query.filters(rec.table_filters.near_duplicate) or rec.default_filters
    k = rec.rules.depth(query.size) + len(query.exclude or ())
    vector = _unit(pos.mean(axis=0))
    search = SearchQuery(vector=vector, k=k, filters=filters, query=anchor, exclude=exclude)
    kept = search_catalog(ranked, search, live, rec.products)
    explain = bool(query.explain)
    found = [
        Recommendation(i, product, hit[1], {"image": hit[1]} if explain else None)
        for i, (hit, product) in enumerate(kept, start=1)
    ]
    return steer_results(rec, query, found, anchor)
