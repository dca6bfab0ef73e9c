"""Product vectors from image vectors (mean, optional head) and the top-K table."""

from __future__ import annotations

import numpy as np

from lookalike.embed.head import HEAD_DIR, Head
from lookalike.index.factory import ANN_THRESHOLD, index_neighbors
from lookalike.index.report import IndexBuild
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import BuildOptions
from lookalike.recommend.aggregate import ProductImages, compute_neighbors_max
from lookalike.recommend.topk import Neighbors, compute_neighbors, exclude_from_table
from lookalike.workspace import Workspace

__all__ = ["aggregate_mean", "load_head", "neighbor_table"]


def aggregate_mean(owned: dict[str, list[str]], cache: VectorSet) -> VectorSet:
    """One vector per product: the normalised mean of its usable image vectors."""
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for product_id, shas in owned.items():
        mean = np.mean(cache.take(shas).vectors, axis=0)
        norm = float(np.linalg.norm(mean))
        if norm > 0:
            ids.append(product_id)
            rows.append(mean / norm)
    dim = cache.dim
    vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), dim)
    return VectorSet(ids, vectors)


def load_head(ws: Workspace, options: BuildOptions, key: str, dim: int) -> Head | None:
    """The trained head to apply, or None; a head trained for another model is an error."""
    from lookalike.errors import ConfigError

    folder = ws.root / HEAD_DIR
    if options.head == "none" or not Head.exists(folder):
        return None
    head = Head.load(folder)
    if head.meta.get("model_key") != key or head.input_dim != dim:
        raise ConfigError(
            f"the head in {folder} was trained on {head.meta.get('model_key')} embeddings "
            f"({head.input_dim}-d), not {key} ({dim}-d): train it again or use --head none"
        )
    return head


def neighbor_table(
    vectors: VectorSet,
    owned: dict[str, list[str]],
    cache: VectorSet,
    options: BuildOptions,
    groups: dict[str, str] | None = None,
    built: IndexBuild | None = None,
) -> Neighbors:
    """The top-K table: by product vector (mean) or by best image pair (max), with the default
    exclusions (same ``groups`` variants, near-duplicates) applied. Exact below the ANN
    threshold; above it, through an approximate ``built`` index (no N^2 work)."""
    ann = built is not None and built.approximate and len(vectors) >= ANN_THRESHOLD
    if options.aggregate == "mean" and ann:
        assert built is not None
        # like max below: over-fetch 3x through the index, then drop the excluded entries
        rows, scores = index_neighbors(
            built.index, vectors, 3 * options.k, progress=options.progress
        )
        return exclude_from_table(
            Neighbors(list(vectors.ids), rows, scores),
            options.k,
            groups=groups,
            near_duplicate=options.near_duplicate,
            vectors=np.asarray(vectors.vectors),
        )
    if options.aggregate == "mean":
        return compute_neighbors(
            vectors,
            options.k,
            progress=options.progress,
            groups=groups,
            near_duplicate=options.near_duplicate,
        )
    row_of = cache.row_of()
    images = ProductImages.from_lists(
        vectors.ids, [[row_of[s] for s in owned[pid]] for pid in vectors.ids], cache.vectors
    )
    # max has no deepening search: over-fetch 3x, then drop the excluded entries
    wide = compute_neighbors_max(images, 3 * options.k)
    return exclude_from_table(
        wide,
        options.k,
        groups=groups,
        near_duplicate=options.near_duplicate,
        vectors=np.asarray(vectors.vectors),  # duplicates by product vector, not by one picture
    )
