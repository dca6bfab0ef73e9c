"""The titles stage: MiniLM title vectors for hybrid scoring and query by title."""

from __future__ import annotations

from lookalike.pipeline.state import BuildState

__all__ = ["titles_stage"]


def titles_stage(state: BuildState) -> None:
    """Embed new titles (cached by title hash; the model loads only when one is new) and save
    one title vector per titled product. Skipped when the build turned titles off."""
    if not state.options.titles:
        return
    from lookalike.recommend.text import update_title_vectors

    with state.timed("titles"):
        state.titles = update_title_vectors(
            state.ws.title_cache,
            state.ws.title_vectors,
            state.products,
            progress=state.options.progress,
        )
