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
from lookalike.crashpoints import crash_point
from lookalike.embed.titles import TITLE_DIM, TitleEncoder, load_title_encoder
from lookalike.index.vectors import VectorFile, VectorSet
from lookalike.pipeline.titled import titled_products
from lookalike.progress import Progress
from lookalike.progress import task as progress_task

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
    cache = cache_file.load_or_empty(TITLE_DIM) if cache_file.exists() else None
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
    # Batches of similar lengths pad little: sort once over all titles (the model sorts only
    # inside one encode call), encode in chunks, put the rows back in input order.
    advance = progress_task(progress, "embedding titles", len(titles))
    order = np.argsort([len(t) for t in titles], kind="stable")
    rows = np.zeros((len(titles), encoder.dim), np.float32)
    for start in range(0, len(titles), _CHUNK):
        picked = order[start : start + _CHUNK]
        rows[picked] = encoder.encode([titles[i] for i in picked])
        advance(len(picked))
    return rows


def titles_stage(state: BuildState) -> None:
    """Embed new titles and save one title vector per product with a real title (not a file
    name or id, see :mod:`lookalike.pipeline.titled`). Skipped when titles are turned off."""
    if not state.options.titles:
        return
    with state.timed("titles"):
        state.titles = update_title_vectors(
            state.ws.title_cache,
            state.ws.title_vectors,
            titled_products(state.products),  # made-up titles (file names, ids) skipped
            progress=state.options.progress,
        )
    crash_point("titles.done")
