"""Small workspaces made from synthetic vectors, for recommendation logic that needs no images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lookalike.catalog.models import Product
from lookalike.index.vectors import VectorSet
from lookalike.recommend.topk import compute_neighbors
from lookalike.workspace import Workspace


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_workspace(
    root: Path,
    products: Sequence[Product],
    vectors: np.ndarray,
    *,
    k: int = 10,
    exclude_group: bool = True,
    near_duplicate: float | None = 0.97,
    weights: dict[str, float] | None = None,
) -> Workspace:
    """A built workspace whose product vectors are ``vectors`` (rows follow ``products``),
    written the way ``build_workspace`` writes them (table with the default exclusions)."""
    ws = Workspace(root).create()
    with ws.open_store() as store:
        store.replace_catalog(products)
    vset = VectorSet([p.id for p in products], unit(vectors))
    ws.product_vectors.save(vset)
    groups = {p.id: p.group_id for p in products} if exclude_group else None
    compute_neighbors(vset, k, groups=groups, near_duplicate=near_duplicate).save(ws.neighbors_dir)
    ws.write_manifest(
        {
            "model": "synthetic",
            "dim": vset.dim,
            "count": len(vset),
            "k": k,
            "recommend": {
                "weights": weights or {"image": 1.0, "title": 0.0, "attrs": 0.0},
                "exclude_group": exclude_group,
                "near_duplicate": near_duplicate,
                "titles": False,
            },
        }
    )
    return ws
