"""The read side of a built workspace: what a ``Recommender`` loads and looks up."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore, normalize_title
from lookalike.embed.base import Embedder
from lookalike.embed.head import Head
from lookalike.embed.titles import load_title_encoder
from lookalike.embed.whiten import Whitening
from lookalike.errors import NotFoundError, VectorIndexError, WorkspaceError
from lookalike.index.base import ExactIndex, VectorIndex
from lookalike.index.exact import knn_exact
from lookalike.index.vectors import VectorSet
from lookalike.recommend.answerfile import PlainAnswers
from lookalike.recommend.expansion import Expansion, weighted_expansion
from lookalike.recommend.filters import Filters, Weights
from lookalike.recommend.hybrid import AttributeTable, HybridScorer
from lookalike.recommend.overlay import LiveVectors, Overlay, SyncJournal
from lookalike.recommend.results import table_filters
from lookalike.recommend.rules import FallbackPool, Rules, load_rules, save_rules
from lookalike.recommend.shopconfig import load_shop_config
from lookalike.recommend.space import served_expansion, served_whitening
from lookalike.recommend.topk import Neighbors
from lookalike.recommend.tuned import default_weights
from lookalike.workspace import Workspace

if TYPE_CHECKING:
    from lookalike.recommend.milvus import MilvusShopStore
    from lookalike.recommend.milvus_views import MilvusNeighbors, MilvusVectors

__all__ = ["LoadedWorkspace"]

_Self = TypeVar("_Self", bound="LoadedWorkspace")


class LoadedWorkspace:
    """Read side of a built workspace. Vectors are memory-mapped; models load on demand.

    Holds the build (store, vectors, top-K table, index), the shop's ``shop.toml`` and
    ``rules.json``, and the catalog-sync overlay laid over the build (``overlay.py``).
    """

    def __init__(
        self,
        workspace: Workspace | str,
        *,
        embedder: Embedder | None = None,
        weights: Weights | None = None,
    ):
        ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        ws.require_built()
        self.workspace = ws.pinned()  # one generation for this reader's whole life
        self.manifest = self.workspace.manifest()
        self.store: ProductStore = self.workspace.open_store()
        self.vectors: VectorSet | MilvusVectors
        self.neighbors: Neighbors | MilvusNeighbors
        self.index: VectorIndex
        self.milvus: MilvusShopStore | None = None
        try:
            self._load_parts()
        except (VectorIndexError, OSError, ValueError) as exc:
            self.store.close()
            raise WorkspaceError(
                f"{exc} (generation {self.workspace.served_dir.name}): run "
                f"`lookalike build {self.workspace.root} --catalog ...` again"
            ) from exc
        self._embedder = embedder
        # the query's weights, else the build's, else those tuned by `train --method weights`
        self.weights = weights or default_weights(self.manifest, self.workspace.weights_dir)
        self.table_filters = table_filters(self.manifest)
        self.default_filters = Filters(near_duplicate=self.table_filters.near_duplicate)
        self.journal = SyncJournal(self.workspace.sync_journal)
        self.overlay = Overlay(self.vectors.dim)
        self.overlay.apply(self.journal.entries(after=int(self.manifest.get("sync_seq", 0))))
        self.live = LiveVectors(self.vectors, self.overlay)
        self.config = load_shop_config(self.workspace.shop_config_path)
        self.rules = load_rules(self.workspace.rules_path)
        self._rules_version = 0

    def _load_parts(self) -> None:
        """Vectors, top-K table and index: from Milvus when built with ``--store``, else the
        generation's files, loaded now together so a later build cannot pair with them."""
        if self.manifest.get("store"):  # built with --store milvus...: served from Milvus
            from lookalike.recommend.milvus_views import open_milvus_parts

            self.vectors, self.neighbors, self.index = open_milvus_parts(
                self.manifest, self.workspace.shop
            )
            self.milvus = self.vectors.store
        else:
            local = self.workspace.product_vectors.load()
            self.vectors = local
            self.neighbors = Neighbors.load(self.workspace.neighbors_dir, local.ids)
            self.index = self._load_index(local)

    def close(self) -> None:
        """Release the product store (and the Milvus connection, when served from one)."""
        self.store.close()
        if self.milvus is not None:
            self.milvus.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lazily loaded parts ---------------------------------------------------------------

    def _load_index(self, vectors: VectorSet) -> VectorIndex:
        """The index the build saved (exact, HNSW, IVF-PQ, possibly compressed), loaded on first
        use; workspaces built before indexes were saved get an exact index over the vectors."""
        from lookalike.index.factory import load_index
        from lookalike.index.persist import INDEX_META

        if (self.workspace.index_dir / INDEX_META).exists():
            return load_index(self.workspace.index_dir, vectors)
        return ExactIndex(vectors, shared=True)

    @cached_property
    def all_vectors(self) -> VectorSet:
        """Every product vector in memory, for the full-catalog scorers (hybrid weights,
        euclidean/manhattan): the build's file, or loaded once from Milvus."""
        if isinstance(self.vectors, VectorSet):
            return self.vectors
        return self.vectors.materialised()

    @property
    def embedder(self) -> Embedder:
        """The image model the workspace was built with (loaded on first use)."""
        if self._embedder is None:
            from lookalike.embed.registry import get_embedder

            model = self.manifest["model"]
            if self.manifest.get("precision") == "int8":  # the shop's own calibrated model
                from lookalike.embed.quantize import int8_name

                model = str(self.workspace.model_file(int8_name(model)))
            self._embedder = get_embedder(model)
        return self._embedder

    @cached_property
    def plain_answers(self) -> PlainAnswers | None:
        """The generation's plain answers as JSON bytes (None: built without, or Milvus)."""
        if not isinstance(self.neighbors, Neighbors):
            return None
        return PlainAnswers.open(self.workspace.answer_files, self.neighbors.ids)

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
        vectors = self.all_vectors
        products = self.store.get_many(vectors.ids).values()
        return HybridScorer(vectors, self.title_vectors, AttributeTable(vectors.ids, products))

    @cached_property
    def head(self) -> Head | None:
        """The trained head the build applied (``None`` without one); checked by its hash."""
        record = self.manifest.get("head")
        if not record:
            return None
        head = Head.load(self.workspace.served_head_dir)
        if head.hash != record.get("hash"):
            raise VectorIndexError(
                f"the head in {self.workspace.served_head_dir} changed since the last build: "
                "run `lookalike build` again to apply it"
            )
        return head

    @cached_property
    def whitening(self) -> Whitening | None:
        """The PCA-whitening the build fitted and applied (``--whiten``), or None."""
        return served_whitening(self.workspace)

    @cached_property
    def expansion(self) -> Expansion | None:
        """The DBA / alpha-QE the build applied (``--expand``), or None."""
        return served_expansion(self.workspace)

    def embed_image(self, data: bytes) -> np.ndarray:
        """A new photo's vector in the product vectors' space: through the head, the
        whitening and alpha query expansion when the build applied them."""
        from lookalike.embed.pipeline import embed_one

        return self.to_product_space(embed_one(data, self.embedder))

    def to_product_space(self, vector: np.ndarray) -> np.ndarray:
        """A backbone vector through what the build applied to its product vectors."""
        if self.head is not None:
            vector = self.head.apply(vector[None, :])[0]
        if self.whitening is not None:
            vector = self.whitening.apply(vector[None, :])[0]
        return self.expand_query(vector)

    def expand_query(self, vector: np.ndarray) -> np.ndarray:
        """Alpha-QE: the query plus its top-K served vectors weighted ``max(cos, 0)^alpha``
        (``lookalike.recommend.expansion``); unchanged when the build did not expand."""
        if self.expansion is None or not len(self.live):
            return vector
        _, found = self.index.search(vector[None, :], self.expansion.k)
        rows = [self.live.get(pid) for pid in found[0] if pid]
        neighbours = [np.asarray(r, dtype=np.float32) for r in rows if r is not None]
        if not neighbours:
            return vector
        stacked = np.stack(neighbours)[None, :, :]
        return weighted_expansion(vector[None, :], stacked, self.expansion.alpha)[0]

    # -- lookups ---------------------------------------------------------------------------

    def product(self, product_id: str) -> Product:
        """A catalog product, with the sync overlay (``NotFoundError`` when unknown)."""
        found = self.products([product_id])
        if product_id not in found:
            raise NotFoundError(f"unknown product {product_id!r}")
        return found[product_id]

    def products(self, product_ids: list[str]) -> dict[str, Product]:
        """The known products among ``product_ids`` (the overlay's version where it has one)."""
        overlay = self.overlay
        if not overlay:
            return self.store.get_many(product_ids)
        out = self.store.get_many([i for i in product_ids if i not in overlay.changed])
        for pid in product_ids:
            product = overlay.product(pid)
            if product is not None:
                out[pid] = product
        return out

    def search_products(
        self, query: str = "", *, limit: int = 24, offset: int = 0
    ) -> list[Product]:
        """Products whose id or title contains ``query``, paged: the synced ones first, then
        the catalog's (deleted ones left out, changed ones in their new version)."""
        needle = normalize_title(query)
        synced = [
            p
            for p in self.overlay.products()
            if needle in normalize_title(p.title) or query.casefold() in p.id.casefold()
        ]
        changed = self.overlay.changed
        start = max(0, offset - len(synced))
        stored = self.store.search(query, limit=limit + len(changed), offset=start)
        merged = synced[offset:] + [p for p in stored if p.id not in changed]
        return merged[:limit]

    @property
    def version(self) -> str:
        """Changes since load (synced products, rules): answers cached under another version
        are stale."""
        return f"{self.overlay.seq}.{self._rules_version}"

    def set_rules(self, rules: Rules) -> None:
        """Replace the shop's merchandising rules (saved to ``rules.json`` first)."""
        save_rules(self.workspace.rules_path, rules)
        self.rules = rules
        self._rules_version += 1
        self.__dict__.pop("fallback_pool", None)

    @cached_property
    def fallback_pool(self) -> FallbackPool:
        """Fallback candidates per category (built on first use)."""
        return FallbackPool([*self.store.iter_products(), *self.overlay.products()], self.rules)

    def find_by_url(self, url: str) -> Product:
        """The product whose page URL is ``url`` (trailing slash ignored); ``NotFoundError``."""
        found = [p for p in self.store.find_by_url(url) if not self.overlay.is_deleted(p.id)]
        if not found:
            raise NotFoundError(f"no product with page URL {url!r}")
        return found[0]

    def find_by_title(self, title: str) -> Product:
        """The product titled ``title``: exact or normalised (case, spacing) match first, else
        the product with the nearest title embedding. ``NotFoundError`` when nothing has a title.
        """
        return self.find_by_title_scored(title)[0]

    def find_by_title_scored(self, title: str) -> tuple[Product, float]:
        """``find_by_title`` and its confidence: 1.0 for an exact title match, else the cosine
        between the title embeddings (the widget shows nothing below the shop's threshold)."""
        found = [p for p in self.store.find_by_title(title) if not self.overlay.is_deleted(p.id)]
        if found:
            return found[0], 1.0
        titles = self.title_vectors
        if not title.strip() or titles is None or not len(titles):
            raise NotFoundError(f"no product titled {title!r}")
        query = load_title_encoder().encode([title.strip()])
        scores, rows = knn_exact(query, titles.vectors, 1, "cosine")
        return self.product(titles.ids[int(rows[0, 0])]), float(scores[0, 0])
