"""The frozen early blocks of EfficientNet-Lite, run once per image, and their cached output.

Partial fine-tuning (:mod:`lookalike.train.partial`) trains only the last blocks; everything
before the cut point is frozen, so its output (the *activations* at the cut) is computed once
per image with ONNX Runtime (the torch-free graph of :mod:`lookalike.embed.lite_onnx`, with
the cut block's output as the graph output) and cached, keyed by the sha256 of the image bytes
like the embedding cache. Stored as float16 ``(N, C, H, W)``: Lite0 cut two blocks before the
end is 192x7x7 per image, 18 KB, so 5,000 images take ~90 MB.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import atomic_open, write_json_atomic
from lookalike.embed.pipeline import embed_images
from lookalike.errors import ConfigError, EmbedError
from lookalike.progress import Progress

__all__ = ["CutPoint", "cut_point", "ActivationModel", "ActivationCache", "file_sha256"]


@dataclass(frozen=True)
class CutPoint:
    """Where the backbone is cut: blocks ``[0, first_trained)`` frozen, the rest trained."""

    model: str
    first_trained: int  # index of the first trained MBConv block
    total: int  # blocks in the backbone

    @property
    def output(self) -> str:
        """The frozen graph's output name (see :mod:`lookalike.embed.lite_onnx`)."""
        return "stem" if self.first_trained == 0 else f"block{self.first_trained - 1}"

    @property
    def key(self) -> str:
        """The activation cache's name: model and cut."""
        return f"{self.model}-{self.output}"


def cut_point(model: str, blocks: int) -> CutPoint:
    """The cut that leaves the last ``blocks`` MBConv blocks (plus the head conv) trainable."""
    from lookalike.embed.lite_onnx import lite_blocks
    from lookalike.embed.onnx_export import MODEL_SPECS, get_spec

    if model not in MODEL_SPECS:
        raise ConfigError(f"partial fine-tuning works on lite0/lite1/lite2, not {model!r}")
    total = len(lite_blocks(model, get_spec(model).input_size))
    if not 1 <= blocks <= total:
        raise ConfigError(f"{model} has {total} blocks: fine-tune between 1 and {total}")
    return CutPoint(model, total - blocks, total)


class ActivationModel:
    """The frozen part as an :class:`~lookalike.embed.base.Embedder`: its "vectors" are the
    flattened activations at the cut (not normalised), so the build's threaded decode and
    batching (:func:`~lookalike.embed.pipeline.embed_images`) feed it."""

    def __init__(self, cut: CutPoint, *, threads: int | None = None):
        import onnxruntime as ort

        from lookalike.embed.onnx_export import export_onnx, get_spec
        from lookalike.embed.ortconfig import CPU_PROVIDER, OrtSettings, session_options

        spec = get_spec(cut.model)
        path = export_onnx(cut.model, outputs=(cut.output,))
        options = session_options(OrtSettings(threads=threads))
        self.session = ort.InferenceSession(str(path), options, providers=[CPU_PROVIDER])
        self.name = f"{cut.model}-frozen"
        self.input_size = spec.input_size
        self.resize_size = spec.resize_size
        shape = self.session.get_outputs()[0].shape
        self.shape: tuple[int, int, int] = (int(shape[1]), int(shape[2]), int(shape[3]))
        self.dim = int(np.prod(self.shape))

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 3, S, S)`` model inputs -> ``(B, C*H*W)`` activations."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        (out,) = self.session.run(None, {"input": np.ascontiguousarray(batch, np.float32)})
        return np.asarray(out, np.float32).reshape(len(batch), -1)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (the key the embedding caches use)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ActivationCache:
    """float16 activations at one cut, rows keyed by image sha256: ``<base>.npy`` and
    ``<base>.ids.json`` (``base`` from :meth:`Workspace.activations`)."""

    def __init__(self, base: Path, cut: CutPoint):
        self.base, self.cut = base, cut
        self.array_path = base.with_name(base.name + ".npy")
        self.ids_path = base.with_name(base.name + ".ids.json")

    def _load(self) -> tuple[list[str], np.ndarray | None]:
        if not (self.array_path.is_file() and self.ids_path.is_file()):
            return [], None
        try:
            ids = json.loads(self.ids_path.read_text(encoding="utf-8"))
            array = np.load(self.array_path, mmap_mode="r")
        except (OSError, ValueError):
            return [], None  # a damaged cache is recomputed, never trusted
        if not isinstance(ids, list) or len(ids) != len(array):
            return [], None
        return [str(i) for i in ids], array

    def rows_for(
        self, paths: list[Path], *, progress: Progress | None = None, threads: int | None = None
    ) -> np.ndarray:
        """float16 ``(len(paths), C, H, W)`` activations of the image files, computing (and
        caching) only those not cached yet; ``EmbedError`` when an image cannot be decoded
        (the build decoded it, so the file changed or vanished since)."""
        shas = [file_sha256(p) for p in paths]
        ids, cached = self._load()
        row_of = {sha: i for i, sha in enumerate(ids)}
        missing = sorted(
            {sha: p for sha, p in zip(shas, paths, strict=True) if sha not in row_of}.items()
        )
        if missing:
            model = ActivationModel(self.cut, threads=threads)
            result = embed_images(
                [_reader(p) for _, p in missing],
                model,
                progress=progress,
                description="frozen blocks (once per image)",
            )
            if result.errors:
                index, reason = next(iter(result.errors.items()))
                raise EmbedError(f"cannot read {missing[index][1]}: {reason}")
            new = result.vectors.reshape(len(missing), *model.shape).astype(np.float16)
            old = np.asarray(cached) if cached is not None else new[:0]
            cached = np.concatenate([old, new])
            ids = [*ids, *(sha for sha, _ in missing)]
            self._save(ids, cached)
            row_of = {sha: i for i, sha in enumerate(ids)}
        assert cached is not None
        return np.asarray(cached[np.array([row_of[s] for s in shas], dtype=np.int64)])

    def _save(self, ids: list[str], array: np.ndarray) -> None:
        # the array first, the ids last: ids that do not match the array's length void both
        with atomic_open(self.array_path, "wb") as handle:
            np.save(handle, array)
        write_json_atomic(self.ids_path, ids)


def _reader(path: Path) -> Any:
    return lambda: path.read_bytes()
