"""The titles stage: MiniLM title vectors for hybrid scoring and query by title.

``update_title_vectors`` embeds each distinct title once and caches the vector by the SHA-256 of
the title text (``Workspace.title_cache``), so a rebuild embeds only new or changed titles and
does not even load the model when there are none. The per-product result is
``Workspace.title_vectors`` (a ``VectorSet``, L2-normalised, 384-d).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lookalike.catalog.models import Product
from lookalike.embed.titles import TITLE_DIM, TitleEncoder, load_title_encoder
from lookalike.index.vectors import VectorSet
from lookalike.progress import Progress
from lookalike.progress import task as progress_task
from lookalike.workspace import VectorFile

if TYPE_CHECKING:
    from lookalike.pipeline.state import BuildState

__all__ = ["TitleReport", "title_key", "titles_stage", "update_title_vectors"]

_CHUNK = 256  # titles per progress step


def title_key(title: str) -> str:
    """Cache key of a title: SHA-256 of its exact text (the model sees the exact text)."""
    return hashlib.sha256(title.encode("utf-8")).hexdigest()


@dataclass
class TitleReport:
    """What the title stage did."""

    titled: int = 0  # products with a non-empty title
    embedded: int = 0  # distinct titles run through the model this build
    cached: int = 0  # distinct titles found in the cache


def update_title_vectors(
    cache_file: VectorFile,
    out: VectorFile,
    products: Iterable[Product],
    *,
    progress: Progress | None = None,
) -> TitleReport:
    """Embed the titles of ``products`` (cached by title hash in ``cache_file``) and save one
    vector per titled product to ``out`` (``Workspace.title_cache`` / ``.title_vectors``).

    Products with an empty title get no vector. The model is loaded only when a title is new.
    """
    titled = [(p.id, p.title.strip()) for p in products if p.title.strip()]
    keys = {title_key(t): t for _, t in titled}
    cache = cache_file.load(mmap=False) if cache_file.exists() else None
    todo = [k for k in keys if cache is None or k not in cache]
    report = TitleReport(titled=len(titled), embedded=len(todo), cached=len(keys) - len(todo))
    if todo:
        encoder = load_title_encoder()
        rows = _encode(encoder, [keys[k] for k in todo], progress)
        new = VectorSet(todo, rows)
        cache = new if cache is None or cache.dim != new.dim else cache.merged(new)
    if cache is None:  # no titles at all
        cache = VectorSet.empty(TITLE_DIM)
    cache = cache.merged(VectorSet.empty(cache.dim), keep=list(keys))
    cache_file.save(cache)
    vectors = np.asarray([cache.get(title_key(t)) for _, t in titled], dtype=np.float32)
    out.save(VectorSet([pid for pid, _ in titled], vectors.reshape(len(titled), cache.dim)))
    return report


def _encode(encoder: TitleEncoder, titles: list[str], progress: Progress | None) -> np.ndarray:
    advance = progress_task(progress, "embedding titles", len(titles))
    parts: list[np.ndarray] = []
    for start in range(0, len(titles), _CHUNK):
        chunk = titles[start : start + _CHUNK]
        parts.append(encoder.encode(chunk))
        advance(len(chunk))
    return np.concatenate(parts) if parts else encoder.encode([])


def titles_stage(state: BuildState) -> None:
    """Embed new titles and save one title vector per titled product. Skipped when the build
    turned titles off."""
    if not state.options.titles:
        return
    with state.timed("titles"):
        state.titles = update_title_vectors(
            state.ws.title_cache,
            state.ws.title_vectors,
            state.products,
            progress=state.options.progress,
        )
