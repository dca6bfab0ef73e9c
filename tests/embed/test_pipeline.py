"""embed_images: order, per-item errors, all-bad batches, empty input, lazy sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lookalike.embed.pipeline import embed_images, embed_one
from lookalike.embed.runners import ColorHistogramEmbedder, OnnxEmbedder
from lookalike.errors import FetchError, ImageError

from .conftest import clothing_photos, image_bytes

RED = image_bytes("PNG", size=(300, 200), color=(220, 20, 20))
BLUE = image_bytes("PNG", size=(200, 300), color=(20, 20, 220))
HTML = b"<html><body>Not found</body></html>"
TRUNCATED = image_bytes("JPEG", size=(300, 300))[:300]


def _missing_file() -> bytes:
    return Path("/nonexistent/lookalike/image.jpg").read_bytes()


def _fetch_failure() -> bytes:
    raise FetchError("HTTP 404", reason="http_status", status=404)


def test_mixed_good_and_bad_keeps_order() -> None:
    embedder = ColorHistogramEmbedder()
    datas: list[bytes | Callable[[], bytes]] = [
        RED,
        HTML,
        BLUE,
        b"",
        lambda: RED,
        TRUNCATED,
        _missing_file,
        _fetch_failure,
        BLUE,
    ]
    result = embed_images(datas, embedder, batch_size=3, workers=2, progress=False)
    assert result.ok == [0, 2, 4, 8]
    assert sorted(result.errors) == [1, 3, 5, 6, 7]
    assert result.errors[1].startswith("not_an_image:")
    assert result.errors[5].startswith("truncated:")
    assert result.errors[6].startswith("read_error:")
    assert result.errors[7].startswith("http_status:")
    assert result.vectors.shape == (4, 512) and result.vectors.dtype == np.float32
    expected = np.stack([embed_one(d, embedder) for d in (RED, BLUE, RED, BLUE)])
    np.testing.assert_allclose(result.vectors, expected, atol=1e-6)


def test_all_bad_batch_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[str, int, int]] = []
    result = embed_images(
        [HTML, b"", RED, BLUE],
        ColorHistogramEmbedder(),
        batch_size=2,
        progress=lambda task, n, total, note="": seen.append((task, n, total)),
    )
    assert result.ok == [2, 3]
    assert sorted(result.errors) == [0, 1]
    assert result.vectors.shape == (2, 512)
    # started, then one report per batch, bad images included; nothing printed by the library
    assert seen == [("embedding", 0, 4), ("embedding", 2, 4), ("embedding", 2, 4)]
    assert capsys.readouterr() == ("", "")


def test_everything_bad() -> None:
    result = embed_images([HTML] * 5, ColorHistogramEmbedder(), batch_size=2, progress=False)
    assert result.ok == [] and len(result.errors) == 5
    assert result.vectors.shape == (0, 512)


def test_empty_input() -> None:
    result = embed_images([], ColorHistogramEmbedder(), progress=False)
    assert result.vectors.shape == (0, 512) and result.ok == [] and result.errors == {}


def test_embed_one_raises_for_bad_image() -> None:
    with pytest.raises(ImageError):
        embed_one(HTML, ColorHistogramEmbedder())


def test_real_model_on_photos(lite0_onnx: Path) -> None:
    photos = [p for ps in clothing_photos(2, 3).values() for p in ps]
    embedder = OnnxEmbedder(lite0_onnx, name="lite0")
    datas: list[bytes | Callable[[], bytes]] = [p.read_bytes for p in photos]
    datas.insert(1, HTML)
    result = embed_images(datas, embedder, batch_size=4, progress=False)
    assert list(result.errors) == [1]
    assert result.vectors.shape == (len(photos), 1280)
    np.testing.assert_allclose(
        result.vectors[0], embed_one(photos[0].read_bytes(), embedder), atol=1e-5
    )
