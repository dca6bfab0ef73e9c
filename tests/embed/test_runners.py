"""Embedders: ONNX vs torch agreement, normalisation, near duplicates, histogram, registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.base import l2_normalize
from lookalike.embed.decode import load_image
from lookalike.embed.pipeline import embed_one
from lookalike.embed.preprocess import preprocess, preprocess_batch
from lookalike.embed.registry import MODEL_NAMES, get_embedder, model_key
from lookalike.embed.runners import ColorHistogramEmbedder, OnnxEmbedder, TorchEmbedder
from lookalike.errors import ConfigError, EmbedError

from .conftest import clothing_photos, encode


def _photo_batch(per_class: int = 1, classes: int = 4) -> np.ndarray:
    photos = [p for ps in clothing_photos(per_class, classes).values() for p in ps]
    return preprocess_batch(load_image(p.read_bytes()) for p in photos)


@pytest.fixture(scope="module")
def lite0(lite0_onnx: Path) -> OnnxEmbedder:
    return OnnxEmbedder(lite0_onnx, name="lite0")


def test_l2_normalize_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32


def test_onnx_rows_are_unit_and_empty_batch(lite0: OnnxEmbedder) -> None:
    assert (lite0.dim, lite0.input_size, lite0.resize_size) == (1280, 224, 256)
    out = lite0.embed(_photo_batch())
    assert out.dtype == np.float32 and out.shape[1] == 1280
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert lite0.embed(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 1280)
    with pytest.raises(EmbedError):
        lite0.embed(np.zeros((1, 3, 200, 200), np.float32))


def test_onnx_matches_torch_cpu(lite0: OnnxEmbedder) -> None:
    batch = _photo_batch(per_class=1, classes=6)
    torch_out = TorchEmbedder("lite0", device="cpu").embed(batch)
    cosine = np.sum(torch_out * lite0.embed(batch), axis=1)
    assert cosine.min() > 0.9999


def test_near_duplicate_is_nearest(lite0: OnnxEmbedder) -> None:
    photos = [ps[0] for ps in clothing_photos(1, 8).values()]
    original = photos[0].read_bytes()
    image = load_image(original)
    smaller = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    duplicate = encode(smaller, "JPEG", quality=60)

    query = embed_one(duplicate, lite0)
    vectors = np.stack([embed_one(p.read_bytes(), lite0) for p in photos])
    scores = vectors @ query
    assert scores[0] > 0.9
    assert scores[0] > scores[1:].max()


def test_histogram_embedder() -> None:
    embedder = ColorHistogramEmbedder()
    red = preprocess(Image.new("RGB", (300, 300), (220, 20, 20)))
    dark_red = preprocess(Image.new("RGB", (300, 300), (200, 10, 30)))
    blue = preprocess(Image.new("RGB", (300, 300), (20, 20, 220)))
    out = embedder.embed(np.stack([red, dark_red, blue]))
    assert out.shape == (3, 512) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert out[0] @ out[1] > 0.99
    assert out[0] @ out[2] < 0.01
    assert embedder.embed(np.zeros((0, 3, 224, 224), np.float32)).shape == (0, 512)


def test_histogram_matches_loop_reference() -> None:
    rng = np.random.default_rng(2)
    images = [Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)) for _ in range(2)]
    batch = preprocess_batch(images, resize=64, crop=64)
    out = ColorHistogramEmbedder(input_size=64).embed(batch)
    for row, image in zip(out, images, strict=True):
        bins = np.asarray(image).reshape(-1, 3).astype(int) // 32
        hist = np.zeros(512)
        np.add.at(hist, bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2], 1)
        expected = np.sqrt(hist / hist.sum())
        np.testing.assert_allclose(row, expected / np.linalg.norm(expected), atol=1e-5)


def test_registry_names_and_errors(tmp_path: Path) -> None:
    assert MODEL_NAMES == ("lite0", "lite1", "lite2", "histogram")
    with pytest.raises(ConfigError, match="lite0"):
        get_embedder("nope")
    with pytest.raises(ConfigError):
        get_embedder("lite0", device="tpu")
    with pytest.raises(ConfigError):
        get_embedder(str(tmp_path / "missing.onnx"))
    assert get_embedder("histogram") is get_embedder("histogram")
    assert model_key("histogram") == "histogram"
    assert model_key("lite0") == "lite0"


def test_registry_lite0_cpu(lite0_onnx: Path) -> None:
    embedder = get_embedder("lite0", device="cpu")
    assert embedder is get_embedder("lite0", device="cpu")  # loaded once
    assert embedder.dim == 1280 and embedder.input_size == 224


def test_user_onnx_file(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, 3, stride=2)
            self.pool = torch.nn.AdaptiveAvgPool2d(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(torch.relu(self.conv(x)))  # (B, 16, 1, 1)

    path = tmp_path / "tiny.onnx"
    torch.onnx.export(
        Tiny().eval(),
        (torch.zeros(1, 3, 96, 96),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "b"}, "y": {0: "b"}},
    )
    embedder = get_embedder(str(path), device="cpu")
    assert (embedder.dim, embedder.input_size) == (16, 96)
    out = embedder.embed(np.random.default_rng(0).standard_normal((3, 3, 96, 96), np.float32))
    assert out.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    key = model_key(str(path))
    assert key.startswith("onnx-") and len(key) == 17
    with pytest.raises(EmbedError, match="96x96"):
        OnnxEmbedder(path, name="tiny", input_size=224)


def test_bad_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(EmbedError):
        get_embedder(str(path), device="cpu")


def test_import_is_light() -> None:
    code = (
        "import sys, lookalike.embed; "
        "heavy = {'torch', 'onnxruntime', 'rich'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
