"""A query as a shop steers it: the query model over the shop's defaults (``shop.toml``), the
search, then the merchandising rules (``rules.json``). The CLI, the API, the browse page and
the widget all answer through these functions, so one query gives one list everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.recommend.query import MAX_K, SimilarQuery
from lookalike.recommend.results import Answer, Recommendation
from lookalike.recommend.rules import apply_rules
from lookalike.recommend.similar import Recommender

__all__ = ["resolve", "similar_for_product", "similar_for_vector", "steer_results"]


def resolve(rec: Recommender, query: SimilarQuery, surface: str) -> SimilarQuery:
    """``query`` with the shop's defaults for ``surface`` filled in."""
    return query.with_defaults(*rec.config.layers(surface))


def steer_results(
    rec: Recommender,
    query: SimilarQuery,
    found: list[Recommendation],
    product: Product | None,
) -> list[Recommendation]:
    """Drop the query's own exclusions, then apply the shop's rules."""
    skip = set(query.exclude or ())
    found = [r for r in found if r.product.id not in skip]
    filters = query.filters(rec.table_filters.near_duplicate) or rec.default_filters
    eligible = filters.predicate(product) if product is not None else None
    steered = apply_rules(
        found,
        rec.rules,
        query=product,
        k=query.size,
        threshold=query.threshold,
        fallback=rec.fallback_pool.candidates,
        lookup=rec.products,
        eligible=(lambda p: p.id not in skip and eligible(p)) if eligible else None,
    )
    return steered


def _search_options(rec: Recommender, query: SimilarQuery) -> dict[str, Any]:
    """The recommender's options for ``query``: filters, metric, weights, explain."""
    return {
        "filters": query.filters(rec.table_filters.near_duplicate),
        "metric": query.metric or "cosine",
        "weights": query.weights_or(rec.weights),
        "explain": bool(query.explain),
    }


def _depth(rec: Recommender, query: SimilarQuery) -> int:
    return min(MAX_K * 5, rec.rules.depth(query.size) + len(query.exclude or ()))


def similar_for_product(
    rec: Recommender, product_id: str, query: SimilarQuery, surface: str = "api"
) -> Answer:
    """Similar products of a catalog product under ``query`` as ``surface`` answers it."""
    query = resolve(rec, query, surface)
    product = rec.product(product_id)
    answer = rec.recommend(product_id, _depth(rec, query), **_search_options(rec, query))
    return Answer(steer_results(rec, query, answer.results, product), answer.source)


def similar_for_vector(
    rec: Recommender,
    vector: np.ndarray,
    query: SimilarQuery,
    surface: str = "api",
    *,
    exclude: frozenset[str] = frozenset(),
    product: Product | None = None,
) -> list[Recommendation]:
    """Products near an image vector (a new photo) under ``query``; ``product``: the catalog
    product it stands for, when there is one (relative filters need it)."""
    query = resolve(rec, query, surface)
    options = _search_options(rec, query)
    results = rec.similar_to_vector(
        vector, _depth(rec, query), exclude=exclude, query=product, **options
    )
    return steer_results(rec, query, results, product)
