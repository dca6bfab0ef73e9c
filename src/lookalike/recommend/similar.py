"""Similar products for a product id, an image, a vector, a title or a page URL.

Two paths:

- **table**: the default query (default filters, cosine, image-only weights, ``k`` within the
  stored K) is a slice of the top-K table computed at build, O(1). The build already applied the
  default exclusions (self, same group, near-duplicates) to that table (see ``topk.py``).
- **search**: anything else ranks the catalog with the index (or ``knn_metric``, or the hybrid
  scorer) and walks down the ranking, fetching deeper (4x, 16x, ... up to every product) until
  ``k`` products pass the filters, so a filter never returns fewer than ``k`` when ``k``
  eligible products exist. MMR then re-ranks a pool of eligible products when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.embed.base import Embedder
from lookalike.embed.head import Head
from lookalike.embed.titles import load_title_encoder
from lookalike.errors import ConfigError, NotFoundError, VectorIndexError
from lookalike.index.base import ExactIndex, VectorIndex
from lookalike.index.metrics import METRICS, check_metric, knn_metric
from lookalike.index.vectors import VectorSet
from lookalike.recommend.diversity import mmr
from lookalike.recommend.filters import DEFAULT_NEAR_DUPLICATE, Filters, Weights
from lookalike.recommend.hybrid import AttributeTable, HybridScorer
from lookalike.recommend.search import (
    Hit,
    Ranker,
    collect,
    hybrid_ranker,
    image_ranker,
    metric_ranker,
)
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace

__all__ = ["Recommendation", "Recommender", "METRICS", "table_filters"]

_MMR_POOL = 4  # MMR picks k out of the best 4k eligible products


@dataclass(frozen=True)
class Recommendation:
    """One recommended product and its score (higher is closer).

    The score is the cosine similarity for the default image-only ranking, minus the distance
    for the euclidean/manhattan metrics, and the weighted sum for hybrid weights. ``components``
    (when asked for, or hybrid) holds the weighted image/title/attrs terms; they sum to ``score``.
    """

    rank: int
    product: Product
    score: float
    components: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rank, score, components (when present) and the product's fields."""
        data = self.product.to_dict()
        data["image"] = self.product.images[0] if self.product.images else ""
        out: dict[str, Any] = {"rank": self.rank, "score": round(self.score, 6)}
        if self.components is not None:
            out["components"] = {k: round(v, 6) for k, v in self.components.items()}
        return {**out, **data}


def table_filters(manifest: dict[str, Any]) -> Filters:
    """The filters the build applied to the top-K table (self-only for an older workspace)."""
    conf = manifest.get("recommend")
    if not isinstance(conf, dict):
        return Filters(exclude_group=False, near_duplicate=None)
    return Filters(
        exclude_group=bool(conf.get("exclude_group", True)),
        near_duplicate=conf.get("near_duplicate", DEFAULT_NEAR_DUPLICATE),
    )


