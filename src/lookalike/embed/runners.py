"""Embedder backends: ONNX Runtime (CPU), torch (CUDA fp16 or CPU fp32), colour histogram."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.embed.base import check_batch, l2_normalize
from lookalike.embed.ortconfig import CPU_PROVIDER, OrtSettings, session_options
from lookalike.embed.preprocess import MEAN, STD, resize_for_input
from lookalike.errors import EmbedError

__all__ = ["OnnxEmbedder", "TorchEmbedder", "ColorHistogramEmbedder"]


def _ort_errors() -> tuple[type[BaseException], ...]:
    # onnxruntime's pybind exceptions derive from Exception directly, not RuntimeError.
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = (
        "Fail",
        "InvalidArgument",
        "InvalidProtobuf",
        "NoSuchFile",
        "NoModel",
        "RuntimeException",
        "InvalidGraph",
        "NotImplemented",
        "EPFail",
    )
    found = tuple(getattr(state, name) for name in names if hasattr(state, name))
    return (*found, RuntimeError, OSError, ValueError)


def _static_dim(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class OnnxEmbedder:
    """Runs an ONNX image model with onnxruntime; outputs ``(B, D)`` or ``(B, D, 1, 1)``.

    The session is created once in ``__init__``; :meth:`embed` may be called concurrently
    (onnxruntime sessions are thread-safe for ``run``). ``input_size=None`` reads the side
    from the model's static input shape (224 when it is dynamic); ``resize_size=None`` keeps
    the 256/224 ratio. ``settings``: threads, spinning, graph optimisation (see
    :class:`~lookalike.embed.ortconfig.OrtSettings`); ``providers`` in order of preference,
    the ones this onnxruntime lacks dropped (``providers`` tells which ones the session got).
    """

    def __init__(
        self,
        onnx_path: Path,
        *,
        name: str,
        input_size: int | None = 224,
        resize_size: int | None = None,
        settings: OrtSettings | None = None,
        providers: Sequence[str] = (CPU_PROVIDER,),
    ) -> None:
        import onnxruntime as ort

        self.name = name
        self.onnx_path = Path(onnx_path)
        self.settings = settings or OrtSettings()
        self.session_options = session_options(self.settings)
        available = set(ort.get_available_providers())
        chosen = [p for p in providers if p in available] or [CPU_PROVIDER]
        try:
            self._session = ort.InferenceSession(
                str(self.onnx_path), sess_options=self.session_options, providers=chosen
            )
        except _ort_errors() as exc:
            raise EmbedError(f"cannot load ONNX model {self.onnx_path}: {exc}") from exc
        self.providers = list(self._session.get_providers())
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self.input_size = self._check_input(model_input.shape, input_size)
        self.resize_size = resize_size or resize_for_input(self.input_size)
        self.dim = self._output_dim()

    def _check_input(self, shape: list[Any], wanted: int | None) -> int:
        if len(shape) != 4:
            raise EmbedError(f"ONNX model {self.onnx_path} input must be NCHW, got {shape}")
        height, width = _static_dim(shape[2]), _static_dim(shape[3])
        static = height if height is not None and height == width else None
        if wanted is None:
            return static or 224
        if static is not None and static != wanted:
            raise EmbedError(
                f"ONNX model {self.onnx_path} takes {static}x{static} inputs, not {wanted}"
            )
        return wanted

    def _output_dim(self) -> int:
        shape = self._session.get_outputs()[0].shape
        rest = [_static_dim(d) for d in shape[1:]]
        if rest and all(d is not None for d in rest):
            return int(math.prod(d for d in rest if d is not None))
        # Symbolic output dims: one dummy image tells the width.
        dummy = np.zeros((1, 3, self.input_size, self.input_size), dtype=np.float32)
        return int(self._run(dummy).shape[1])

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self._session.run(None, {self._input_name: batch})[0]
        except _ort_errors() as exc:
            raise EmbedError(
                f"ONNX model {self.name} failed on a {batch.shape} batch: {exc}"
            ) from exc
        return np.asarray(out, dtype=np.float32).reshape(batch.shape[0], -1)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, S, S)`` -> float32 ``(B, dim)`` L2-normalised rows."""
        batch = check_batch(batch, self.input_size)
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(self._run(batch))

    def __repr__(self) -> str:
        return f"OnnxEmbedder(name={self.name!r}, dim={self.dim}, path={str(self.onnx_path)!r})"


class TorchEmbedder:
    """EfficientNet-Lite in torch: fp16 + channels_last on CUDA, fp32 on CPU (tests, reference)."""

    def __init__(self, model_name: str = "lite0", *, device: str = "cuda") -> None:
        import torch

        from lookalike.embed.onnx_export import get_spec
        from lookalike.embed.torch_model import load_torch_model

        spec = get_spec(model_name)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EmbedError("device 'cuda' requested but torch sees no CUDA GPU")
        self.name = spec.name
        self.dim = spec.dim
        self.input_size = spec.input_size
        self.resize_size = spec.resize_size
        self.device = torch.device(device)
        # fp16 halves memory traffic on GPU; CPU kernels for fp16 convs are slow, so fp32 there.
        self._dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        model = load_torch_model(model_name)
        to: Any = model.to  # torch's stubs lack memory_format on Module.to
        self._model = to(self.device, dtype=self._dtype, memory_format=torch.channels_last)
        self._model.eval()

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, S, S)`` -> float32 ``(B, dim)`` L2-normalised rows."""
        import torch

        batch = check_batch(batch, self.input_size)
        if batch.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, non_blocking=True)
            x = x.to(dtype=self._dtype, memory_format=torch.channels_last)
            out = self._model(x).float().cpu().numpy()
        return l2_normalize(out)

    def __repr__(self) -> str:
        return f"TorchEmbedder(name={self.name!r}, device={str(self.device)!r})"


class ColorHistogramEmbedder:
    """Baseline: 8x8x8 RGB histogram of the crop, Hellinger (sqrt) mapped, 512-d.

    Cosine between two such vectors is the Bhattacharyya coefficient of the colour
    distributions. No model, pure numpy; useful as a floor in evaluations.
    """

    name = "histogram"
    bins = 8
    dim = bins**3

    def __init__(self, *, input_size: int = 224, resize_size: int | None = None) -> None:
        self.input_size = input_size
        self.resize_size = resize_size or resize_for_input(input_size)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """float32 ``(B, 3, H, W)`` -> float32 ``(B, 512)`` L2-normalised rows."""
        batch = check_batch(batch)
        count = batch.shape[0]
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = np.clip(np.rint(batch * STD + MEAN), 0, 255).astype(np.int64)
        levels = pixels // (256 // self.bins)  # 0..7 per channel
        codes = (levels[:, 0] * self.bins + levels[:, 1]) * self.bins + levels[:, 2]
        # Offset each image's codes into its own 512-slot range: one bincount for the batch.
        codes = codes.reshape(count, -1) + (np.arange(count) * self.dim)[:, None]
        hist = np.bincount(codes.ravel(), minlength=count * self.dim).reshape(count, self.dim)
        freq = hist.astype(np.float32) / np.float32(codes.shape[1])
        return l2_normalize(np.sqrt(freq))

    def __repr__(self) -> str:
        return "ColorHistogramEmbedder()"
