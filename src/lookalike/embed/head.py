"""A trained projection head applied in numpy: backbone embeddings -> shop-specific vectors.

``lookalike train`` fits a small MLP on top of the frozen backbone's stored embeddings and saves
it here as plain arrays, so ``build`` and the ``Recommender`` can apply it without torch:
standardise with the stored mean/std, ``Linear -> ReLU -> ... -> Linear`` in float32, then
L2-normalise. The head lives in ``<workspace>/head/``: ``head.npz`` (arrays) and ``head.json``
(config, training summary and the sha256 of ``head.npz``, checked on load).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import write_bytes_atomic, write_json_atomic
from lookalike.embed.base import l2_normalize
from lookalike.errors import VectorIndexError

__all__ = ["Head", "HEAD_DIR", "HEAD_ARRAYS", "HEAD_CONFIG", "ACTIVATIONS"]

HEAD_DIR = "head"
HEAD_ARRAYS = "head.npz"
HEAD_CONFIG = "head.json"
ACTIVATIONS = ("relu",)
_EPS = 1e-6


@dataclass(frozen=True)
class Head:
    """Standardise, MLP forward, L2-normalise. ``weights[i]`` is ``(out, in)`` as in torch."""

    mean: np.ndarray
    std: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str = "relu"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise VectorIndexError(f"unknown head activation {self.activation!r}")
        if not self.weights or len(self.weights) != len(self.biases):
            raise VectorIndexError("a head needs as many bias vectors as weight matrices (>= 1)")
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise VectorIndexError("head mean/std must be 1-D arrays of the same length")
        width = self.mean.shape[0]
        for w, b in zip(self.weights, self.biases, strict=True):
            if w.ndim != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
                raise VectorIndexError(
                    f"head layer shapes do not chain: {w.shape} after width {width}"
                )
            width = w.shape[0]

    @property
    def input_dim(self) -> int:
        """Dimension of the backbone embeddings it takes."""
        return int(self.mean.shape[0])

    @property
    def dim(self) -> int:
        """Dimension of the vectors it produces."""
        return int(self.weights[-1].shape[0])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """float32 ``(N, input_dim)`` backbone vectors -> float32 ``(N, dim)`` unit vectors."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise VectorIndexError(
                f"the head takes {self.input_dim}-d vectors, got shape {x.shape}"
            )
        if x.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        x = (x - self.mean) / self.std
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w.T + b
            if i < last:
                np.maximum(x, 0.0, out=x)
        return l2_normalize(x.astype(np.float32, copy=False))

    # persistence -----------------------------------------------------------------------------
    def _arrays_bytes(self) -> bytes:
        arrays = {"mean": self.mean, "std": self.std}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{i}"], arrays[f"b{i}"] = w, b
        buffer = io.BytesIO()
        savez: Any = np.savez  # numpy's stubs read ``**arrays`` as its keyword options
        savez(buffer, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
        return buffer.getvalue()

    def save(self, folder: str | Path) -> str:
        """Write ``head.npz`` then ``head.json`` atomically; returns the sha256 of the arrays."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = self._arrays_bytes()
        digest = hashlib.sha256(data).hexdigest()
        write_bytes_atomic(folder / HEAD_ARRAYS, data)
        config = {
            **self.meta,
            "activation": self.activation,
            "layers": len(self.weights),
            "input_dim": self.input_dim,
            "dim": self.dim,
            "hash": digest,
        }
        write_json_atomic(folder / HEAD_CONFIG, config)
        return digest

    @staticmethod
    def exists(folder: str | Path) -> bool:
        """Whether a head was saved in ``folder``."""
        folder = Path(folder)
        return (folder / HEAD_ARRAYS).is_file() and (folder / HEAD_CONFIG).is_file()

    @classmethod
    def load(cls, folder: str | Path) -> Head:
        """Load a saved head; ``VectorIndexError`` when missing, corrupt or inconsistent."""
        folder = Path(folder)
        if not cls.exists(folder):
            raise VectorIndexError(f"no trained head in {folder}")
        try:
            data = (folder / HEAD_ARRAYS).read_bytes()
            config = json.loads((folder / HEAD_CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VectorIndexError(f"cannot read the head in {folder}: {exc}") from exc
        if not isinstance(config, dict) or config.get("hash") != hashlib.sha256(data).hexdigest():
            raise VectorIndexError(
                f"{folder / HEAD_ARRAYS} does not match {HEAD_CONFIG} (interrupted save?): "
                "train the head again"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise VectorIndexError(f"cannot read the head arrays in {folder}: {exc}") from exc
        layers = int(config.get("layers", 0))
        try:
            weights = tuple(arrays[f"w{i}"] for i in range(layers))
            biases = tuple(arrays[f"b{i}"] for i in range(layers))
            mean, std = arrays["mean"], arrays["std"]
        except KeyError as exc:
            raise VectorIndexError(f"the head in {folder} lacks array {exc}") from exc
        meta = {k: v for k, v in config.items() if k not in {"activation", "layers"}}
        return cls(mean, np.maximum(std, _EPS), weights, biases, config["activation"], meta)

    @property
    def hash(self) -> str:
        """sha256 of the saved arrays (empty for a head never saved or loaded)."""
        return str(self.meta.get("hash", ""))

    def record(self) -> dict[str, Any]:
        """What the manifest records about the head a build used."""
        keys = ("method", "loss", "dim", "input_dim", "model_key", "trained_at", "hash")
        return {k: self.meta.get(k) for k in keys} | {"dim": self.dim, "input_dim": self.input_dim}
