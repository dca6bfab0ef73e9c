"""What the routes ask of a shop's recommender, independent of HTTP: query options, lookups by
page title or URL, and the JSON shape of products.

Without filters and with the cosine metric, the recommender answers from the precomputed top-K
table (O(1)); a filter, another metric or ``k`` above the stored K makes it search the vectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError
from lookalike.index.exact import check_metric
from lookalike.recommend.filters import Filters
from lookalike.recommend.similar import METRICS, Recommendation, Recommender

__all__ = [
    "METRICS",
    "MAX_K",
    "SimilarOptions",
    "find_by_title",
    "find_by_url",
    "product_json",
    "recommendation_json",
    "similar_to_product",
    "similar_to_image",
]

MAX_K = 100

ImageUrl = Callable[[Product], str | None]

# Page titles usually carry the shop's name: "Red summer dress | My Shop", "Dress – My Shop".
_TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014·:-]\s+")


@dataclass(frozen=True, kw_only=True)
class SimilarOptions:
    """Query options of a similar-products request, validated on construction.

    ``filters`` is ``None`` when no filter was given: the shop's defaults apply (and the
    precomputed table can answer).
    """

    k: int = 10
    metric: str = "cosine"
    filters: Filters | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {self.k}")
        check_metric(self.metric)

    @classmethod
    def parse(
        cls,
        *,
        k: int = 10,
        metric: str = "cosine",
        category: str | None = None,
        in_stock: bool | None = None,
        min_price: float | None = None,
        max_price: float | None = None,
    ) -> SimilarOptions:
        """From query parameters (``None`` = not given); ``ConfigError`` on a bad value."""
        given = {
            "category": category,
            "in_stock": in_stock,
            "min_price": min_price,
            "max_price": max_price,
        }
        given = {name: value for name, value in given.items() if value is not None}
        filters = Filters.parse(**given) if given else None
        return cls(k=k, metric=metric, filters=filters)


def similar_to_product(
    rec: Recommender, product_id: str, options: SimilarOptions
) -> tuple[list[Recommendation], str]:
    """The product's nearest products and where they came from (``precomputed`` or ``index``)."""
    return rec.recommend(product_id, options.k, filters=options.filters, metric=options.metric)


def similar_to_image(
    rec: Recommender, data: bytes, options: SimilarOptions
) -> list[Recommendation]:
    """The products nearest to a new photo, embedded with the shop's model."""
    return rec.similar_to_image(data, options.k, filters=options.filters, metric=options.metric)


def _title_candidates(title: str) -> list[str]:
    """The title itself, then its parts when it looks like ``"Product | Shop"``."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    return [title, *(p for p in parts if p != title)]


def find_by_title(rec: Recommender, title: str) -> Product:
    """The product a page title names: an exact (case-, accent-insensitive) title match, also
    with the shop's name around it (``"Dress | My Shop"``), else the recommender's nearest title
    embedding. ``NotFoundError`` when the shop has no titles to compare with."""
    title = title[:1000]
    if not title.strip():
        raise ConfigError("title must not be empty")
    for candidate in _title_candidates(title):
        found = rec.store.find_by_title(candidate)
        if found:
            return found[0]
    return rec.find_by_title(title)


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
    }


def recommendation_json(rec: Recommendation, image_url: ImageUrl) -> dict[str, object]:
    """A recommendation as the API shows it (matches ``schemas.SimilarItem``)."""
    return {
        **product_json(rec.product, image_url),
        "rank": rec.rank,
        "score": round(rec.score, 6),
    }
