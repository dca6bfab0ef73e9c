"""int8 static quantisation: vectors close to fp32, and a build that runs the shop's int8 model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from lookalike.embed.quantize import calibration_inputs, int8_name, quantize_int8
from lookalike.embed.runners import OnnxEmbedder
from lookalike.errors import EmbedError
from lookalike.pipeline import BuildOptions, build_workspace
from lookalike.recommend.similar import Recommender
from lookalike.workspace import Workspace
from tests.embed.conftest import clothing_photos, image_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model(lite0_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    photos = [p for paths in clothing_photos(per_class=3).values() for p in paths]
    inputs = calibration_inputs([p.read_bytes() for p in photos], resize=256, crop=224)
    return quantize_int8(lite0_onnx, inputs, tmp_path_factory.mktemp("int8") / "lite0-int8.onnx")


def test_int8_vectors_stay_close_to_fp32(lite0_onnx: Path, int8_model: Path) -> None:
    fp32 = OnnxEmbedder(lite0_onnx, name="fp32")
    int8 = OnnxEmbedder(int8_model, name="int8")
    assert int8_model.stat().st_size < lite0_onnx.stat().st_size / 2  # int8 weights
    # photos the calibration did not see (the 4th to 6th of each class)
    held_out = [p for paths in clothing_photos(per_class=6).values() for p in paths[3:]]
    batch = calibration_inputs([p.read_bytes() for p in held_out], resize=256, crop=224)
    a, b = fp32.embed(batch), int8.embed(batch)
    cosine = np.sum(a * b, axis=1)
    assert cosine.min() > 0.95 and cosine.mean() > 0.98
    # each photo's nearest neighbour among the others mostly survives quantisation
    sims_a, sims_b = a @ a.T, b @ b.T
    np.fill_diagonal(sims_a, -1)
    np.fill_diagonal(sims_b, -1)
    assert np.mean(sims_a.argmax(1) == sims_b.argmax(1)) >= 0.8


def test_fast_calibration_finds_the_ranges_onnx_runtime_finds(
    lite0_onnx: Path, tmp_path: Path
) -> None:
    """The optimised calibration session measures what ORT's own (unoptimised) one does; a
    Clip input only the Clip reads is not measured but takes the Clip output's range."""
    import onnx
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod,
        create_calibrator,
        load_tensors_data,
    )

    from lookalike.embed.quantize import _activation_ranges, _clip_inputs

    photos = [p for paths in clothing_photos(per_class=1).values() for p in paths]
    inputs = calibration_inputs([p.read_bytes() for p in photos], resize=256, crop=224)
    ours = load_tensors_data(_activation_ranges(lite0_onnx, inputs, tmp_path))
    reference = create_calibrator(
        lite0_onnx,
        augmented_model_path=str(tmp_path / "reference.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )
    name = reference.infer_session.get_inputs()[0].name
    reference.collect_data(_Batches(name, inputs))
    expected = reference.compute_data()
    assert set(ours.keys()) == set(expected.keys()) and len(expected.keys()) > 50
    implied = _clip_inputs(onnx.load(str(lite0_onnx)))
    assert len(implied) > 30  # every Conv -> ReLU6 pair of Lite0
    for tensor in expected.keys():
        if tensor in implied:
            assert ours[tensor].range_value == ours[implied[tensor]].range_value, tensor
            continue
        low, high = (np.ravel(v) for v in expected[tensor].range_value)
        our_low, our_high = (np.ravel(v) for v in ours[tensor].range_value)
        scale = max(float(np.abs(high).max()), float(np.abs(low).max()), 1e-6)
        assert np.allclose(our_low, low, atol=1e-4 * scale), tensor
        assert np.allclose(our_high, high, atol=1e-4 * scale), tensor


def test_unmeasured_clip_inputs_give_the_same_int8_model(
    lite0_onnx: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ORT's quantiser replaces those ranges by the Clip outputs' itself: measuring them
    changes nothing in the model (this fails if an onnxruntime release stops doing that).
    Integers (weights, zero points) are equal; a scale may differ in its last bits, because
    with fewer tensors measured ORT fuses more and sums the pooled features in another order.
    Quantising warns nothing (ORT's "consider pre-processing" does not apply to our graphs).
    """
    import onnx
    from onnx import numpy_helper

    import lookalike.embed.quantize as quantize

    photos = [p for paths in clothing_photos(per_class=1).values() for p in paths]
    inputs = calibration_inputs([p.read_bytes() for p in photos], resize=256, crop=224)
    with caplog.at_level(logging.INFO):
        skipping = quantize_int8(lite0_onnx, inputs, tmp_path / "skipping.onnx")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("int8 model calibrated" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(quantize, "_clip_inputs", lambda model: {})  # measure every tensor
    measuring = quantize_int8(lite0_onnx, inputs, tmp_path / "measuring.onnx")
    ours, full = onnx.load(str(skipping)), onnx.load(str(measuring))
    assert [n.op_type for n in ours.graph.node] == [n.op_type for n in full.graph.node]
    values = {i.name: numpy_helper.to_array(i) for i in full.graph.initializer}
    assert {i.name for i in ours.graph.initializer} == set(values)
    for initializer in ours.graph.initializer:
        value, expected = numpy_helper.to_array(initializer), values[initializer.name]
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(value, expected, rtol=1e-5, err_msg=initializer.name)
        else:
            np.testing.assert_array_equal(value, expected, err_msg=initializer.name)


def test_an_onnxruntime_without_calibration_caches_calibrates_its_own_way(
    lite0_onnx: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback for onnxruntime releases whose quantize_static has no
    ``calibration_cache_path``: ORT's own calibration, the same model up to rounding."""
    import onnxruntime.quantization as quantization

    real = quantization.quantize_static

    def older_quantize_static(
        model_input: object, model_output: object, reader: object, **options: object
    ) -> None:
        assert "calibration_cache_path" not in options
        real(model_input, model_output, reader, **options)

    photos = [p for paths in clothing_photos(per_class=1).values() for p in paths]
    inputs = calibration_inputs([p.read_bytes() for p in photos], resize=256, crop=224)
    fast = quantize_int8(lite0_onnx, inputs, tmp_path / "fast.onnx")
    monkeypatch.setattr(quantization, "quantize_static", older_quantize_static)
    fallback = quantize_int8(lite0_onnx, inputs, tmp_path / "fallback.onnx")
    a = OnnxEmbedder(fast, name="fast").embed(inputs)
    b = OnnxEmbedder(fallback, name="fallback").embed(inputs)
    assert np.sum(a * b, axis=1).min() > 0.99


class _Batches:
    """A calibration reader over ``inputs`` in batches of 4."""

    def __init__(self, name: str, inputs: np.ndarray) -> None:
        self._batches = iter([{name: inputs[i : i + 4]} for i in range(0, len(inputs), 4)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def test_calibration_skips_bad_images_and_needs_one_good() -> None:
    good = image_bytes(size=(300, 260))
    assert calibration_inputs([b"not an image", good], resize=256, crop=224).shape == (
        1,
        3,
        224,
        224,
    )
    with pytest.raises(EmbedError, match="calibration"):
        calibration_inputs([b"junk"], resize=256, crop=224)


def test_int8_build_uses_the_workspace_model_everywhere(photo_folder: Path, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    report = build_workspace(ws, photo_folder, BuildOptions(precision="int8"))
    assert report.vectors == 40
    model_file = ws.model_file(int8_name("lite0"))
    assert model_file.is_file()
    manifest = ws.manifest()
    assert manifest["precision"] == "int8" and manifest["model_key"] == "lite0-int8"
    photo = sorted(photo_folder.rglob("*.jpg"))[0]
    with Recommender(ws) as rec:
        assert Path(rec.embedder.onnx_path) == model_file  # type: ignore[attr-defined]
        hits = rec.similar_to_image(photo.read_bytes(), k=3)
    assert hits[0].product.id == photo.stem  # its own photo comes back first
    again = build_workspace(ws, photo_folder, BuildOptions(precision="int8"))
    assert again.images["embedded"] == 0  # the int8 cache is kept, nothing recalibrated
