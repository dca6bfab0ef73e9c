"""The answers stage: every product's plain similar answer as JSON bytes, in the generation."""

from __future__ import annotations

from lookalike.catalog.store import ProductStore
from lookalike.pipeline.state import BuildState
from lookalike.recommend.answerfile import write_answers

__all__ = ["answers_stage"]


def answers_stage(state: BuildState) -> None:
    """Write the answers the service sends for plain requests (from the generation's own
    product snapshot, so they are byte for byte what the service would build)."""
    if state.neighbors is None or state.published:
        return  # served from an external store: its table answers, live
    with state.timed("answers"), ProductStore(state.ws.served_db, read_only=True) as store:
        write_answers(state.ws.answer_files, state.neighbors, store, state.options.weights.image)
