"""The publish step for ``--store milvus...``: the build's serving data into a new collection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lookalike.catalog.models import Product
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import BuildOptions
from lookalike.recommend.milvus import StoreSpec, publish_shop
from lookalike.recommend.topk import Neighbors

__all__ = ["publish_to_store"]


def publish_to_store(
    store: str,
    shop: str,
    products: Sequence[Product],
    vectors: VectorSet,
    neighbors: Neighbors,
    options: BuildOptions,
) -> dict[str, Any]:
    """Write every product with a vector (its fields and top-K) to a new generation of the
    shop's collection and move the alias onto it; returns the manifest's ``store`` record."""
    by_id = {p.id: p for p in products}
    ids = [pid for pid in vectors.ids if pid in by_id]
    table = {pid: neighbors.lookup(pid) for pid in ids}
    return publish_shop(
        StoreSpec.parse(store),
        shop,
        [by_id[pid] for pid in ids],
        vectors.take(ids).vectors,
        table,
        index_kind=options.index,
    )
