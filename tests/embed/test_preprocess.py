"""preprocess: geometry (shorter side, centre crop), dtype, value mapping."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.embed.preprocess import crop_box, preprocess, preprocess_batch, resize_for_input


def test_shape_dtype_range() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    out = preprocess(Image.fromarray(noise))
    assert out.shape == (3, 224, 224)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous
    assert out.min() >= (0 - 127) / 128 and out.max() <= (255 - 127) / 128


def test_value_mapping() -> None:
    out = preprocess(Image.new("RGB", (300, 300), (127, 255, 0)))
    np.testing.assert_allclose(out[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[2], -127 / 128, atol=1e-6)


def test_shorter_side_math_on_400x533() -> None:
    # 400x533 -> shorter side 256 -> 256x341 (533 * 256 / 400 = 341.12), centre crop 224:
    # left = round((256 - 224) / 2) = 16, top = round((341 - 224) / 2) = 58 (58.5, banker's).
    box = crop_box(400, 533, resize=256, crop=224)
    sx, sy = 400 / 256, 533 / 341
    np.testing.assert_allclose(box, (16 * sx, 58 * sy, 240 * sx, 282 * sy))


def test_matches_resize_then_crop() -> None:
    rng = np.random.default_rng(1)
    # Smooth content, so only geometry matters and not the filter's edge handling.
    small = rng.integers(0, 256, (12, 9, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((400, 533), Image.Resampling.BILINEAR)
    reference = image.resize((256, 341), Image.Resampling.BICUBIC).crop((16, 58, 240, 282))
    expected = (np.asarray(reference, dtype=np.float32).transpose(2, 0, 1) - 127) / 128
    np.testing.assert_allclose(preprocess(image), expected, atol=6 / 128)


def test_crop_is_centred() -> None:
    # A wide image: red left quarter, green middle, blue right quarter; the crop sees green.
    array = np.zeros((100, 400, 3), dtype=np.uint8)
    array[:, :100] = (255, 0, 0)
    array[:, 100:300] = (0, 255, 0)
    array[:, 300:] = (0, 0, 255)
    out = preprocess(Image.fromarray(array), resize=100, crop=90)
    np.testing.assert_allclose(out[1], 1.0, atol=1e-6)


def test_non_rgb_and_small_images() -> None:
    out = preprocess(Image.new("L", (10, 20), 127))
    assert out.shape == (3, 224, 224)
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


def test_other_sizes() -> None:
    assert resize_for_input(224) == 256
    assert resize_for_input(240) == 274
    assert resize_for_input(260) == 297
    out = preprocess(Image.new("RGB", (500, 300)), resize=274, crop=240)
    assert out.shape == (3, 240, 240)
    with pytest.raises(ValueError):
        preprocess(Image.new("RGB", (50, 50)), resize=200, crop=224)


def test_batch() -> None:
    images = [Image.new("RGB", (300, 200), (i * 40, 0, 0)) for i in range(3)]
    batch = preprocess_batch(images)
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], preprocess(images[1]))
    assert preprocess_batch([]).shape == (0, 3, 224, 224)


def test_fills_a_given_row_of_a_batch() -> None:
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (533, 400, 3), np.uint8))
    batch = np.full((2, 3, 224, 224), 9.0, np.float32)
    filled = preprocess(image, out=batch[1])
    assert np.shares_memory(filled, batch)
    np.testing.assert_array_equal(batch[1], preprocess(image))
    assert (batch[0] == 9.0).all()
    with pytest.raises(ValueError, match="out must be float32"):
        preprocess(image, out=np.empty((3, 224, 224), np.float64))
