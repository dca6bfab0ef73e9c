"""The table stage: every product's top-K, with the default exclusions applied."""

from __future__ import annotations

import numpy as np

from lookalike.crashpoints import crash_point
from lookalike.index.factory import ANN_THRESHOLD, index_neighbors
from lookalike.index.report import IndexBuild
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState
from lookalike.recommend.aggregate import ProductImages, compute_neighbors_max
from lookalike.recommend.topk import Neighbors, compute_neighbors, exclude_from_table

__all__ = ["table_stage", "neighbor_table"]


def table_stage(state: BuildState) -> None:
    """Compute and save the top-K table of the product vectors."""
    assert state.vectors is not None and state.space is not None, "the vectors stage runs first"
    with state.timed("topk"):
        groups = {p.id: p.group_id for p in state.products} if state.options.exclude_group else None
        state.neighbors = neighbor_table(
            state.vectors,
            state.owned,
            state.space,
            state.options,
            groups,
            state.index,
            base=state.base_vectors,
        )
        state.neighbors.save(state.ws.neighbors_dir, shared_ids=True)  # ids: the product vectors'
    crash_point("table.done")


def neighbor_table(
    vectors: VectorSet,
    owned: dict[str, list[str]],
    cache: VectorSet,
    options: BuildOptions,
    groups: dict[str, str] | None = None,
    built: IndexBuild | None = None,
    base: VectorSet | None = None,
) -> Neighbors:
    """The top-K table: by product vector (mean) or by best image pair (max), with the default
    exclusions (same ``groups`` variants, near-duplicates) applied. Exact below the ANN
    threshold; above it, through an approximate ``built`` index (no N^2 work).

    ``base``: the product vectors before a transform (``--whiten``, ``--expand``); ranking is
    by ``vectors``, near-duplicates are judged on ``base`` (the threshold's own space)."""
    ann = built is not None and built.approximate and len(vectors) >= ANN_THRESHOLD
    dup_vectors = np.asarray((base if base is not None else vectors).vectors)
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
            vectors=dup_vectors,
        )
    if options.aggregate == "mean":
        return compute_neighbors(
            vectors,
            options.k,
            progress=options.progress,
            groups=groups,
            near_duplicate=options.near_duplicate,
            duplicates=None if base is None else dup_vectors,
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
        vectors=dup_vectors,  # duplicates by product vector, not by one picture
    )
