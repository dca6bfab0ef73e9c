"""The vectors stage: product vectors from image vectors (mean, optional trained head)."""

from __future__ import annotations

import numpy as np

from lookalike.embed.head import Head
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.images import usable_images
from lookalike.pipeline.options import BuildOptions
from lookalike.pipeline.state import BuildState
from lookalike.workspace import Workspace

__all__ = ["aggregate_mean", "load_head", "vectors_stage"]


def vectors_stage(state: BuildState, head: Head | None) -> None:
    """One vector per product with a usable image, saved as the workspace's product vectors.

    With a ``head`` the products get the head's space; the embedding cache stays backbone-only.
    """
    assert state.cache is not None, "the embed stage runs first"
    with state.timed("index"):
        space = state.cache
        if head is not None:
            space = VectorSet(space.ids, head.apply(space.vectors))
        state.space = space
        state.owned = usable_images(state.products, state.images, space)
        # the mean is also kept for --aggregate max: query by image searches it
        state.vectors = aggregate_mean(state.owned, space)
        state.ws.product_vectors.save(state.vectors)


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

    folder = ws.head_dir
    if options.head == "none" or not Head.exists(folder):
        return None
    head = Head.load(folder)
    if head.meta.get("model_key") != key or head.input_dim != dim:
        raise ConfigError(
            f"the head in {folder} was trained on {head.meta.get('model_key')} embeddings "
            f"({head.input_dim}-d), not {key} ({dim}-d): train it again or use --head none"
        )
    return head
