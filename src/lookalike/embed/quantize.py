"""int8 static quantisation of an ONNX image model, calibrated on a shop's own photos.

EfficientNet-Lite was designed to quantise (ReLU6, no squeeze-excite): with per-channel int8
weights and uint8 activations (QDQ format, min/max ranges from ~200 catalog images) ONNX Runtime
runs it several times faster on CPUs with VNNI, and the vectors stay close to fp32 ones
(``bench/quality.py --precision`` and the README have the measured recall and P@10).
"""

from __future__ import annotations

import inspect
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.atomic import atomic_open
from lookalike.errors import EmbedError

__all__ = ["PRECISIONS", "CALIBRATION_IMAGES", "int8_name", "calibration_inputs", "quantize_int8"]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "int8")
CALIBRATION_IMAGES = 200
_CALIBRATION_BATCH = 8


def int8_name(model: str) -> str:
    """The name of ``model``'s int8 version (its workspace model file and embedding cache)."""
    from lookalike.embed.registry import model_key

    return f"{model_key(model)}-int8"


def calibration_inputs(
    datas: Sequence[bytes], *, resize: int, crop: int, limit: int = CALIBRATION_IMAGES
) -> np.ndarray:
    """Up to ``limit`` preprocessed images, spread evenly over ``datas`` (bad ones skipped),
    decoded by one thread per usable core (PIL releases the GIL while it decodes)."""
    from concurrent.futures import ThreadPoolExecutor

    from lookalike.embed.pipeline import prepare_image
    from lookalike.embed.tuning import decode_workers

    candidates = datas[:: max(len(datas) // limit, 1)]
    arrays: list[np.ndarray] = []
    with ThreadPoolExecutor(decode_workers(), thread_name_prefix="int8-calibration") as pool:
        start = 0
        while len(arrays) < limit and start < len(candidates):
            # only as many as are still missing: most photos decode, so rarely a second round
            chunk = candidates[start : start + limit - len(arrays)]
            start += len(chunk)
            prepared = pool.map(lambda data: prepare_image(data, resize, crop), chunk)
            arrays.extend(array for array in prepared if not isinstance(array, str))
    if not arrays:
        raise EmbedError("int8 calibration needs at least one decodable catalog image")
    return np.stack(arrays)


def quantize_int8(source: Path, inputs: np.ndarray, target: Path) -> Path:
    """Write the int8 version of the fp32 ONNX model ``source`` to ``target`` (atomically).

    ``inputs``: float32 ``(N, 3, S, S)`` calibration batch. Activation ranges are the min/max
    seen on it; weights are quantised per output channel.
    """
    try:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise EmbedError(
            f"int8 quantisation needs onnxruntime's quantization tools: {exc}"
        ) from exc

    with tempfile.TemporaryDirectory(prefix="lookalike-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        common = {
            "quant_format": QuantFormat.QDQ,
            "per_channel": True,
            "activation_type": QuantType.QUInt8,
            "weight_type": QuantType.QInt8,
        }
        try:
            model = _marked_preprocessed(source, Path(tmp))
            if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
                ranges = _activation_ranges(model, inputs, Path(tmp))
                quantize_static(str(model), str(out), None, calibration_cache_path=ranges, **common)
            else:  # an onnxruntime without calibration caches: its own (slower) session
                reader = _reader(_input_name(model), inputs)
                quantize_static(str(model), str(out), reader, **common)
        except (RuntimeError, ValueError, OSError) as exc:
            raise EmbedError(f"int8 quantisation of {source.name} failed: {exc}") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(target, "wb") as handle:
            handle.write(out.read_bytes())
    log.info("int8 model calibrated on %d images: %s", len(inputs), target)
    return target


def _marked_preprocessed(source: Path, tmp: Path) -> Path:
    """``source``, marked as through ORT's quantisation pre-processing when it needs none.

    Without the mark ``quantize_static`` logs two warnings with a link on every int8 build,
    and through ``logging.warning`` (the root logger, configured on the fly when nothing
    configured it). The pre-processing (shape inference, BatchNorm folding) leaves our
    converter's graphs as they are (checked on Lite0: the same nodes): BatchNorm is folded
    into the convolutions already, and the quantiser infers the shapes itself."""
    import onnx

    model = onnx.load(str(source))
    if any(node.op_type == "BatchNormalization" for node in model.graph.node):
        return source  # not ours: let ORT say what it would do
    entry = model.metadata_props.add()
    entry.key, entry.value = "onnx.quant.pre_process", "onnxruntime.quant"
    marked = tmp / "preprocessed.onnx"
    onnx.save(model, str(marked))
    return marked


def _activation_ranges(source: Path, inputs: np.ndarray, tmp: Path) -> Path:
    """ONNX Runtime's min/max calibration of ``source`` on ``inputs``, saved as its
    calibration cache (``quantize_static(calibration_cache_path=...)`` reads it).

    The calibrator is ORT's own (same tensors, same ranges), with two savings:

    - its session runs with graph optimisation on and the build's thread settings (ORT's
      default session for it disables every optimisation: 4x slower than embedding);
    - the input of a Clip (ReLU6) that only the Clip reads is not measured: ORT's quantiser
      replaces that range with the Clip output's anyway (``adjust_tensor_ranges``), so it is
      filled in from there. Measuring it cost a min and a max over every Conv output and kept
      ORT from fusing each Conv with its Clip. The int8 model is the one the full
      calibration gives: the same weights and zero points, scales equal to 1e-5 (the fused
      session sums the pooled features in another order; tests/embed/test_quantize.py).
    """
    import onnxruntime as ort
    from onnxruntime.quantization.calibrate import (
        MinMaxCalibrater,
        TensorsData,
        save_tensors_data,
    )

    from lookalike.embed.ortconfig import OrtSettings, session_options

    calibrator = MinMaxCalibrater(str(source), augmented_model_path=str(tmp / "augmented.onnx"))
    implied = _clip_inputs(calibrator.model)
    select_all = calibrator.select_tensors_to_calibrate

    def select_measured(model: Any) -> tuple[set[str], dict[str, Any]]:
        tensors, value_infos = select_all(model)
        return {t for t in tensors if implied.get(t) not in tensors}, value_infos

    calibrator.select_tensors_to_calibrate = select_measured
    calibrator.augment_graph()
    calibrator.infer_session = ort.InferenceSession(
        calibrator.augmented_model_path,
        sess_options=session_options(OrtSettings()),
        providers=["CPUExecutionProvider"],
    )
    name = calibrator.infer_session.get_inputs()[0].name
    calibrator.collect_data(_reader(name, inputs))
    measured = calibrator.compute_data()
    ranges = dict(measured.data)
    ranges.update({t: ranges[out] for t, out in implied.items() if out in ranges})
    path = tmp / "ranges.json"
    save_tensors_data(TensorsData(measured.calibration_method, ranges), path)
    return path


def _clip_inputs(model: Any) -> dict[str, str]:
    """Clip/Relu input -> output, for the inputs no other node reads (the tensors whose range
    ORT's quantiser takes from the activation's output)."""
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for tensor in node.input:
            readers[tensor] = readers.get(tensor, 0) + 1
    return {
        node.input[0]: node.output[0]
        for node in model.graph.node
        if node.op_type in ("Clip", "Relu") and node.input and readers[node.input[0]] == 1
    }


def _input_name(source: Path) -> str:
    import onnxruntime as ort

    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    return str(session.get_inputs()[0].name)


def _reader(name: str, inputs: np.ndarray) -> object:
    """An onnxruntime calibration reader over ``inputs``, ``_CALIBRATION_BATCH`` at a time."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(
                inputs[i : i + _CALIBRATION_BATCH]
                for i in range(0, len(inputs), _CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {name: batch}

    return _Reader()
