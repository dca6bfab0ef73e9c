"""The one-method embedder interface and the helpers every backend shares."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from lookalike.errors import EmbedError

__all__ = ["Embedder", "l2_normalize", "check_batch"]


@runtime_checkable
class Embedder(Protocol):
    """Maps a preprocessed batch to L2-normalised vectors.

    ``name``: a short label ("lite0", "histogram", ...); ``dim``: output width;
    ``input_size``: the side of the square input (224 for lite0). The runners in this package
    also carry ``resize_size`` (the shorter-side resize before the centre crop); code that
    accepts any embedder reads it with ``getattr`` and falls back to
    :func:`~lookalike.embed.preprocess.resize_for_input`.
    """

    name: str
    dim: int
    input_size: int

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, H, W)`` preprocessed images -> float32 ``(B, dim)`` unit rows.

        An empty batch ``(0, 3, H, W)`` returns ``(0, dim)`` without running the model.
        """
        ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Scale each row (last axis) to unit L2 norm, as float32; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    # Dividing by max(norm, tiny) leaves zero rows at zero instead of producing NaN.
    return x / np.maximum(norms, np.finfo(np.float32).tiny)


def check_batch(batch: np.ndarray, input_size: int | None = None) -> np.ndarray:
    """Validate a ``(B, 3, H, W)`` batch and return it as contiguous float32.

    ``input_size``: when given, H and W must equal it. Raises :class:`EmbedError` otherwise,
    which is clearer than the runtime's own shape error deep inside the model.
    """
    array = np.asarray(batch)
    if array.ndim != 4 or array.shape[1] != 3:
        raise EmbedError(f"expected a (B, 3, H, W) batch, got shape {array.shape}")
    if input_size is not None and array.shape[2:] != (input_size, input_size):
        raise EmbedError(
            f"expected {input_size}x{input_size} inputs, got {array.shape[2]}x{array.shape[3]}"
        )
    return np.ascontiguousarray(array, dtype=np.float32)
