"""The publish step for ``--store milvus...``: the build's serving data into a new collection."""

from __future__ import annotations

import logging

from lookalike.pipeline.state import BuildState

__all__ = ["store_stage"]

log = logging.getLogger(__name__)


def store_stage(state: BuildState) -> None:
    """With ``--store``: write every product with a vector (its filter fields and top-K) to a
    new generation of the shop's collection and move the alias onto it (``state.published``)."""
    if not state.options.store:
        return
    from lookalike.recommend.milvus import StoreSpec
    from lookalike.recommend.milvus_publish import publish_shop

    assert state.vectors is not None and state.neighbors is not None, "the table stage runs first"
    if not len(state.vectors):  # a failed build: the shop's published collection stays served
        log.warning("no product has a vector: %s is not published to Milvus", state.ws.shop)
        return
    with state.timed("store"):
        by_id = {p.id: p for p in state.products}
        ids = [pid for pid in state.vectors.ids if pid in by_id]
        state.published = publish_shop(
            StoreSpec.parse(state.options.store),
            state.ws.shop,
            [by_id[pid] for pid in ids],
            state.vectors.take(ids).vectors,
            {pid: state.neighbors.lookup(pid) for pid in ids},
            index_kind=state.options.index,
        )
