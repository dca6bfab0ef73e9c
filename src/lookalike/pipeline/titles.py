"""Build stage: title vectors for hybrid scoring and query by title, cached by title text.

``update_title_vectors`` embeds each distinct title once and caches the vector by the SHA-256 of
the title text (``embeddings/titles-minilm.npy``), so a rebuild embeds only new or changed
titles and does not even load the model when there are none. The per-product result is
``title_vectors.npy`` + ``title_vectors.ids.json`` (a ``VectorSet``, L2-normalised, 384-d).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.catalog.models import Product
from lookalike.embed.titles import TITLE_DIM, TitleEncoder, load_title_encoder
from lookalike.index.vectors import VectorSet
from lookalike.workspace import TITLE_CACHE, TITLE_VECTORS

__all__ = ["TitleReport", "title_key", "update_title_vectors"]

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
    root: Path, cache_dir: Path, products: Iterable[Product], *, progress: bool = False
) -> TitleReport:
    """Embed the titles of ``products`` (cached by title hash) and save ``title_vectors``.

    Products with an empty title get no vector. The model is loaded only when a title is new.
    """
    titled = [(p.id, p.title.strip()) for p in products if p.title.strip()]
    keys = {title_key(t): t for _, t in titled}
    cache = (
        VectorSet.load(cache_dir, TITLE_CACHE, mmap=False)
        if VectorSet.exists(cache_dir, TITLE_CACHE)
        else None
    )
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.save(cache_dir, TITLE_CACHE)
    vectors = np.asarray([cache.get(title_key(t)) for _, t in titled], dtype=np.float32)
    VectorSet([pid for pid, _ in titled], vectors.reshape(len(titled), cache.dim)).save(
        root, TITLE_VECTORS
    )
    return report


def _encode(encoder: TitleEncoder, titles: list[str], progress: bool) -> np.ndarray:
    if not progress or len(titles) <= _CHUNK:
        return encoder.encode(titles)
    from rich.progress import Progress

    parts: list[np.ndarray] = []
    with Progress(transient=True) as bar:
        task = bar.add_task("embedding titles", total=len(titles))
        for start in range(0, len(titles), _CHUNK):
            chunk = titles[start : start + _CHUNK]
            parts.append(encoder.encode(chunk))
            bar.advance(task, len(chunk))
    return np.concatenate(parts)
