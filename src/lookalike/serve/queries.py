"""What the routes ask of a shop's recommender, independent of HTTP: option checks, lookups by
page title or URL, and the JSON shape of products.

The recommendation engine answers with cosine similarity over the precomputed top-K table (or
the index beyond it). Other metrics and attribute filters are accepted as parameters and checked
here; until the engine supports them they are refused with a clear 422, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lookalike.catalog.models import Product
from lookalike.errors import ConfigError, NotFoundError
from lookalike.recommend.similar import Recommendation, Recommender

__all__ = [
    "METRICS",
    "SUPPORTED_METRICS",
    "MAX_K",
    "SimilarOptions",
    "find_by_title",
    "find_by_url",
    "product_json",
    "recommendation_json",
    "similar_to_product",
]

METRICS = ("cosine", "euclidean", "manhattan")
SUPPORTED_METRICS = ("cosine",)
MAX_K = 100

ImageUrl = Callable[[Product], str | None]

# Page titles usually carry the shop's name: "Red summer dress | My Shop", "Dress – My Shop".
_TITLE_SEPARATORS = re.compile(r"\s+[|\u2013\u2014·:-]\s+")


@dataclass(frozen=True, kw_only=True)
class SimilarOptions:
    """Query options of a similar-products request, validated on construction."""

    k: int = 10
    metric: str = "cosine"
    category: str | None = None
    in_stock: bool | None = None
    min_price: float | None = None
    max_price: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}: use one of {', '.join(METRICS)}")
        if self.metric not in SUPPORTED_METRICS:
            raise ConfigError(
                f"metric {self.metric!r} is not supported yet by this server's recommendation "
                f"engine (supported: {', '.join(SUPPORTED_METRICS)})"
            )
        if self.min_price is not None and self.max_price is not None:
            if self.min_price > self.max_price:
                raise ConfigError("min_price is above max_price")
        if self.has_filters:
            raise ConfigError(
                "filters (category, in_stock, min_price, max_price) are not supported yet by "
                "this server's recommendation engine"
            )

    @property
    def has_filters(self) -> bool:
        """Whether any attribute filter was given."""
        return any(
            v is not None for v in (self.category, self.in_stock, self.min_price, self.max_price)
        )


def similar_to_product(
    rec: Recommender, product_id: str, options: SimilarOptions
) -> tuple[list[Recommendation], str]:
    """The product's nearest products and where they came from (``precomputed`` or ``index``)."""
    source = "precomputed" if options.k <= rec.neighbors.k else "index"
    return rec.similar(product_id, options.k), source


def _title_candidates(title: str) -> list[str]:
    """The title itself, then its parts when it looks like ``"Product | Shop"``."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    return [title, *(p for p in parts if p != title)]


def find_by_title(rec: Recommender, title: str) -> Product:
    """The product whose title matches ``title`` (case- and accent-insensitive), also when
    ``title`` is a page title with the shop's name around it; ``NotFoundError`` otherwise."""
    if not title.strip():
        raise ConfigError("title must not be empty")
    for candidate in _title_candidates(title[:1000]):
        found = rec.store.find_by_title(candidate)
        if found:
            return found[0]
    raise NotFoundError(f"no product titled {title[:200]!r}")


def find_by_url(rec: Recommender, url: str) -> Product:
    """The product whose page URL is ``url`` (a trailing slash ignored); ``NotFoundError``."""
    found = rec.store.find_by_url(url)
    if not found:
        raise NotFoundError(f"no product with page URL {url[:500]!r}")
    return found[0]


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
