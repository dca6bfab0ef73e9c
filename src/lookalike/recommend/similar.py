"""Similar products for a product id, an image, a vector, a title or a page URL.

Two paths:

- **table**: the default query (default filters, cosine, image-only weights, ``k`` within the
  stored K) is a slice of the top-K table computed at build, O(1). The build already applied the
  default exclusions (self, same group, near-duplicates) to that table (see ``topk.py``).
- **search**: anything else ranks the catalog with the index (or ``knn_exact``, or the hybrid
  scorer) and walks down the ranking, fetching deeper (4x, 16x, ... up to every product) until
  ``k`` products pass the filters, so a filter never returns fewer than ``k`` when ``k``
  eligible products exist. MMR then re-ranks a pool of eligible products when asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.embed.titles import load_title_encoder
from lookalike.errors import ConfigError, VectorIndexError
from lookalike.index.exact import METRICS, check_metric
from lookalike.recommend.filters import Filters, Weights
from lookalike.recommend.loaded import LoadedWorkspace
from lookalike.recommend.milvus_views import MilvusIndex, filter_expression
from lookalike.recommend.results import Answer, Recommendation, table_filters
from lookalike.recommend.search import (
    Hit,
    Ranker,
    SearchQuery,
    hybrid_ranker,
    image_ranker,
    metric_ranker,
    overlay_ranker,
    search_catalog,
)

__all__ = ["Answer", "Recommendation", "Recommender", "METRICS", "table_filters"]


class Recommender(LoadedWorkspace):
    """Similar products of a built workspace (see the module docstring for the two paths).

    ``weights`` overrides the workspace's default weights (set at build, ``BuildOptions.weights``).
    """

    # -- similar products ------------------------------------------------------------------

    def similar(self, product_id: str, k: int = 10, **options: Any) -> list[Recommendation]:
        """The ``k`` products most similar to a catalog product: ``recommend`` (same keyword
        options: filters, metric, weights, explain) without the source."""
        return self.recommend(product_id, k, **options).results

    def answers_from_table(
        self, k: int, *, filters: Filters, metric: str, weights: Weights
    ) -> bool:
        """Whether a product query with these options is a slice of the top-K table."""
        return (
            not self.overlay  # a synced change since the build: the table may be stale
            and k <= self.neighbors.k
            and metric == "cosine"
            and weights.image_only
            and filters == self.table_filters
        )

    def recommend(
        self,
        product_id: str,
        k: int = 10,
        *,
        filters: Filters | None = None,
        metric: str = "cosine",
        weights: Weights | None = None,
        explain: bool = False,
    ) -> Answer:
        """The ``k`` products most similar to a catalog product, itself excluded, and their
        source (``precomputed`` or ``index``).

        ``NotFoundError`` for an unknown id; no results when the product has no usable image.
        """
        check_metric(metric)
        weights = weights or self.weights
        filters = filters or self.default_filters
        table = self.answers_from_table(k, filters=filters, metric=metric, weights=weights)
        source = "precomputed" if table else "index"
        query = self.product(product_id)  # NotFoundError for an unknown id
        vector = self.live.get(product_id)
        if vector is None or (table and product_id not in self.neighbors):
            return Answer([], source)
        if table:
            hits = self.neighbors.lookup(product_id, k)
            comps = (lambda s: {"image": weights.image * s}) if explain else (lambda s: None)
            return Answer(
                self._materialise([(pid, weights.image * s, comps(s)) for pid, s in hits]),
                source,
            )
        search = SearchQuery(
            vector=vector, k=k, filters=filters, query=query, exclude=frozenset({product_id})
        )
        return Answer(self._search(search, metric, weights, explain), source)

    def similar_to_vector(
        self,
        vector: np.ndarray,
        k: int = 10,
        *,
        filters: Filters | None = None,
        metric: str = "cosine",
        exclude: set[str] | frozenset[str] = frozenset(),
        query: Product | None = None,
        weights: Weights | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` products nearest to an image vector, leaving out ``exclude``.

        ``query`` is the product the vector stands for, when there is one: filters relative to
        it (same category, relative price, same attributes, its group) and hybrid title/attrs
        terms need it. Group and near-duplicate exclusion apply only when it is given: for a
        bare image the catalog's copy of that photo is the best answer, not a duplicate.
        """
        check_metric(metric)
        search = SearchQuery(
            vector=np.asarray(vector, np.float32),
            k=k,
            filters=filters or self.default_filters,
            query=query,
            exclude=frozenset(exclude),
        )
        return self._search(search, metric, weights or self.weights, explain)

    def similar_to_image(self, data: bytes, k: int = 10, **options: Any) -> list[Recommendation]:
        """The ``k`` products most similar to a new photo (``ImageError`` if it is unusable);
        through the trained head when the build applied one. ``options``: filters, metric,
        weights, explain (as for ``similar_to_vector``)."""
        return self.similar_to_vector(self.embed_image(data), k, **options)

    def similar_by_title(
        self, title: str, k: int = 10, **same_kwargs: Any
    ) -> tuple[Product, list[Recommendation]]:
        """``find_by_title`` then ``similar`` (keyword arguments as for ``similar``)."""
        product = self.find_by_title(title)
        return product, self.similar(product.id, k, **same_kwargs)

    # -- the search path -------------------------------------------------------------------

    def _ranker(
        self,
        vector: np.ndarray,
        metric: str,
        weights: Weights,
        query: Product | None,
        filters: Filters,
    ) -> Ranker:
        """``depth -> the best `depth` products`` for one query, under metric and weights."""
        if not weights.image_only:
            if metric != "cosine":
                raise ConfigError("title/attrs weights combine cosine scores: use metric=cosine")
            total, comps = self.hybrid.score_all(
                vector, self._title_vector(query, weights), query, weights
            )
            return hybrid_ranker(self.all_vectors.ids, total, comps)
        if metric == "cosine":
            index = self.index
            if isinstance(index, MilvusIndex):  # Milvus evaluates the scalar filters itself
                index = index.narrowed(filter_expression(filters, query))
            return image_ranker(index, vector, weights.image)
        return metric_ranker(self.all_vectors, vector, metric, weights.image)

    def _title_vector(self, query: Product | None, weights: Weights) -> np.ndarray | None:
        if query is None or not weights.title:
            return None
        stored = self.title_vectors.get(query.id) if self.title_vectors is not None else None
        if stored is not None:
            return stored
        if not query.title.strip() or query.title_invented:
            return None
        return load_title_encoder().encode([query.title.strip()])[0]

    def _search(
        self, search: SearchQuery, metric: str, weights: Weights, explain: bool
    ) -> list[Recommendation]:
        if search.k < 1 or not len(self.live):
            return []
        if search.vector.shape != (self.vectors.dim,):
            raise VectorIndexError(
                f"query has shape {search.vector.shape}, vectors are {self.vectors.dim}-d"
            )
        ranked = self._ranker(search.vector, metric, weights, search.query, search.filters)
        if self.overlay:
            weight = weights.image if metric == "cosine" and weights.image_only else None
            ranked = overlay_ranker(
                ranked, self.overlay, search.vector if weight is not None else None, weight or 1.0
            )
        kept = search_catalog(ranked, search, self.live, self.products)
        out: list[Recommendation] = []
        for (_pid, score, comps), product in kept:
            if comps is None and explain:
                comps = {"image": score}
            out.append(Recommendation(len(out) + 1, product, score, comps))
        return out

    def _materialise(self, hits: list[Hit]) -> list[Recommendation]:
        products = self.products([pid for pid, _, _ in hits])
        out: list[Recommendation] = []
        for pid, score, comps in hits:
            product = products.get(pid)
            if product is not None:  # removed since the table was computed
                out.append(Recommendation(len(out) + 1, product, score, comps))
        return out
