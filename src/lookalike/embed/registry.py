"""Pick an embedder by name (or an ``.onnx`` path) and device; load each one once per process."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

from lookalike.embed.base import Embedder
from lookalike.embed.features import FeatureSpec
from lookalike.embed.ortconfig import CPU_PROVIDER, CUDA_PROVIDER
from lookalike.errors import ConfigError, EmbedError

__all__ = [
    "MODEL_NAMES",
    "DEFAULT_MODEL",
    "DEVICES",
    "get_embedder",
    "model_key",
    "check_model_name",
    "onnx_source",
    "cuda_available",
]

MODEL_NAMES = ("lite0", "lite1", "lite2", "histogram")
DEFAULT_MODEL = "lite0"
DEVICES = ("auto", "cpu", "cuda")


def _no_nvidia_driver() -> bool:
    # On Linux without the NVIDIA driver the answer is known without importing torch (~1-2 s).
    return sys.platform.startswith("linux") and not os.path.exists("/proc/driver/nvidia")


def ort_cuda_available() -> bool:
    """True when this onnxruntime build has the CUDA provider and a driver is present."""
    if _no_nvidia_driver():
        return False
    import onnxruntime as ort

    from lookalike.embed.ortconfig import CUDA_PROVIDER

    return CUDA_PROVIDER in ort.get_available_providers()


def cuda_available() -> bool:
    """True when a CUDA GPU can run the model: ORT's CUDA provider, or torch seeing a GPU."""
    if _no_nvidia_driver():
        return False
    if ort_cuda_available():
        return True
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def _is_onnx_path(model: str) -> bool:
    return model.lower().endswith(".onnx")


def _feature_spec(model: str) -> FeatureSpec | None:
    """The feature options of a composite name (``lite0+gem``), None for a plain model."""
    if "+" not in model or _is_onnx_path(model):
        return None
    spec = FeatureSpec.parse(model)
    return None if spec.is_plain else spec


def _check_model(model: str) -> None:
    if "+" in model and not _is_onnx_path(model):
        FeatureSpec.parse(model)  # ConfigError naming the bad option
        return
    if model not in MODEL_NAMES and not _is_onnx_path(model):
        valid = ", ".join(MODEL_NAMES)
        raise ConfigError(
            f"unknown model {model!r}; valid: {valid}, a backbone with feature options "
            "(lite0+gem+flip, see lookalike.embed.features), or a path to a .onnx file"
        )


def check_model_name(model: str) -> None:
    """Raise ``ConfigError`` unless ``model`` names a model: a built-in one, a backbone with
    feature options, or an existing ``.onnx`` file (checked before a build starts)."""
    _check_model(model)
    if _is_onnx_path(model) and not Path(model).expanduser().is_file():
        raise ConfigError(f"ONNX model file not found: {Path(model).expanduser()}")


def model_key(model: str) -> str:
    """A filesystem-safe, stable key for the embedding cache of ``model``.

    The name itself for built-in models; ``onnx-<sha12 of the file>`` for a user's ONNX file,
    so editing the file invalidates the cache and moving it does not.
    """
    _check_model(model)
    spec = _feature_spec(model)
    if spec is not None:
        return spec.key()
    if "+" in model and not _is_onnx_path(model):
        return FeatureSpec.parse(model).models[0]  # "lite0+" is plain lite0
    if not _is_onnx_path(model):
        return model
    from lookalike.embed.onnx_export import file_sha256

    path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"ONNX model file not found: {path}")
    return f"onnx-{file_sha256(path.resolve())[:12]}"


def onnx_source(model: str) -> Path:
    """The fp32 ONNX file of ``model`` (a built-in one is exported once and cached)."""
    _check_model(model)
    if model == "histogram":
        raise ConfigError("the histogram embedder has no ONNX model to quantise")
    if _is_onnx_path(model):
        return Path(model).expanduser().resolve()
    from lookalike.embed.onnx_export import export_onnx

    return export_onnx(model)


def get_embedder(
    model: str = DEFAULT_MODEL, *, device: str = "auto", cache_dir: Path | None = None
) -> Embedder:
    """The embedder for ``model`` on ``device``, loaded once per process and reused.

    ``model``: one of :data:`MODEL_NAMES` or a path to an ``.onnx`` file (NCHW float32 input,
    ``(B, D)`` or ``(B, D, 1, 1)`` output; input side read from the file when static, else 224).
    ``device``: ``"auto"`` (the GPU when one is visible, else ONNX Runtime on CPU), ``"cpu"``
    (ONNX Runtime) or ``"cuda"`` (ONNX Runtime's CUDA provider when onnxruntime-gpu is
    installed, else torch fp16; EmbedError without a GPU).
    """
    _check_model(model)
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    if model == "histogram":
        return _load("histogram", "cpu", None, None)
    if "+" in model and not _is_onnx_path(model):
        spec = _feature_spec(model)
        if spec is None:
            model = FeatureSpec.parse(model).models[0]
        else:  # feature options run on ONNX Runtime (CPU) whatever the device
            return _load(spec.key(), "cpu", str(cache_dir) if cache_dir else None, None)
    if device == "auto":
        device = "cuda" if cuda_available() else "cpu"
    elif device == "cuda" and not cuda_available():
        raise EmbedError("device 'cuda' requested but no CUDA GPU is available")
    stamp: tuple[int, int] | None = None
    if _is_onnx_path(model):
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"ONNX model file not found: {path}")
        stat = path.stat()
        model, stamp = str(path), (stat.st_mtime_ns, stat.st_size)  # reload when it changes
    cache = str(cache_dir) if cache_dir is not None else None
    return _load(model, device, cache, stamp)


@functools.lru_cache(maxsize=8)
def _load(
    model: str, device: str, cache_dir: str | None, stamp: tuple[int, int] | None
) -> Embedder:
    from lookalike.embed.runners import ColorHistogramEmbedder, OnnxEmbedder, TorchEmbedder

    if model == "histogram":
        return ColorHistogramEmbedder()
    if "+" in model:
        from lookalike.embed.features import load_feature_embedder

        return load_feature_embedder(
            FeatureSpec.parse(model), cache_dir=Path(cache_dir) if cache_dir else None
        )
    if _is_onnx_path(model):
        return _user_onnx(Path(model), device)
    if device == "cuda" and not ort_cuda_available():
        return TorchEmbedder(model, device="cuda")  # onnxruntime without its CUDA provider

    from lookalike.embed.onnx_export import export_onnx, get_spec
    from lookalike.embed.ortconfig import select_providers

    spec = get_spec(model)
    path = export_onnx(model, cache_dir=Path(cache_dir) if cache_dir else None)
    available = [CUDA_PROVIDER] if device == "cuda" else []
    return OnnxEmbedder(
        path,
        name=spec.name,
        input_size=spec.input_size,
        resize_size=spec.resize_size,
        providers=select_providers(device, [*available, CPU_PROVIDER]),
    )


def _user_onnx(path: Path, device: str) -> Embedder:
    from lookalike.embed.runners import OnnxEmbedder

    # torch cannot run an ONNX file; onnxruntime's CUDA provider can, when installed.
    providers = (CUDA_PROVIDER, CPU_PROVIDER) if device == "cuda" else (CPU_PROVIDER,)
    return OnnxEmbedder(
        path,
        name=path.stem,
        input_size=None,  # read from the file's input shape
        providers=providers,
    )
