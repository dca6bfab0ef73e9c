"""Recommendations from catalog data only (no images): same category, nearest price, shared
attributes. The baseline that visual similarity is A/B tested against.

Score in [0, 1]: ``(same_category + (price_similarity + attribute_similarity) / 2) / 2`` where
price similarity is ``min(p, q) / max(p, q)`` (0 when a price is missing) and attribute
similarity is the Jaccard index of the ``(name, value)`` pairs. Products of the same category
therefore always rank first; the others only fill the list when the category is too small.
Ties keep catalog order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.errors import NotFoundError
from lookalike.recommend.similar import Recommendation

__all__ = ["AttributeRecommender", "attribute_pairs"]


def attribute_pairs(product: Product) -> frozenset[tuple[str, str]]:
    """The product's attributes as case-insensitive ``(name, value)`` pairs, empty ones left out."""
    pairs = set()
    for key, value in product.attrs.items():
        if value is None:
            continue
        text = " ".join(str(value).split()).casefold()
        if text:
            pairs.add((str(key).strip().casefold(), text))
    return frozenset(pairs)


@dataclass(frozen=True)
class _Row:
    product: Product
    pairs: frozenset[tuple[str, str]]


class AttributeRecommender:
    """Attribute-based similar products over a snapshot of the product store.

    The snapshot is taken at construction (one pass over the store); make a new instance after
    the catalog changes.
    """

    def __init__(self, store: ProductStore):
        self._rows = [_Row(p, attribute_pairs(p)) for p in store.iter_products()]
        self._index = {row.product.id: i for i, row in enumerate(self._rows)}
        self._categories = np.array([r.product.category for r in self._rows], dtype=object)
        self._prices = np.array(
            [
                r.product.price if r.product.price is not None and r.product.price > 0 else np.nan
                for r in self._rows
            ],
            dtype=np.float64,
        )

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._index

    @property
    def ids(self) -> list[str]:
        """Product ids of the snapshot, in catalog order (the order of ``scores``)."""
        return [row.product.id for row in self._rows]

    def product_at(self, row: int) -> Product:
        """The product of one row of the snapshot."""
        return self._rows[row].product

    def same_category(self, product_id: str) -> np.ndarray:
        """Boolean mask of the products sharing ``product_id``'s category (all when it has
        none), itself included."""
        if product_id not in self._index:
            raise NotFoundError(f"unknown product {product_id!r}")
        category = self._rows[self._index[product_id]].product.category
        if not category:
            return np.ones(len(self._rows), dtype=bool)
        return self._categories == category

    def scores(self, product_id: str) -> np.ndarray:
        """Score of every product of the snapshot against ``product_id`` (itself: -1)."""
        if product_id not in self._index:
            raise NotFoundError(f"unknown product {product_id!r}")
        q = self._index[product_id]
        query = self._rows[q]
        category = query.product.category
        same = (self._categories == category).astype(np.float64) if category else 0.0
        price = self._prices[q]
        with np.errstate(invalid="ignore"):
            price_sim = np.minimum(self._prices, price) / np.maximum(self._prices, price)
        price_sim = np.nan_to_num(price_sim, nan=0.0)
        attr_sim = np.zeros(len(self._rows))
        if query.pairs:
            for i, row in enumerate(self._rows):
                if row.pairs:
                    shared = len(query.pairs & row.pairs)
                    if shared:
                        attr_sim[i] = shared / len(query.pairs | row.pairs)
        score = (same + (price_sim + attr_sim) / 2.0) / 2.0
        score[q] = -1.0
        return score

    def similar(self, product_id: str, k: int = 10) -> list[Recommendation]:
        """The ``k`` best products by attribute score, ``product_id`` itself excluded."""
        score = self.scores(product_id)
        same = self.same_category(product_id)
        # Same category first even on a tied score (0.5 is reachable from both sides); lexsort
        # is stable, so equal keys keep catalog order.
        order = np.lexsort((-score, ~same))
        order = order[score[order] >= 0.0][:k]  # drops the query itself (score -1)
        return [
            Recommendation(rank, self._rows[i].product, float(score[i]))
            for rank, i in enumerate(order.tolist(), start=1)
        ]
