"""What the routes ask of a shop's recommender, independent of HTTP: query options, lookups by
page title or URL, and the JSON shape of products.

Without filters and with the cosine metric, the recommender answers from the precomputed top-K
table (O(1)); a filter, another metric or ``k`` above the stored K makes it search the vectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, NotFoundError
from lookalike.recommend.query import MAX_K, QUERY_FIELDS, SimilarQuery, parse_query
from lookalike.recommend.similar import METRICS, Recommendation, Recommender
from lookalike.recommend.steer import similar_for_product, similar_for_vector

__all__ = [
    "METRICS",
    "MAX_K",
    "SimilarQuery",
    "find_by_title",
    "find_by_url",
    "plain_query",
    "product_json",
    "query_from_params",
    "recommendation_json",
    "similar_to_product",
    "similar_to_image",
]

ImageUrl = Callable[[Product], str | None]

# Page titles usually carry the shop's name: "Red summer dress | My Shop", "Dress – My Shop".
_TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014·:-]\s+")
_LISTS = {"attr", "same_attr", "exclude"}


def query_from_params(params: Mapping[str, Any], multi: Any = None) -> SimilarQuery:
    """A ``SimilarQuery`` from the query-model keys of a request's parameters (others are
    the page's own); ``multi(key)`` lists a repeated parameter's values."""
    values: dict[str, Any] = {}
    for key in QUERY_FIELDS:
        if key not in params:
            continue
        values[key] = multi(key) if multi is not None and key in _LISTS else params[key]
    return parse_query(values)


def plain_query(query: SimilarQuery) -> bool:
    """Whether a request asks for nothing but ``k`` (an A/B variant may then answer it)."""
    return not query.model_dump(exclude_none=True, exclude={"k"})


def similar_to_product(
    rec: Recommender, product_id: str, query: SimilarQuery, surface: str = "api"
) -> tuple[list[Recommendation], str]:
    """The product's nearest products and where they came from (``precomputed`` or ``index``)."""
    return similar_for_product(rec, product_id, query, surface)


def similar_to_image(
    rec: Recommender, data: bytes, query: SimilarQuery, surface: str = "api"
) -> list[Recommendation]:
    """The products nearest to a new photo, embedded with the shop's model."""
    return similar_for_vector(rec, rec.embed_image(data), query, surface)


def _title_candidates(title: str) -> list[str]:
    """The title itself, then its parts when it looks like ``"Product | Shop"``."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    return [title, *(p for p in parts if p != title)]


def find_by_title(rec: Recommender, title: str, min_confidence: float | None = None) -> Product:
    """The product a page title names: an exact (case-, accent-insensitive) title match, also
    with the shop's name around it (``"Dress | My Shop"``), else the recommender's nearest title
    embedding, when its cosine is at least ``min_confidence`` (``None``: any). ``NotFoundError``
    when the shop has no titles to compare with or nothing is close enough."""
    title = title[:1000]
    if not title.strip():
        raise ConfigError("title must not be empty")
    for candidate in _title_candidates(title):
        found = [p for p in rec.store.find_by_title(candidate) if not rec.overlay.is_deleted(p.id)]
        if found:
            return found[0]
    product, confidence = rec.find_by_title_scored(title)
    if min_confidence is not None and confidence < min_confidence:
        raise NotFoundError(
            f"no product title matches {title!r} closely enough "
            f"({confidence:.2f} < {min_confidence:.2f})"
        )
    return product


def find_by_url(rec: Recommender, url: str) -> Product:
    """The product whose page URL is ``url`` (a trailing slash ignored); ``NotFoundError``."""
    return rec.find_by_url(url)


def product_json(product: Product, image_url: ImageUrl) -> dict[str, object]:
    """A product as the API shows it (matches ``schemas.ProductOut``)."""
    return {
        "id": product.id,
        "title": product.title,
        "url": product.url,
        "image": image_url(product),
        "price": product.price,
        "category": product.category,
        "in_stock": product.in_stock,
        "attributes": {str(k): v for k, v in product.attrs.items()},
    }


def recommendation_json(rec: Recommendation, image_url: ImageUrl) -> dict[str, object]:
    """A recommendation as the API shows it (matches ``schemas.SimilarItem``)."""
    return {
        **product_json(rec.product, image_url),
        "rank": rec.rank,
        "score": round(rec.score, 6),
        "components": None
        if rec.components is None
        else {k: round(v, 6) for k, v in rec.components.items()},
        "rules": list(rec.rules),
    }
