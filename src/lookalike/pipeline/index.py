"""The index stage: the product vectors' search index, built, saved and measured."""

from __future__ import annotations

from lookalike.index.report import build_saved_index
from lookalike.pipeline.state import BuildState

__all__ = ["index_stage"]


def index_stage(state: BuildState) -> None:
    """Build the index the options ask for (exact below 50k products when ``auto``)."""
    assert state.vectors is not None, "the vectors stage runs first"
    options = state.options
    with state.timed("index"):
        state.index = build_saved_index(
            state.vectors,
            state.ws.index_dir,
            kind=options.index,
            pca=options.pca,
            quantize=options.quantize,
            progress=options.progress,
        )