class Recommender:
    """Read side of a built workspace. Vectors are memory-mapped; models load on demand.

    ``weights`` overrides the workspace's default weights (set at build, ``BuildOptions.weights``).
    """

    def __init__(
        self,
        workspace: Workspace | str,
        *,
        embedder: Embedder | None = None,
        weights: Weights | None = None,
    ):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.workspace.require_built()
        self.manifest = self.workspace.manifest()
        self.store: ProductStore = self.workspace.open_store()
        self.vectors = self.workspace.product_vectors.load()
        self.neighbors = Neighbors.load(self.workspace.neighbors_dir)
        # loaded now, with the vectors, so a rebuild running later cannot pair this snapshot
        # with a newer index
        self.index = self._load_index()
        self._embedder = embedder
        conf = self.manifest.get("recommend") or {}
        self.weights = weights or Weights.parse(conf.get("weights"))
        self.table_filters = table_filters(self.manifest)
        self.default_filters = Filters(near_duplicate=self.table_filters.near_duplicate)

    def close(self) -> None:
        """Release the product store."""
        self.store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lazily loaded parts ---------------------------------------------------------------

    def _load_index(self) -> VectorIndex:
        """The index the build saved (exact, HNSW, IVF-PQ, possibly compressed), loaded on first
        use; workspaces built before indexes were saved get an exact index over the vectors."""
        from lookalike.index.factory import load_index
        from lookalike.index.persist import INDEX_META

        if (self.workspace.index_dir / INDEX_META).exists():
            return load_index(self.workspace.index_dir)
        return ExactIndex(self.vectors)

    @property
    def embedder(self) -> Embedder:
        """The image model the workspace was built with (loaded on first use)."""
        if self._embedder is None:
            from lookalike.embed.registry import get_embedder

            self._embedder = get_embedder(self.manifest["model"])
        return self._embedder

    @cached_property
    def title_vectors(self) -> VectorSet | None:
        """Per-product title vectors saved by the build (``None`` when built without them)."""
        built_with = (self.manifest.get("recommend") or {}).get("titles", True)
        if not built_with or not self.workspace.title_vectors.exists():
            return None  # never trust title vectors a later build did not refresh
        return self.workspace.title_vectors.load()

    @cached_property
    def hybrid(self) -> HybridScorer:
        """Image + title + attribute scorer over every product with an image vector."""
        products = self.store.get_many(self.vectors.ids).values()
        return HybridScorer(
            self.vectors, self.title_vectors, AttributeTable(self.vectors.ids, products)
        )

    @cached_property
    def head(self) -> Head | None:
        """The trained head the build applied (``None`` without one); checked by its hash."""
        record = self.manifest.get("head")
        if not record:
            return None
        head = Head.load(self.workspace.head_dir)
        if head.hash != record.get("hash"):
            raise VectorIndexError(
                f"the head in {self.workspace.head_dir} changed since the last build: "
                "run `lookalike build` again to apply it"
            )
        return head

    def embed_image(self, data: bytes) -> np.ndarray:
        """A new photo's vector in the product vectors' space (through the head when built so)."""
        from lookalike.embed.pipeline import embed_one

        vector = embed_one(data, self.embedder)
        return vector if self.head is None else self.head.apply(vector[None, :])[0]

    # -- lookups ---------------------------------------------------------------------------

    def product(self, product_id: str) -> Product:
        """A catalog product (``NotFoundError`` when unknown)."""
        return self.store.get(product_id)

    def find_by_url(self, url: str) -> Product:
        """The product whose page URL is ``url`` (trailing slash ignored); ``NotFoundError``."""
        found = self.store.find_by_url(url)
        if not found:
            raise NotFoundError(f"no product with page URL {url!r}")
        return found[0]

    def find_by_title(self, title: str) -> Product:
        """The product titled ``title``: exact or normalised (case, spacing) match first, else
        the product with the nearest title embedding. ``NotFoundError`` when nothing has a title.
        """
        found = self.store.find_by_title(title)
        if found:
            return found[0]
        titles = self.title_vectors
        if not title.strip() or titles is None or not len(titles):
            raise NotFoundError(f"no product titled {title!r}")
        query = load_title_encoder().encode([title.strip()])
        _, rows = knn_metric(query, np.asarray(titles.vectors), 1, "cosine")
        return self.store.get(titles.ids[int(rows[0, 0])])

    # -- similar products ------------------------------------------------------------------

    def similar(
        self,
        product_id: str,
        k: int = 10,
        *,
        filters: Filters | None = None,
        metric: str = "cosine",
        weights: Weights | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` products most similar to a catalog product, itself excluded.

        ``NotFoundError`` for an unknown id; an empty list when the product has no usable image.
        """
        check_metric(metric)
        weights = weights or self.weights
        filters = filters or self.default_filters
        if product_id not in self.neighbors or product_id not in self.vectors:
            self.store.get(product_id)  # raises NotFoundError for an unknown id
            return []
        if (
            k <= self.neighbors.k
            and metric == "cosine"
            and weights.image_only
            and filters == self.table_filters
        ):
            hits = self.neighbors.lookup(product_id, k)
            comps = (lambda s: {"image": weights.image * s}) if explain else (lambda s: None)
            return self._materialise([(pid, weights.image * s, comps(s)) for pid, s in hits])
        vector = self.vectors.get(product_id)
        assert vector is not None
        return self._search(
            vector,
            k,
            filters=filters,
            metric=metric,
            weights=weights,
            query=self.store.get(product_id),
            exclude=frozenset({product_id}),
            explain=explain,
        )

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
        return self._search(
            np.asarray(vector, np.float32),
            k,
            filters=filters or self.default_filters,
            metric=metric,
            weights=weights or self.weights,
            query=query,
            exclude=frozenset(exclude),
            explain=explain,
        )

    def similar_to_image(
        self,
        data: bytes,
        k: int = 10,
        *,
        filters: Filters | None = None,
        metric: str = "cosine",
        weights: Weights | None = None,
        explain: bool = False,
    ) -> list[Recommendation]:
        """The ``k`` products most similar to a new photo (``ImageError`` if it is unusable);
        through the trained head when the build applied one."""
        return self.similar_to_vector(
            self.embed_image(data),
            k,
            filters=filters,
            metric=metric,
            weights=weights,
            explain=explain,
        )

    def similar_by_title(
        self, title: str, k: int = 10, **same_kwargs: Any
    ) -> tuple[Product, list[Recommendation]]:
        """``find_by_title`` then ``similar`` (keyword arguments as for ``similar``)."""
        product = self.find_by_title(title)
        return product, self.similar(product.id, k, **same_kwargs)

    # -- the search path -------------------------------------------------------------------

    def _ranker(
        self, vector: np.ndarray, metric: str, weights: Weights, query: Product | None
    ) -> Ranker:
        """``depth -> the best `depth` products`` for one query, under metric and weights."""
        if not weights.image_only:
            if metric != "cosine":
                raise ConfigError("title/attrs weights combine cosine scores: use metric=cosine")
            total, comps = self.hybrid.score_all(
                vector, self._title_vector(query, weights), query, weights
            )
            return hybrid_ranker(self.vectors.ids, total, comps)
        if metric == "cosine":
            return image_ranker(self.index, vector, weights.image)
        return metric_ranker(self.vectors, vector, metric, weights.image)

    def _title_vector(self, query: Product | None, weights: Weights) -> np.ndarray | None:
        if query is None or not weights.title:
            return None
        stored = self.title_vectors.get(query.id) if self.title_vectors is not None else None
        if stored is not None:
            return stored
        if not query.title.strip():
            return None
        return load_title_encoder().encode([query.title.strip()])[0]

    def _search(
        self,
        vector: np.ndarray,
        k: int,
        *,
        filters: Filters,
        metric: str,
        weights: Weights,
        query: Product | None,
        exclude: frozenset[str],
        explain: bool,
    ) -> list[Recommendation]:
        if k < 1 or not len(self.vectors):
            return []
        if vector.shape != (self.vectors.dim,):
            raise VectorIndexError(
                f"query has shape {vector.shape}, vectors are {self.vectors.dim}-d"
            )
        eligible = filters.predicate(query)
        group = query.group_id if query is not None and filters.exclude_group else ""
        # near-duplicates of a *product* are re-uploads to hide; for a bare photo or vector
        # (query by image) the same photo in the catalog is the answer, so they stay
        near_dup = filters.near_duplicate if query is not None else None
        unit = vector / max(float(np.linalg.norm(vector)), 1e-12)
        row_of = self.vectors.row_of()
        ranked = self._ranker(vector, metric, weights, query)
        need = k if filters.diversity is None else k * _MMR_POOL

        def accept(fresh: list[Hit]) -> list[tuple[Hit, Product]]:
            # an index saved by a newer build (before this shop is reloaded) may know ids that
            # these vectors do not: skip them rather than fail the request
            fresh = [h for h in fresh if h[0] in row_of]
            products = self.store.get_many([h[0] for h in fresh])
            rows = [row_of[h[0]] for h in fresh]
            # near-duplicates are judged on the image cosine, whatever the ranking metric
            cosines = np.asarray(self.vectors.vectors[rows]) @ unit if rows else np.zeros(0)
            out = []
            for hit, cos in zip(fresh, cosines, strict=True):
                product = products.get(hit[0])
                if (
                    product is None
                    or product.id in exclude
                    or (group and product.group_id == group)
                    or (near_dup is not None and cos > near_dup)
                    or not eligible(product)
                ):
                    continue
                out.append((hit, product))
            return out

        kept = collect(
            ranked,
            need,
            depth=_MMR_POOL * (need + len(exclude)),
            total=len(self.vectors),
            accept=accept,
        )
        kept.sort(key=lambda item: -item[0][1])  # stable: keeps the ranker's tie order
        if filters.diversity is not None and len(kept) > 1:
            pool_vectors = np.asarray(self.vectors.vectors[[row_of[h[0]] for h, _ in kept]])
            order = mmr(np.array([h[1] for h, _ in kept]), pool_vectors, k, filters.diversity)
            kept = [kept[i] for i in order]
        out: list[Recommendation] = []
        for (_pid, score, comps), product in kept[:k]:
            if comps is None and explain:
                comps = {"image": score}
            out.append(Recommendation(len(out) + 1, product, score, comps))
        return out

    def _materialise(self, hits: list[Hit]) -> list[Recommendation]:
        products = self.store.get_many([pid for pid, _, _ in hits])
        out: list[Recommendation] = []
        for pid, score, comps in hits:
            product = products.get(pid)
            if product is not None:  # removed since the table was computed
                out.append(Recommendation(len(out) + 1, product, score, comps))
        return out
