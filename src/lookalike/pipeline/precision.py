"""The build's model at the chosen precision: fp32 as shipped, or int8 calibrated on the shop.

The int8 model is calibrated once per workspace on up to 200 of its photos and kept as
``models/<model>-int8.onnx``; its embeddings have their own cache key (``<model>-int8``), so
fp32 and int8 vectors never mix. A new calibration (the file was deleted) starts that cache
afresh, because the vectors of the previous calibration no longer match.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lookalike.embed.base import Embedder
from lookalike.embed.quantize import int8_name
from lookalike.workspace import Workspace

__all__ = ["embedding_key", "load_build_embedder", "needs_calibration"]


def embedding_key(model: str, precision: str) -> str:
    """The embedding cache key for ``model`` at ``precision`` (validates the model name)."""
    from lookalike.embed.registry import model_key

    return model_key(model) if precision == "fp32" else int8_name(model)


def needs_calibration(ws: Workspace, model: str, precision: str) -> bool:
    """True when this build will calibrate a new int8 model (its old int8 cache is void)."""
    return precision == "int8" and not ws.model_file(int8_name(model)).is_file()


def load_build_embedder(
    ws: Workspace, model: str, precision: str, calibration: Sequence[Path]
) -> Embedder:
    """The embedder a build runs; for int8, the workspace's model (calibrated on the
    ``calibration`` image files when it does not exist yet)."""
    from lookalike.embed.registry import get_embedder

    if precision == "fp32":
        return get_embedder(model)
    target = ws.model_file(int8_name(model))
    if not target.is_file():
        _calibrate(ws, model, calibration, target)
    return get_embedder(str(target), device="cpu")


def _calibrate(ws: Workspace, model: str, files: Sequence[Path], target: Path) -> None:
    from lookalike.embed.preprocess import resize_for_input
    from lookalike.embed.quantize import CALIBRATION_IMAGES, calibration_inputs, quantize_int8
    from lookalike.embed.registry import get_embedder, onnx_source

    fp32 = get_embedder(model, device="cpu")
    resize = int(getattr(fp32, "resize_size", None) or resize_for_input(fp32.input_size))
    step = max(len(files) // CALIBRATION_IMAGES, 1)
    datas = [path.read_bytes() for path in list(files)[::step][:CALIBRATION_IMAGES]]
    inputs = calibration_inputs(datas, resize=resize, crop=fp32.input_size)
    quantize_int8(onnx_source(model), inputs, target)
