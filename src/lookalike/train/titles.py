"""Title embeddings for "near-identical title" positives (MiniLM, offline).

The build stores per-product title vectors (``title_vectors``, from ``lookalike.pipeline.titles``);
they are reused when present, and only missing titles are run through the model.
"""

from __future__ import annotations

import numpy as np

from lookalike.index.vectors import VectorFile

__all__ = ["embed_titles", "title_vectors_for"]

_DIM = 384


def embed_titles(titles: list[str]) -> np.ndarray:
    """float32 ``(N, 384)`` unit vectors of ``titles``; an empty title gets a zero row."""
    from lookalike.embed.titles import load_title_encoder

    out = np.zeros((len(titles), _DIM), dtype=np.float32)
    present = [i for i, t in enumerate(titles) if t and t.strip()]
    if present:
        out[present] = load_title_encoder().encode([titles[i].strip() for i in present])
    return out


def title_vectors_for(
    product_ids: list[str], titles: list[str], stored_file: VectorFile | None
) -> np.ndarray:
    """Rows aligned with ``product_ids``: the build's stored title vectors where it has them
    (``Workspace.title_vectors``), MiniLM for the rest; zero rows for empty titles."""
    stored = stored_file.load() if stored_file is not None and stored_file.exists() else None
    out = np.zeros((len(product_ids), _DIM), dtype=np.float32)
    missing: list[int] = []
    for i, pid in enumerate(product_ids):
        vector = stored.get(pid) if stored is not None and stored.dim == _DIM else None
        if vector is not None:
            out[i] = vector
        elif titles[i].strip():
            missing.append(i)
    if missing:
        out[missing] = embed_titles([titles[i] for i in missing])
    return out
