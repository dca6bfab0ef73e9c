"""Similar products for a product id (precomputed table) or for a new image (index search)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.catalog.store import ProductStore
from lookalike.embed.base import Embedder
from lookalike.embed.head import HEAD_DIR, Head
from lookalike.errors import VectorIndexError
from lookalike.index.base import ExactIndex
from lookalike.index.vectors import VectorSet
from lookalike.recommend.topk import Neighbors
from lookalike.workspace import Workspace

__all__ = ["Recommendation", "Recommender", "PRODUCT_VECTORS"]

PRODUCT_VECTORS = "product_vectors"


@dataclass(frozen=True)
class Recommendation:
    """One recommended product with its similarity score (cosine, higher is closer)."""

    rank: int
    product: Product
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rank, score and the product's fields (main image as ``image``)."""
        data = self.product.to_dict()
        data["image"] = self.product.images[0] if self.product.images else ""
        return {"rank": self.rank, "score": round(self.score, 6), **data}


class Recommender:
    """Read side of a built workspace. Loads vectors memory-mapped; the model only on demand."""

    def __init__(self, workspace: Workspace | str, *, embedder: Embedder | None = None):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.workspace.require_built()
        self.manifest = self.workspace.manifest()
        self.store: ProductStore = self.workspace.open_store()
        self.vectors = VectorSet.load(self.workspace.root, PRODUCT_VECTORS)
        self.neighbors = Neighbors.load(self.workspace.root)
        self._embedder = embedder

    def close(self) -> None:
        """Release the product store."""
        self.store.close()

    def __enter__(self) -> Recommender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def index(self) -> ExactIndex:
        """Exact index over the product vectors (built on first use)."""
        return ExactIndex(self.vectors)

    @property
    def embedder(self) -> Embedder:
        """The model the workspace was built with (loaded on first use)."""
        if self._embedder is None:
            from lookalike.embed.registry import get_embedder

            self._embedder = get_embedder(self.manifest["model"])
        return self._embedder

    def _materialise(self, hits: list[tuple[str, float]]) -> list[Recommendation]:
        products = self.store.get_many([pid for pid, _ in hits])
        out: list[Recommendation] = []
        for pid, score in hits:
            product = products.get(pid)
            if product is not None:  # removed since the table was computed
                out.append(Recommendation(len(out) + 1, product, score))
        return out

    def similar(self, product_id: str, k: int = 10) -> list[Recommendation]:
        """The ``k`` most similar products to a catalog product, itself excluded.

        ``NotFoundError`` for an unknown id; an empty list when the product has no usable image.
        """
        if product_id not in self.neighbors:
            self.store.get(product_id)  # raises NotFoundError for an unknown id
            return []
        if k <= self.neighbors.k:
            return self._materialise(self.neighbors.lookup(product_id, k))
        vector = self.vectors.get(product_id)
        if vector is None:
            return []
        return self.similar_to_vector(vector, k, exclude={product_id})

    def similar_to_vector(
        self, vector: np.ndarray, k: int = 10, *, exclude: set[str] | frozenset[str] = frozenset()
    ) -> list[Recommendation]:
        """The ``k`` products nearest to an embedding vector, leaving out ``exclude``."""
        scores, ids = self.index.search(np.asarray(vector, np.float32)[None, :], k + len(exclude))
        hits = [
            (pid, float(s))
            for pid, s in zip(ids[0], scores[0], strict=True)
            if pid and pid not in exclude
        ]
        return self._materialise(hits[:k])

    @cached_property
    def head(self) -> Head | None:
        """The trained head the build applied (``None`` without one); checked by its hash."""
        record = self.manifest.get("head")
        if not record:
            return None
        head = Head.load(self.workspace.root / HEAD_DIR)
        if head.hash != record.get("hash"):
            raise VectorIndexError(
                f"the head in {self.workspace.root / HEAD_DIR} changed since the last build: "
                "run `lookalike build` again to apply it"
            )
        return head

    def embed_image(self, data: bytes) -> np.ndarray:
        """A new photo's vector in the product vectors' space (through the head when built so)."""
        from lookalike.embed.pipeline import embed_one

        vector = embed_one(data, self.embedder)
        return vector if self.head is None else self.head.apply(vector[None, :])[0]

    def similar_to_image(self, data: bytes, k: int = 10) -> list[Recommendation]:
        """The ``k`` products most similar to a new photo (``ImageError`` if it is unusable)."""
        return self.similar_to_vector(self.embed_image(data), k)

    def product(self, product_id: str) -> Product:
        """A catalog product (``NotFoundError`` when unknown)."""
        return self.store.get(product_id)
