"""Hybrid scores: image similarity + title similarity + attribute match, as a weighted sum.

``score = w_image * cos(image) + w_title * cos(title) + w_attrs * attribute_match`` where the
weights come from ``Weights``. Each weighted term is kept as a *component*, so a recommendation
can explain itself and its components sum to its score.

Attribute match (``attribute_match``): among ``ATTRIBUTE_KEYS`` (category, brand, colour, ...),
take the keys for which the *query* product has a value; the score is the share of those keys
on which the candidate has the same value (compared case- and spacing-insensitively), in [0, 1].
A query with none of these keys scores 0 for every candidate. Keys the query lacks do not count,
so a sparse query is not penalised for attributes nobody filled in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lookalike.catalog.models import Product
from lookalike.index.vectors import VectorSet
from lookalike.recommend.filters import Weights, attr_value

__all__ = ["ATTRIBUTE_KEYS", "AttributeTable", "HybridScorer", "attribute_match"]

ATTRIBUTE_KEYS = (
    "category",
    "brand",
    "vendor",
    "color",
    "colour",
    "material",
    "gender",
    "pattern",
    "style",
)


def attribute_match(
    query: Product, product: Product, keys: Sequence[str] = ATTRIBUTE_KEYS
) -> float:
    """Share of the query's attributes (among ``keys``) that ``product`` has with equal value."""
    wanted = {k: v for k in keys if (v := attr_value(query, k))}
    if not wanted:
        return 0.0
    return sum(attr_value(product, k) == v for k, v in wanted.items()) / len(wanted)


class AttributeTable:
    """Normalised attribute values of many products, one column per key, for vectorised scoring."""

    def __init__(
        self, ids: Sequence[str], products: Iterable[Product], keys: Sequence[str] = ATTRIBUTE_KEYS
    ):
        self.keys = tuple(keys)
        row_of = {pid: i for i, pid in enumerate(ids)}
        self.columns = {k: np.full(len(ids), "", dtype=object) for k in self.keys}
        for product in products:
            row = row_of.get(product.id)
            if row is None:
                continue
            for key in self.keys:
                self.columns[key][row] = attr_value(product, key)

    def scores(self, query: Product) -> np.ndarray:
        """``attribute_match(query, p)`` for every row, float32."""
        wanted = {k: v for k in self.keys if (v := attr_value(query, k))}
        n = len(next(iter(self.columns.values()))) if self.columns else 0
        out = np.zeros(n, dtype=np.float32)
        if not wanted:
            return out
        for key, value in wanted.items():
            out += self.columns[key] == value
        return out / len(wanted)


class HybridScorer:
    """Weighted image + title + attribute scores of a query against every image-vector row."""

    def __init__(
        self,
        images: VectorSet,
        titles: VectorSet | None,
        attributes: AttributeTable,
    ):
        self.images = images
        self.attributes = attributes
        dim = titles.dim if titles is not None and len(titles) else 0
        # title rows aligned with the image rows; zero where a product has no title vector
        self.titles = np.zeros((len(images), dim), dtype=np.float32)
        if titles is not None and dim:
            rows = titles.row_of()
            for i, pid in enumerate(images.ids):
                j = rows.get(pid)
                if j is not None:
                    self.titles[i] = titles.vectors[j]

    def score_all(
        self,
        image_vector: np.ndarray,
        title_vector: np.ndarray | None,
        query: Product | None,
        weights: Weights,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(total (N,), {"image", "title", "attrs"} weighted components (N,))``.

        Without a title vector (or product) for the query, the title (or attrs) term is 0.
        """
        n = len(self.images)
        q = np.asarray(image_vector, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        comps = {"image": weights.image * (np.asarray(self.images.vectors) @ q)}
        title = np.zeros(n, np.float32)
        if weights.title and title_vector is not None and self.titles.shape[1]:
            title = self.titles @ np.asarray(title_vector, dtype=np.float32)
        comps["title"] = weights.title * title
        attrs = np.zeros(n, np.float32)
        if weights.attrs and query is not None:
            attrs = self.attributes.scores(query)
        comps["attrs"] = weights.attrs * attrs
        comps = {k: v.astype(np.float32) for k, v in comps.items()}
        total = comps["image"] + comps["title"] + comps["attrs"]
        return total, comps
