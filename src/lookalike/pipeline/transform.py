"""The transform stage: label-free transforms fitted on the catalog (``--whiten``, ``--expand``).

Runs after the vectors stage, before the index and the top-K table, so the index, the table
and the served product vectors are all in the transformed space:

- ``--whiten S``: PCA-whitening with shrinkage ``S`` (:mod:`lookalike.embed.whiten`) fitted on
  the product vectors, saved in the generation (``Workspace.whitening_path``) and applied to
  the product vectors (and every image vector when ``--aggregate max`` ranks those); the service
  applies the same file to image queries.
- ``--expand dba[:K[:ALPHA]]``: database-side augmentation of the product vectors
  (:mod:`lookalike.recommend.expansion`); the service expands image queries with their top-K
  served vectors (alpha-QE) with the same ``K`` and ``ALPHA``.

Both are deterministic. The untransformed product vectors are kept for the build's
near-duplicate rule (its threshold is a cosine of the model's own space).
"""

from __future__ import annotations

import logging

from lookalike.embed.whiten import Whitening
from lookalike.errors import ConfigError
from lookalike.index.vectors import VectorSet
from lookalike.pipeline.state import BuildState
from lookalike.recommend.expansion import database_augmentation

__all__ = ["transform_stage"]

log = logging.getLogger(__name__)


def transform_stage(state: BuildState) -> None:
    """Fit and apply the transforms the options ask for; records them in ``state.transform``."""
    options = state.options
    assert state.vectors is not None and state.space is not None, "the vectors stage runs first"
    if options.whiten is None and options.expand is None:
        return
    with state.timed("transform"):
        state.base_vectors = vectors = state.vectors
        if options.whiten is not None:
            whitening = _fit(vectors, options.whiten)
            if whitening is not None:
                whitening.save(state.ws.whitening_path)
                vectors = VectorSet(vectors.ids, whitening.apply(vectors.vectors))
                if options.aggregate == "max":  # the table ranks image pairs
                    space = state.space
                    state.space = VectorSet(space.ids, whitening.apply(space.vectors))
                state.transform["whiten"] = {"shrink": options.whiten, "fitted_on": len(vectors)}
        expand = options.expand
        if expand is not None and len(vectors):
            expanded = database_augmentation(vectors.vectors, expand.k, expand.alpha)
            vectors = VectorSet(vectors.ids, expanded)
            state.transform["expand"] = expand.record()
        state.vectors = vectors
        state.ws.product_vectors.save(vectors)


def _fit(vectors: VectorSet, shrink: float) -> Whitening | None:
    """The whitening of these vectors, or None (logged) when they cannot define one."""
    try:
        return Whitening.fit(vectors.vectors, shrink)
    except ConfigError as exc:  # fewer than two products, or all identical
        log.warning("whitening skipped: %s", exc)
        return None
